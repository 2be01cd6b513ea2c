#!/usr/bin/env python3
"""bench/rss.py - gzy's memory and single-stream throughput, measured from outside.

Starts build/gzy (release) on a free port with a temporary data folder and reads VmRSS and
VmHWM from /proc/PID/status:

  idle            after start and one CreateBucket
  1000 idle conns 1,000 keep-alive connections that each made one small GET, then wait
  5 GiB PUT       one streaming PUT (presigned URL, raw socket, body generated on the fly)
  5 GiB GET       the same object read back and discarded

VmHWM is reset before each phase (echo 5 > /proc/PID/clear_refs) and RSS is also sampled every
20 ms, so each row shows the peak of that phase alone. It also times a single-stream 64 MiB PUT
(median of --rounds) next to `openssl speed -evp md5` (one core), the ETag's inherent cost,
twice: from Python (a fresh raw socket per PUT, 1 MiB sendall calls) and with `gzy bench`
(one keep-alive connection, C; the client's own CPU shares the two cores with the server).

    python3 bench/rss.py [--gzy build/gzy] [--big-gib 5] [--conns 1000] [--rounds 3]

Everything listens on 127.0.0.1 with a free port; the server is stopped and the data folder
(5 GiB!) removed at the end, also on failure or Ctrl-C. Results go to bench/results/.
"""
import argparse, json, os, platform, re, resource, shutil, signal, socket, statistics
import subprocess, sys, tempfile, threading, time
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MIB = 1 << 20
ACCESS, SECRET = "benchkey", "benchsecret0"


def start_gzy(binary, data):
    env = dict(os.environ, GZY_ROOT_ACCESS_KEY=ACCESS, GZY_ROOT_SECRET_KEY=SECRET)
    proc = subprocess.Popen([binary, "serve", "--data", data, "--listen", "127.0.0.1:0",
                             "--threads", "2", "--log-level", "warn"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        m = re.search(r"S3 endpoint: http://127\.0\.0\.1:(\d+)", line)
        if m:
            # Keep draining stdout so the server never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, int(m.group(1))
    proc.kill()
    raise RuntimeError("gzy did not start")


def status_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


class Sampler:
    """Peak VmRSS of one phase: VmHWM reset at the start, RSS polled while it runs."""

    def __init__(self, pid):
        self.pid = pid

    def __enter__(self):
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass  # old kernel: VmHWM then covers the process's life
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, status_kib(self.pid)["VmRSS"])
            time.sleep(0.02)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        st = status_kib(self.pid)
        self.rss = st["VmRSS"]
        self.hwm = max(st["VmHWM"], self.peak)
        return False


def recv_head(sock):
    """Reads a response head; returns (status, headers dict, bytes of body already read)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed before the response head")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def recv_body(sock, headers, rest, keep=False):
    """Reads Content-Length bytes (discarding them unless keep); returns (n, data)."""
    total = int(headers.get("content-length", "0"))
    n = len(rest)
    data = [rest] if keep else None
    buf = bytearray(MIB)
    view = memoryview(buf)
    while n < total:
        got = sock.recv_into(view, min(len(buf), total - n))
        if got == 0:
            raise RuntimeError(f"body ended after {n} of {total} bytes")
        if keep:
            data.append(bytes(view[:got]))
        n += got
    return n, (b"".join(data) if keep else None)


def request_line(url, method, extra=""):
    u = urlsplit(url)
    target = u.path + ("?" + u.query if u.query else "")
    return (f"{method} {target} HTTP/1.1\r\nHost: {u.netloc}\r\n{extra}\r\n").encode()


def stream_put(url, size, block):
    """One PUT of size bytes (block repeated) on a fresh socket; returns (status, seconds)."""
    u = urlsplit(url)
    host, port = u.hostname, u.port
    with socket.create_connection((host, port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MIB)
        t0 = time.perf_counter()
        s.sendall(request_line(url, "PUT", f"Content-Length: {size}\r\n"))
        view = memoryview(block)
        left = size
        while left > 0:
            n = min(left, len(block))
            s.sendall(view[:n])
            left -= n
        status, headers, rest = recv_head(s)
        recv_body(s, headers, rest)
        return status, time.perf_counter() - t0


def stream_get(url):
    u = urlsplit(url)
    with socket.create_connection((u.hostname, u.port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MIB)
        t0 = time.perf_counter()
        s.sendall(request_line(url, "GET"))
        status, headers, rest = recv_head(s)
        n, _ = recv_body(s, headers, rest)
        return status, n, time.perf_counter() - t0


def idle_connections(url, count):
    """count keep-alive connections, each having completed one GET; the caller closes them."""
    u = urlsplit(url)
    req = request_line(url, "GET")
    socks = []
    for _ in range(count):
        s = socket.create_connection((u.hostname, u.port))
        s.sendall(req)
        socks.append(s)
    for s in socks:
        status, headers, rest = recv_head(s)
        recv_body(s, headers, rest)
        if status != 200:
            raise RuntimeError(f"idle-connection GET answered {status}")
    return socks


def md5_rate_mbps():
    out = subprocess.run(["openssl", "speed", "-evp", "md5", "-seconds", "3", "-bytes", "16384"],
                         capture_output=True, text=True).stdout
    m = re.search(r"^md5\s+([\d.]+)k", out, re.M)
    return float(m.group(1)) * 1000 / 1e6 if m else None


def bench_put64(binary, port, count):
    """count one-stream 64 MiB PUTs by `gzy bench` (C client, one keep-alive connection, body
    from memory, UNSIGNED-PAYLOAD); MB/s from the mean latency (the exact one; the
    percentiles come from a histogram)."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET)
    out = subprocess.run([binary, "bench", "put", "--endpoint", f"http://127.0.0.1:{port}",
                          "--bucket", "bench", "--no-create-bucket", "--prefix", "put64c/",
                          "--size", "64MiB", "--concurrency", "1", "--threads", "1",
                          "--count", str(count), "--json"],
                         env=env, capture_output=True, text=True, check=True).stdout
    total = json.loads(out)["total"]
    if total["errors"] or total["ops"] != count:
        raise RuntimeError(f"gzy bench put64: {total['errors']} errors in {total['ops']} ops")
    return 64 * MIB / (total["latency_ms"]["mean"] / 1e3) / 1e6


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))


