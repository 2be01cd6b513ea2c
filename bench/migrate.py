#!/usr/bin/env python3
"""bench/migrate.py - migration from Ceph radosgw into gzy: `gzy migrate copy` against
`rclone copy --checksum`, same source, same destination server, same run (issue 7).

Starts a single-node Ceph cluster with radosgw on bluestore (../shared/peers/ceph.sh through
tests/integration/cephpeer.py, free ports, temporary folder) and a gzy server (free port,
temporary data folder), fills one source bucket with --small-count objects of --small-size
bytes and one with --large-count objects of --large-size bytes (multipart uploads of 8 MiB
parts, so their radosgw ETags are "<md5>-N"), then per round copies each source bucket into a
fresh gzy bucket with each tool (the order alternates between rounds):

    gzy migrate copy --concurrency C ...                   (temporary journal)
    rclone copy --checksum --transfers C --checkers C \\
        --s3-chunk-size 8M --s3-upload-concurrency 4 src:bucket dst:bucket

rclone remotes: provider Ceph for radosgw, provider Other for gzy (both path-style, v4
signatures). Each copy is verified afterwards by listing the destination (every key, every
size) and reading back a sample of objects (--sample small ones, --large-sample large ones)
whose MD5 must equal the MD5 of the bytes uploaded to radosgw. Prints the medians over
--rounds (objects/s and MB/s, wall time of the whole copy including listings) with the ratio
gzy/rclone, and stores everything in bench/results/migrate-<stamp>.json.

    python3 bench/migrate.py [--rounds 3] [--concurrency 16] [--gzy build/gzy]
                             [--small-count 10000] [--large-count 8] [--large-size 256]
                             [--baseline OLD_GZY]   (its `migrate copy` in the same rounds)
"""
import argparse, concurrent.futures, hashlib, json, os, platform, random, re, resource
import shutil
import statistics, subprocess, sys, tempfile, time

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from cephpeer import CephPeer, CephUnavailable  # noqa: E402

MiB = 1024 * 1024
GZY_AK, GZY_SK = "benchkey", "benchsecret0"
REGION = "us-east-1"


def log(msg):
    print("[migrate-bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr,
          flush=True)


def s3_client(endpoint, ak, sk, pool=64):
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ak, aws_secret_access_key=sk,
        region_name=REGION, config=Config(s3={"addressing_style": "path"},
                                          max_pool_connections=pool,
                                          retries={"max_attempts": 5, "mode": "standard"}))


