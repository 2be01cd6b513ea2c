#!/usr/bin/env python3
"""bench/list.py - ListObjectsV2 latency on a large bucket, through HTTP.

Fills a bucket of a fresh gzy (release build, temporary data folder, free port) with
--objects tiny objects using `gzy bench put`-style preparation (`gzy bench list --objects N`
uploads obj-00000000.. first), then measures pages of 1000 keys starting at random keys
(list-type=2, max-keys=1000, start-after=<random key>) with --concurrency clients for
--duration, and prints p50/p90/p99/p999 from `gzy bench --json`. Issue 7's target: p99 <= 20 ms
for a 1,000,000-object bucket.

    python3 bench/list.py [--objects 1000000] [--concurrency 4] [--duration 20s]
"""
import argparse, json, os, platform, re, shutil, signal, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def start_gzy(binary, data):
    env = dict(os.environ, GZY_ROOT_ACCESS_KEY="benchkey", GZY_ROOT_SECRET_KEY="benchsecret0")
    proc = subprocess.Popen([binary, "serve", "--data", data, "--listen", "127.0.0.1:0",
                             "--admin-listen", "off", "--log-level", "warn"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        m = re.search(r"S3 endpoint: http://127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    raise RuntimeError("gzy did not start")


def bench(binary, port, *args):
    cmd = [binary, "bench", *args, "--endpoint", f"http://127.0.0.1:{port}", "--access-key",
           "benchkey", "--secret-key", "benchsecret0", "--bucket", "big", "--prefix", "k/",
           "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--duration", default="20s")
    ap.add_argument("--gzy", default=os.path.join(ROOT, "build", "gzy"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gzy-bench-list-")
    proc = None
    try:
        proc, port = start_gzy(args.gzy, os.path.join(tmp, "data"))
        t0 = time.time()
        # Preparation: --objects objects of 1 byte; the list run itself is 1s and discarded.
        bench(args.gzy, port, "list", "--objects", str(args.objects), "--size", "1B",
              "--concurrency", "64", "--duration", "1s")
        fill_s = time.time() - t0
        print(f"filled {args.objects} objects in {fill_s:.0f}s", file=sys.stderr)
        r = bench(args.gzy, port, "list", "--no-prepare", "--objects", str(args.objects),
                  "--concurrency", str(args.concurrency), "--duration", args.duration)
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)
    machine = f"{platform.node()} {os.cpu_count()} cores, {platform.platform()}"
    print(json.dumps(r, indent=1))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = os.path.join(HERE, "results", f"list-{stamp}.json")
    with open(out, "w") as f:
        json.dump({"machine": machine, "objects": args.objects,
                   "concurrency": args.concurrency, "duration": args.duration,
                   "fill_seconds": fill_s, "result": r}, f, indent=1)
    print(f"stored {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