def rss_phases(args, s3, presign, pid, big, block, rows):
    """The RSS rows: idle, idle keep-alive connections, the big PUT and GET."""
    time.sleep(0.5)
    with Sampler(pid) as sm:
        time.sleep(1.0)
    rows.append(("idle", sm.rss, sm.hwm, None))
    print(f"idle: VmRSS {sm.rss} KiB", file=sys.stderr)

    with Sampler(pid) as sm:
        socks = idle_connections(presign("GET", "small"), args.conns)
        time.sleep(1.0)
    rows.append((f"{args.conns} idle keep-alive conns", sm.rss, sm.hwm, None))
    print(f"{args.conns} conns: VmRSS {sm.rss} KiB", file=sys.stderr)
    for s in socks:
        s.close()
    time.sleep(0.5)

    label = f"{args.big_gib:g} GiB PUT (one stream)"
    with Sampler(pid) as sm:
        status, secs = stream_put(presign("PUT", "big"), big, block)
    if status != 200:
        raise RuntimeError(f"big PUT answered {status}")
    rows.append((label, sm.rss, sm.hwm, big / secs / 1e6))
    print(f"{label}: peak {sm.hwm} KiB, {big / secs / 1e6:.0f} MB/s", file=sys.stderr)

    label = f"{args.big_gib:g} GiB GET (one stream)"
    with Sampler(pid) as sm:
        status, n, secs = stream_get(presign("GET", "big"))
    if status != 200 or n != big:
        raise RuntimeError(f"big GET answered {status} with {n} bytes")
    rows.append((label, sm.rss, sm.hwm, big / secs / 1e6))
    print(f"{label}: peak {sm.hwm} KiB, {big / secs / 1e6:.0f} MB/s", file=sys.stderr)
    s3.delete_object(Bucket="bench", Key="big")  # frees the 5 GiB before the next step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gzy", default=os.path.join(ROOT, "build", "gzy"))
    ap.add_argument("--big-gib", type=float, default=5.0, help="size of the big PUT/GET")
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3, help="64 MiB PUT repetitions")
    ap.add_argument("--tmp", default=None, help="parent folder for the data (needs the space)")
    ap.add_argument("--only-put64", action="store_true",
                    help="only the 64 MiB single-stream PUT against MD5 (no RSS phases)")
    args = ap.parse_args()
    big = 0 if args.only_put64 else int(args.big_gib * (1 << 30))
    raise_fd_limit(args.conns + 256)  # gzy inherits it

    tmp = tempfile.mkdtemp(prefix="gzy-rss-", dir=args.tmp)
    if shutil.disk_usage(tmp).free < big + (1 << 30):
        shutil.rmtree(tmp, ignore_errors=True)
        sys.exit(f"bench: {tmp} has less than {args.big_gib + 1:.1f} GiB free")
    proc = None
    rows, notes = [], {}
    try:
        proc, port = start_gzy(args.gzy, os.path.join(tmp, "data"))
        pid = proc.pid
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}",
                          aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                          region_name="us-east-1",
                          config=Config(signature_version="s3v4",
                                        s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="bench")
        s3.put_object(Bucket="bench", Key="small", Body=os.urandom(4096))

        def presign(method, key):
            op = {"GET": "get_object", "PUT": "put_object", "DELETE": "delete_object"}[method]
            return s3.generate_presigned_url(op, ExpiresIn=3600,
                                             Params={"Bucket": "bench", "Key": key})

        block = os.urandom(MIB)
        if not args.only_put64:
            rss_phases(args, s3, presign, pid, big, block, rows)

        rates = []
        for _ in range(args.rounds):
            status, secs = stream_put(presign("PUT", "put64"), 64 * MIB, block)
            if status != 200:
                raise RuntimeError(f"64 MiB PUT answered {status}")
            rates.append(64 * MIB / secs / 1e6)
        notes["put64_MBps"] = statistics.median(rates)
        notes["put64_runs_MBps"] = rates
        notes["put64_bench_MBps"] = bench_put64(args.gzy, port, args.rounds)
        notes["md5_MBps"] = md5_rate_mbps()
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    machine = f"{platform.node()} {os.cpu_count()} cores, {platform.platform()}"
    print(f"\nmachine: {machine}; gzy --threads 2")
    if rows:
        print("| phase | VmRSS at end (MiB) | peak RSS (MiB) | MB/s |")
        print("| --- | --- | --- | --- |")
    for label, rss, hwm, mbps in rows:
        rate = f"{mbps:.0f}" if mbps else ""
        print(f"| {label} | {rss / 1024:.1f} | {hwm / 1024:.1f} | {rate} |")
    md5 = notes.get("md5_MBps")
    put64 = notes["put64_MBps"]
    ratio = f" = {put64 / md5:.2f}x" if md5 else ""
    runs = ", ".join(f"{r:.0f}" for r in notes["put64_runs_MBps"])
    print(f"\n64 MiB single-stream PUT: {put64:.0f} MB/s (median of {args.rounds}: {runs}); "
          f"openssl speed -evp md5 (16 KiB, one core): {md5:.0f} MB/s{ratio}")
    cput = notes["put64_bench_MBps"]
    cratio = f" = {cput / md5:.2f}x" if md5 else ""
    print(f"64 MiB single-stream PUT by gzy bench (keep-alive C client, mean of {args.rounds}): "
          f"{cput:.0f} MB/s{cratio}")
    if args.only_put64:
        return  # a quick check, not a result to keep
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = os.path.join(HERE, "results", f"rss-{stamp}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"machine": machine, "big_bytes": big, "conns": args.conns,
                   "rows": [{"phase": l, "vmrss_kib": r, "peak_kib": h, "MBps": m}
                            for l, r, h, m in rows], **notes}, f, indent=1)
    print(f"stored {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