def start_gzy(tmp, binary, threads):
    env = dict(os.environ, GZY_ROOT_ACCESS_KEY=GZY_AK, GZY_ROOT_SECRET_KEY=GZY_SK)
    proc = subprocess.Popen([binary, "serve", "--data", os.path.join(tmp, "gzy-data"),
                             "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                             "--threads", str(threads), "--log-level", "warn"], env=env,
                            stdout=subprocess.PIPE,
                            stderr=open(os.path.join(tmp, "gzy.err"), "wb"), text=True)
    s3 = admin = None
    for line in proc.stdout:
        m = re.search(r"(S3 endpoint|Admin API): (http://127\.0\.0\.1:\d+)", line)
        if m and m.group(1) == "S3 endpoint":
            s3 = m.group(2)
        elif m:
            admin = m.group(2)
        if s3 and admin:
            return proc, s3, admin
    proc.kill()
    raise RuntimeError("gzy did not start; see %s/gzy.err" % tmp)


def proc_cpu(pid):
    """CPU seconds (user + system) used so far by a process, or 0 when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class CpuMeter:
    """CPU seconds each server process and the copying tool (a child of this script) spend
    during one copy: where the two cores go."""

    def __init__(self, pids):
        self.pids = pids  # name -> pid

    def __enter__(self):
        self.t0 = {n: proc_cpu(p) for n, p in self.pids.items()}
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.c0 = ru.ru_utime + ru.ru_stime
        return self

    def __exit__(self, *exc):
        self.cpu = {n: round(proc_cpu(p) - self.t0[n], 2) for n, p in self.pids.items()}
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu["client"] = round(ru.ru_utime + ru.ru_stime - self.c0, 2)


def stop_proc(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------- source data --

def fill_small(s3, bucket, count, size, workers=32):
    s3.create_bucket(Bucket=bucket)
    want = {}

    def put(i):
        body = os.urandom(size)
        key = "small/%03d/%06d" % (i % 100, i)
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-bench")
        return key, (size, hashlib.md5(body).hexdigest())
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        want.update(ex.map(put, range(count)))
    return want


def fill_large(s3, bucket, count, size, part=8 * MiB):
    s3.create_bucket(Bucket=bucket)
    want = {}

    def put_one(i):
        key = "large/%02d.bin" % i
        up = s3.create_multipart_upload(Bucket=bucket, Key=key)
        md5, parts, off, n = hashlib.md5(), [], 0, 1
        while off < size:
            data = os.urandom(min(part, size - off))
            md5.update(data)
            r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n,
                               Body=data)
            parts.append({"PartNumber": n, "ETag": r["ETag"]})
            off += len(data)
            n += 1
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": parts})
        return key, (size, md5.hexdigest())
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        want.update(ex.map(put_one, range(count)))
    return want


# --------------------------------------------------------------------------------- tools --

def perf_cmd(args, out):
    """`perf record` of what follows (or of -p PID), for --perf: cpu-clock samples with frame
    pointer call chains (hardware counters are not available here)."""
    return ["perf", "record", "-q", "-e", "cpu-clock", "-g", "-o", out]


def run_gzy(args, src, dst, bucket_src, bucket_dst, tmp, perf_out=None, binary=None):
    cmd = ([] if not perf_out else perf_cmd(args, perf_out) + ["--"]) + [
           binary or args.gzy, "migrate", "copy", "--source-endpoint", src.endpoint,
           "--source-bucket", bucket_src, "--source-access-key", src.access_key,
           "--source-secret-key", src.secret_key, "--source-provider", "generic",
           "--dest-endpoint", dst, "--dest-bucket", bucket_dst, "--dest-access-key", GZY_AK,
           "--dest-secret-key", GZY_SK, "--concurrency", str(args.concurrency),
           "--journal", os.path.join(tmp, "journal-%s" % bucket_dst)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    rep = lines[-1] if lines and lines[-1].get("event") == "report" else {}
    if p.returncode != 0:
        raise RuntimeError("gzy migrate copy failed (%d): %s %s"
                           % (p.returncode, p.stderr[-2000:], json.dumps(rep)[:2000]))
    return wall, {"copied": rep.get("copied"), "verified": rep.get("verified"),
                  "verified_by": rep.get("verified_by"), "retries": rep.get("retries"),
                  "elapsed_ms": rep.get("elapsed_ms")}


class Admin:
    """SigV4-signed JSON calls to gzy's admin API (tests/integration/harness.py signs)."""

    def __init__(self, endpoint):
        import harness  # noqa: E402 (tests/integration, on sys.path)
        self.h = harness
        self.endpoint = endpoint

    def call(self, method, path, body=None):
        import http.client, urllib.parse
        u = urllib.parse.urlsplit(self.endpoint)
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Host": u.netloc}
        if data or method == "POST":
            headers.update({"Content-Length": str(len(data)),
                            "Content-Type": "application/json"})
        self.h.sigv4_sign(method, path, [], headers, hashlib.sha256(data).hexdigest(),
                          GZY_AK, GZY_SK)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        try:
            c.request(method, path, body=data or None, headers=headers)
            r = c.getresponse()
            raw = r.read()
            return r.status, (json.loads(raw) if raw.startswith(b"{") else raw)
        finally:
            c.close()


def run_job(args, admin, tenant, src, bucket_src, bucket_dst, perf_pid=None, perf_out=None):
    """A migration job inside gzy serve (written through the store, no HTTP PUT): from the
    POST until the job reports completed (with perf_out, gzy serve is profiled meanwhile)."""
    prof = None
    if perf_out:
        prof = subprocess.Popen(perf_cmd(args, perf_out) + ["-p", str(perf_pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    body = {"tenant": tenant, "name": "bench", "dest_bucket": bucket_dst,
            "concurrency": args.concurrency,
            "source": {"provider": "generic", "endpoint": src.endpoint, "bucket": bucket_src,
                       "access_key": src.access_key, "secret_key": src.secret_key}}
    t0 = time.perf_counter()
    st, j = admin.call("POST", "/admin/v1/migrations", body)
    if st != 201:
        raise RuntimeError("creating the job: %s %s" % (st, j))
    while True:
        st, j = admin.call("GET", "/admin/v1/migrations/" + j["id"])
        if j["state"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    if prof:
        prof.send_signal(2)
        prof.wait()
    if j["state"] != "completed":
        raise RuntimeError("job %s: %s" % (j["state"], j.get("error")))
    stt = j["stats"]
    return wall, {"copied": stt["copied"], "verified": stt["verified"],
                  "verified_by": {k: stt[k] for k in ("verified_md5", "verified_sha256",
                                                      "verified_mpu", "verified_crc64")},
                  "elapsed_ms": stt["elapsed_ms"]}


def rclone_env(src, dst, tmp):
    env = dict(os.environ, RCLONE_CONFIG=os.path.join(tmp, "rclone.conf"))
    env.pop("AWS_CA_BUNDLE", None)  # rclone's S3 SDK refuses its own transport with one set
    open(env["RCLONE_CONFIG"], "w").close()
    for name, kv in (("SRC", dict(provider="Ceph", endpoint=src.endpoint,
                                  access_key_id=src.access_key,
                                  secret_access_key=src.secret_key)),
                     ("DST", dict(provider="Other", endpoint=dst, access_key_id=GZY_AK,
                                  secret_access_key=GZY_SK, region=REGION))):
        env["RCLONE_CONFIG_%s_TYPE" % name] = "s3"
        env["RCLONE_CONFIG_%s_FORCE_PATH_STYLE" % name] = "true"
        for k, v in kv.items():
            env["RCLONE_CONFIG_%s_%s" % (name, k.upper())] = v
    return env


def rclone_cmd(args, bucket_src, bucket_dst):
    c = str(args.concurrency)
    return ["rclone", "copy", "--checksum", "--transfers", c, "--checkers", c,
            "--s3-chunk-size", "8M", "--s3-upload-concurrency", "4",
            "--retries", "1", "--low-level-retries", "5", "--stats", "0",
            "src:" + bucket_src, "dst:" + bucket_dst]


def run_rclone(args, env, bucket_src, bucket_dst):
    t0 = time.perf_counter()
    p = subprocess.run(rclone_cmd(args, bucket_src, bucket_dst), capture_output=True, text=True,
                       env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError("rclone copy failed (%d): %s" % (p.returncode, p.stderr[-3000:]))
    return wall, {}


def ceiling(args, op, endpoint, ak, sk, pids):
    """`gzy bench OP` of --small-size objects at --concurrency against one server alone: the
    rate at which it serves the one request a small-object migration needs from it."""
    cmd = [args.gzy, "bench", op, "--endpoint", endpoint, "--access-key", ak, "--secret-key",
           sk, "--bucket", "bench-ceiling-%s" % op, "--size", str(args.small_size),
           "--concurrency", str(args.concurrency), "--duration", "%ds" % args.ceiling_s,
           "--objects", "1000", "--json"]
    with CpuMeter(pids) as meter:
        p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return {"error": p.stderr[-500:]}
    rep = json.loads(p.stdout)
    return {"ops_per_s": rep["total"]["ops_per_s"], "errors": rep["total"]["errors"],
            "seconds": rep["seconds"], "cpu_s": meter.cpu}


# ---------------------------------------------------------------------------- verification --

def verify(s3, bucket, want, sample, large):
    """Every key with its size, and the MD5 of a sample read back. Returns a summary."""
    got = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            got[o["Key"]] = o["Size"]
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    wrong_size = sorted(k for k in want if k in got and got[k] != want[k][0])
    keys = sorted(want)
    picked = random.Random(len(keys)).sample(keys, min(sample, len(keys)))

    def md5_of(key):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        h = hashlib.md5()
        for chunk in iter(lambda: body.read(4 * MiB), b""):
            h.update(chunk)
        return key, h.hexdigest() == want[key][1]
    with concurrent.futures.ThreadPoolExecutor(2 if large else 16) as ex:
        bad_hash = sorted(k for k, ok in ex.map(md5_of, picked) if not ok)
    ok = not (missing or extra or wrong_size or bad_hash)
    return {"ok": ok, "objects": len(got), "missing": missing[:20], "extra": extra[:20],
            "wrong_size": wrong_size[:20], "hash_sample": len(picked), "bad_hash": bad_hash}


def empty_bucket(s3, bucket):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [{"Key": o["Key"]} for o in page.get("Contents", [])]
    for i in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[i:i + 1000], "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


# ------------------------------------------------------------------------------------ main --

def median(xs):
    return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16,
                    help="gzy --concurrency; rclone --transfers and --checkers")
    ap.add_argument("--gzy", default=os.path.join(ROOT, "build", "gzy"))
    ap.add_argument("--threads", type=int, default=2, help="gzy serve --threads")
    ap.add_argument("--small-count", type=int, default=10000)
    ap.add_argument("--small-size", type=int, default=4096)
    ap.add_argument("--large-count", type=int, default=8)
    ap.add_argument("--large-size", type=int, default=256, help="MiB")
    ap.add_argument("--sample", type=int, default=200, help="small objects hashed back")
    ap.add_argument("--large-sample", type=int, default=2, help="large objects hashed back")
    ap.add_argument("--only", choices=("small", "large"), default=None)
    ap.add_argument("--no-job", action="store_true",
                    help="skip the server-side job (POST /admin/v1/migrations) rows")
    ap.add_argument("--ceiling-s", type=int, default=8,
                    help="seconds of radosgw GET and gzy PUT alone per round (0: skip)")
    ap.add_argument("--baseline", default=None, metavar="BIN",
                    help="another gzy binary (e.g. before a change): its `migrate copy` runs in "
                    "the same rounds against the same servers (tool 'base')")
    ap.add_argument("--tmp", default=None, help="folder for the cluster and gzy data")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--perf", default=None, metavar="DIR",
                    help="profile round 0 (perf record -g): the `gzy migrate copy` process and "
                    "gzy serve during the job, into DIR/{copy,job}-SET.data")
    args = ap.parse_args()
    args.gzy = os.path.abspath(args.gzy)
    args.tools = ("gzy", "rclone") if args.no_job else ("gzy", "rclone", "job")
    if args.baseline:
        args.baseline = os.path.abspath(args.baseline)
        args.tools += ("base",)
    if not shutil.which("rclone"):
        sys.exit("bench: rclone is not installed (bash scripts/deps.sh)")
    large_bytes = args.large_size * MiB
    store = max(8, (args.large_count * large_bytes * 2 + args.small_count * 65536) // 2**30 + 4)

    tmp = tempfile.mkdtemp(prefix="gzy-migbench-", dir=args.tmp)
    peer, gzy = None, None
    results = {"rows": {}, "rounds": []}
    try:
        log("starting radosgw (bluestore, %dG) and gzy" % store)
        peer = CephPeer(objectstore="bluestore", store_size="%dG" % store, tmp_root=tmp)
        try:
            peer.start()
        except CephUnavailable as e:
            sys.exit("bench: Ceph radosgw could not start: %s" % e)
        log("radosgw up in %.1f s at %s" % (peer.start_seconds, peer.endpoint))
        gzy, gzy_ep, admin_ep = start_gzy(tmp, args.gzy, args.threads)
        admin = Admin(admin_ep)
        if "job" in args.tools:
            tenant = "bench-%d" % os.getpid()
            import tenancy  # noqa: E402 (tests/integration: a valid USCC for the tenant)
            r = admin.call("POST", "/admin/v1/tenants", {"name": tenant,
                                                         "uscc": tenancy.make_uscc()})
            if r[0] not in (200, 201):
                raise RuntimeError("creating tenant %s: %s" % (tenant, r))
        src = s3_client(peer.endpoint, peer.access_key, peer.secret_key)
        dst = s3_client(gzy_ep, GZY_AK, GZY_SK)
        env = rclone_env(peer, gzy_ep, tmp)

        pids = {"gzy": gzy.pid}
        for name in ("rgw.a", "osd.0", "mon.a"):
            with open(os.path.join(peer.ceph_dir, "pids", name + ".pid")) as f:
                pids[name.split(".")[0] if name != "rgw.a" else "radosgw"] = int(f.read())
        sets = {}
        if args.only in (None, "small"):
            t0 = time.time()
            sets["small"] = ("bench-small", fill_small(src, "bench-small", args.small_count,
                                                       args.small_size))
            log("source: %d x %d B in %.1f s" % (args.small_count, args.small_size,
                                                 time.time() - t0))
        if args.only in (None, "large"):
            t0 = time.time()
            sets["large"] = ("bench-large", fill_large(src, "bench-large", args.large_count,
                                                       large_bytes))
            log("source: %d x %d MiB in %.1f s" % (args.large_count, args.large_size,
                                                   time.time() - t0))

        for r in range(args.rounds):
            if args.ceiling_s > 0 and "small" in sets:
                c = {"round": r,
                     "radosgw_get": ceiling(args, "get", peer.endpoint, peer.access_key,
                                            peer.secret_key, pids),
                     "gzy_put": ceiling(args, "put", gzy_ep, GZY_AK, GZY_SK, pids)}
                results.setdefault("ceilings", []).append(c)
                log("round %d alone: radosgw GET %s/s, gzy PUT %s/s (%d B, %d connections)"
                    % (r, round(c["radosgw_get"].get("ops_per_s", 0)),
                       round(c["gzy_put"].get("ops_per_s", 0)), args.small_size,
                       args.concurrency))
            order = args.tools if r % 2 == 0 else args.tools[::-1]
            for name, (sbucket, want) in sets.items():
                nbytes = sum(v[0] for v in want.values())
                for tool in order:
                    dbucket = "%s-%s-r%d" % (tool, name, r)
                    if tool != "job":
                        dst.create_bucket(Bucket=dbucket)
                    pout = None
                    if args.perf and r == 0 and tool in ("gzy", "job"):
                        os.makedirs(args.perf, exist_ok=True)
                        pout = os.path.join(args.perf, "%s-%s.data"
                                            % ("copy" if tool == "gzy" else "job", name))
                    with CpuMeter(pids) as meter:
                        if tool == "job":
                            wall, extra = run_job(args, admin, tenant, peer, sbucket, dbucket,
                                                  gzy.pid, pout)
                        elif tool in ("gzy", "base"):
                            wall, extra = run_gzy(args, peer, gzy_ep, sbucket, dbucket, tmp,
                                                  pout, args.baseline if tool == "base" else None)
                        else:
                            wall, extra = run_rclone(args, env, sbucket, dbucket)
                    v = verify(dst, dbucket, want,
                               args.large_sample if name == "large" else args.sample,
                               name == "large")
                    row = {"round": r, "set": name, "tool": tool, "seconds": wall,
                           "objects": len(want), "bytes": nbytes,
                           "objects_per_s": len(want) / wall, "mb_per_s": nbytes / wall / 1e6,
                           "cpu_s": meter.cpu, "verify": v, **extra}
                    results["rounds"].append(row)
                    log("round %d %-5s %-6s %7.2f s  %8.1f obj/s  %7.1f MB/s  verified=%s  "
                        "cpu s %s" % (r, name, tool, wall, row["objects_per_s"],
                                      row["mb_per_s"], v["ok"], meter.cpu))
                    if not v["ok"]:
                        raise RuntimeError("%s copy of %s did not verify: %s" % (tool, name, v))
                    empty_bucket(dst, dbucket)
    finally:
        stop_proc(gzy)
        if peer:
            peer.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    table = []
    names = {"gzy": "gzy migrate copy", "rclone": "rclone copy --checksum",
             "job": "gzy job (in serve)", "base": "gzy migrate copy (--baseline)"}
    for name in ("small", "large"):
        per = {t: [x for x in results["rounds"] if x["set"] == name and x["tool"] == t]
               for t in args.tools}
        if not per["gzy"]:
            continue
        m = {t: {"objects_per_s": median([x["objects_per_s"] for x in v]),
                 "mb_per_s": median([x["mb_per_s"] for x in v]),
                 "seconds": median([x["seconds"] for x in v]),
                 "cpu_s": {k: median([x["cpu_s"][k] for x in v]) for k in v[0]["cpu_s"]}}
             for t, v in per.items()}
        metric = "objects_per_s" if name == "small" else "mb_per_s"
        target = 2.0 if name == "small" else 1.0
        ratio = m["gzy"][metric] / m["rclone"][metric]
        results["rows"][name] = {"median": m, "metric": metric, "ratio": ratio,
                                 "target": target, "met": ratio >= target}
        if "job" in m:
            results["rows"][name]["ratio_job"] = m["job"][metric] / m["rclone"][metric]
        table.append((name, m, metric, ratio, target))

    machine = "%s %d cores, %s, load %s" % (platform.node(), os.cpu_count(),
                                           platform.platform(),
                                           " ".join("%.1f" % x for x in os.getloadavg()))
    rcv = subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout
    results.update(machine=machine, rounds=args.rounds, concurrency=args.concurrency,
                   gzy=args.gzy, rclone=rcv.splitlines()[0] if rcv else None,
                   rclone_cmd=" ".join(rclone_cmd(args, "SRC", "DST")),
                   small=[args.small_count, args.small_size],
                   large=[args.large_count, large_bytes])
    print("\nmachine: %s\nradosgw (bluestore) -> gzy, concurrency %d, medians of %d rounds\n"
          % (machine, args.concurrency, args.rounds))
    print("| workload | tool | seconds | objects/s | MB/s | / rclone | CPU s: client, "
          "gzy serve, radosgw+osd |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, m, metric, ratio, target in table:
        label = ("%d x %d B" % tuple(results["small"]) if name == "small"
                 else "%d x %d MiB" % (args.large_count, args.large_size))
        for t in args.tools:
            c = m[t]["cpu_s"]
            print("| %s | %s | %.2f | %.0f | %.1f | %.2fx | %.1f, %.1f, %.1f |"
                  % (label, names[t], m[t]["seconds"], m[t]["objects_per_s"], m[t]["mb_per_s"],
                     m[t][metric] / m["rclone"][metric], c["client"], c["gzy"],
                     c["radosgw"] + c["osd"]))
    for name, m, metric, ratio, target in table:
        print("target %s: gzy migrate copy / rclone %s = %.2fx (>= %.0fx: %s)"
              % (name, "objects/s" if metric == "objects_per_s" else "MB/s", ratio, target,
                 "met" if ratio >= target else "NOT met"))
    if results.get("ceilings"):
        g = median([c["radosgw_get"].get("ops_per_s", 0) for c in results["ceilings"]])
        p_ = median([c["gzy_put"].get("ops_per_s", 0) for c in results["ceilings"]])
        results["ceiling_median"] = {"radosgw_get": g, "gzy_put": p_}
        print("\nalone, same concurrency (medians): radosgw GET %d B %.0f/s, gzy PUT %d B "
              "%.0f/s" % (args.small_size, g, args.small_size, p_))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "migrate-%s.json" % time.strftime("%Y%m%dT%H%M%SZ",
                                                                    time.gmtime()))
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print("\nresults: %s" % os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main()
