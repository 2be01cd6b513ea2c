#!/usr/bin/env python3
"""bench/migrate_scale.py - `gzy migrate copy` over many tiny objects: peak memory and the
time of a second, unchanged pass (issue 4: "a bucket of 10 million keys migrates with flat
memory"; "a pass over an unchanged source of 100,000 objects copies nothing and finishes
fast").

Starts one gzy server (free ports, temporary data folder; a second one as the destination
with --two-servers), fills a source bucket with
--objects objects of --size bytes with `gzy bench put` (distinct keys), then per round and per
binary (--gzy, and --baseline when given, interleaved, order alternating between rounds):

    gzy migrate copy --concurrency C SRC -> a fresh bucket (created by the copy), journal kept
    the same command again: the unchanged source, nothing to copy

Measures for each pass the copy process's peak resident set (VmHWM polled from /proc every
20 ms: ru_maxrss would carry this script's own high-water mark across exec) and its wall
time, and stores everything in bench/results/migrate-scale-<stamp>.json.

    python3 bench/migrate_scale.py [--objects 100000] [--size 16] [--concurrency 16]
                                   [--gzy build/gzy] [--baseline OLD_BIN] [--rounds 1]
"""
import argparse, json, os, platform, re, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
AK, SK = "scalebenchkey", "scalebenchsecret0"


def log(msg):
    print("[migrate-scale %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr,
          flush=True)


def start_gzy(tmp, binary, name="data"):
    env = dict(os.environ, GZY_ROOT_ACCESS_KEY=AK, GZY_ROOT_SECRET_KEY=SK)
    proc = subprocess.Popen([binary, "serve", "--data", os.path.join(tmp, name), "--listen",
                             "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--threads", "2",
                             "--log-level", "warn"], env=env, stdout=subprocess.PIPE,
                            stderr=open(os.path.join(tmp, name + ".err"), "wb"), text=True)
    for line in proc.stdout:
        m = re.search(r"S3 endpoint: (http://127\.0\.0\.1:\d+)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise RuntimeError("gzy did not start; see %s/gzy.err" % tmp)


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def run_pass(cmd):
    """(wall seconds, peak RSS KiB, report) of one `gzy migrate copy`."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        peak = 0
        while True:
            peak = max(peak, vm_hwm_kib(proc.pid) or 0)
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        proc.returncode = rc
        out.seek(0)
        lines = [json.loads(l) for l in out.read().decode().splitlines() if l.startswith("{")]
        rep = lines[-1] if lines and lines[-1].get("event") == "report" else {}
        if rc != 0:
            err.seek(0)
            raise RuntimeError("copy failed (%d): %s" % (rc, err.read().decode()[-2000:]))
    return wall, peak, rep


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", type=int, default=100000)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--gzy", default=os.path.join(ROOT, "build", "gzy"))
    ap.add_argument("--baseline", default=None, help="another gzy binary, run interleaved")
    ap.add_argument("--two-servers", action="store_true",
                    help="copy into a second gzy server (default: another bucket of the same"
                    " one, whose GETs and PUTs then share its two threads and its index)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    bins = {"gzy": os.path.abspath(args.gzy)}
    if args.baseline:
        bins["baseline"] = os.path.abspath(args.baseline)
    tmp = tempfile.mkdtemp(prefix="gzy-migscale-")
    srv = srv2 = None
    results = {"args": vars(args), "host": platform.node(), "rows": []}
    try:
        srv, ep = start_gzy(tmp, bins["gzy"])
        dep = ep
        if args.two_servers:
            srv2, dep = start_gzy(tmp, bins["gzy"], "dest")
        log("filling %d x %d B" % (args.objects, args.size))
        t0 = time.perf_counter()
        subprocess.run([bins["gzy"], "bench", "put", "--endpoint", ep, "--access-key", AK,
                        "--secret-key", SK, "--bucket", "scale-src", "--size", str(args.size),
                        "--count", str(args.objects), "--concurrency", "16", "--json"],
                       check=True, capture_output=True)
        results["fill_s"] = round(time.perf_counter() - t0, 2)
        n = 0
        for rnd in range(args.rounds):
            order = list(bins.items())
            if rnd % 2:
                order.reverse()
            for name, binary in order:
                n += 1
                dst, journal = "scale-dst-%d" % n, os.path.join(tmp, "journal-%d" % n)
                cmd = [binary, "migrate", "copy", "--source-endpoint", ep, "--source-bucket",
                       "scale-src", "--source-access-key", AK, "--source-secret-key", SK,
                       "--dest-endpoint", dep, "--dest-bucket", dst, "--dest-access-key", AK,
                       "--dest-secret-key", SK, "--concurrency", str(args.concurrency),
                       "--journal", journal]
                if name == "baseline":  # an older binary may not create the bucket itself
                    import boto3  # noqa: E402 (only then)
                    boto3.client("s3", endpoint_url=dep, aws_access_key_id=AK,
                                 aws_secret_access_key=SK,
                                 region_name="us-east-1").create_bucket(Bucket=dst)
                for pass_no in (1, 2):
                    wall, peak, rep = run_pass(cmd)
                    row = {"round": rnd, "binary": name, "pass": pass_no,
                           "seconds": round(wall, 2), "peak_rss_kib": peak,
                           "copied": rep.get("copied", {}).get("objects"),
                           "skipped": rep.get("skipped", {}).get("objects"),
                           "objects_per_s": round(args.objects / wall, 1)}
                    results["rows"].append(row)
                    log("round %d %-8s pass %d: %6.2f s, peak RSS %6.1f MiB, copied %s, "
                        "skipped %s" % (rnd, name, pass_no, wall, peak / 1024, row["copied"],
                                        row["skipped"]))
    finally:
        for p in (srv, srv2):
            if p:
                p.terminate()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "migrate-scale-%s.json" % time.strftime("%Y%m%dT%H%M%SZ",
                                                                           time.gmtime()))
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    log("results in %s" % path)


if __name__ == "__main__":
    main()
