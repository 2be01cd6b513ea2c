#!/usr/bin/env python3
"""bench/compare.py - gzy against peers measured in the same run on the same machine.

Today: nginx serving (GET) and accepting (WebDAV PUT) the same bytes from the same disk, the
ceiling for raw HTTP. Load comes from wrk with presigned SigV4 URLs, so gzy does the full
signature check on every request. Prints a table of medians over --rounds and gzy/nginx
ratios, and stores the results under bench/results/.

    python3 bench/compare.py [--duration 10] [--rounds 3] [--gzy build/gzy]

Everything listens on 127.0.0.1 with free ports and temporary folders; both servers are
stopped at the end. nginx does not fsync a PUT; gzy does (data and index) before answering,
so the PUT ratio compares a durable write with a page-cache one.
"""
import argparse, json, os, platform, re, shutil, signal, socket, statistics, subprocess
import sys, tempfile, time

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def start_nginx(tmp, files_dir, workers):
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
user root;
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            root {files_dir};
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 8m;
            client_body_buffer_size 2m;
        }}
    }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", tmp, "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def start_gzy(tmp, binary, threads):
    env = dict(os.environ, GZY_ROOT_ACCESS_KEY="benchkey", GZY_ROOT_SECRET_KEY="benchsecret0")
    proc = subprocess.Popen([binary, "serve", "--data", os.path.join(tmp, "gzy-data"),
                             "--listen", "127.0.0.1:0", "--threads", str(threads),
                             "--log-level", "warn"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = None
    for line in proc.stdout:
        m = re.search(r"S3 endpoint: http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    if port is None:
        raise RuntimeError("gzy did not start")
    wait_port(port)
    return proc, port


def wrk(url, conns, duration, script=None, threads=2):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99_ms = float(p99.group(1)) * scale[p99.group(2)] if p99 else None
    return {"rps": rps, "errors": errors, "p99_ms": p99_ms}


def put_script(tmp, body_path):
    path = os.path.join(tmp, f"put-{os.path.basename(body_path)}.lua")
    with open(path, "w") as f:
        f.write(f"""
local f = io.open("{body_path}", "rb")
wrk.body = f:read("*a")
f:close()
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/octet-stream"
""")
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="server threads / nginx workers")
    ap.add_argument("--gzy", default=os.path.join(ROOT, "build", "gzy"))
    args = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} not found (bash scripts/deps.sh installs it)")

    tmp = tempfile.mkdtemp(prefix="gzy-bench-")
    files = os.path.join(tmp, "www")
    os.makedirs(files)
    sizes = {"4KiB": 4096, "1MiB": 1 << 20}
    for name, n in sizes.items():
        with open(os.path.join(files, f"obj{name}"), "wb") as f:
            f.write(os.urandom(n))
    nginx = gzy = None
    try:
        nginx, nport = start_nginx(tmp, files, args.threads)
        gzy, gport = start_gzy(tmp, args.gzy, args.threads)
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{gport}",
                          aws_access_key_id="benchkey", aws_secret_access_key="benchsecret0",
                          region_name="us-east-1",
                          config=Config(signature_version="s3v4",
                                        s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="bench")
        workloads = []
        for name, n in sizes.items():
            body = os.path.join(files, f"obj{name}")
            with open(body, "rb") as f:
                s3.put_object(Bucket="bench", Key=f"obj{name}", Body=f.read())
            conns = 64 if n <= 65536 else 16
            get_url = s3.generate_presigned_url("get_object", ExpiresIn=3600,
                                                Params={"Bucket": "bench", "Key": f"obj{name}"})
            put_url = s3.generate_presigned_url("put_object", ExpiresIn=3600,
                                                Params={"Bucket": "bench", "Key": f"put{name}"})
            script = put_script(tmp, body)
            workloads.append((f"GET {name}", n, conns, get_url,
                              f"http://127.0.0.1:{nport}/obj{name}", None))
            workloads.append((f"PUT {name}", n, conns, put_url,
                              f"http://127.0.0.1:{nport}/put{name}", script))
        results = {}
        for rnd in range(args.rounds):
            for label, n, conns, gurl, nurl, script in workloads:
                for peer, url in (("gzy", gurl), ("nginx", nurl)):
                    r = wrk(url, conns, args.duration, script)
                    results.setdefault(label, {}).setdefault(peer, []).append(r)
                    print(f"round {rnd + 1} {label:9} {peer:6} {r['rps']:10.0f} req/s "
                          f"errors {r['errors']}", file=sys.stderr)
    finally:
        for p in (gzy, nginx):
            if p:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    for label, n, conns, *_ in workloads:
        med = {peer: statistics.median(x["rps"] for x in runs)
               for peer, runs in results[label].items()}
        errs = {peer: sum(x["errors"] for x in runs) for peer, runs in results[label].items()}
        rows.append({"workload": label, "connections": conns, "bytes": n,
                     "gzy_rps": med["gzy"], "nginx_rps": med["nginx"],
                     "gzy_MBps": med["gzy"] * n / 1e6, "nginx_MBps": med["nginx"] * n / 1e6,
                     "ratio": med["gzy"] / med["nginx"] if med["nginx"] else None,
                     "errors": errs})
    machine = f"{platform.node()} {os.cpu_count()} cores, {platform.platform()}"
    print(f"\nmachine: {machine}; wrk -t2, {args.duration}s x {args.rounds} rounds, medians")
    print(f"| workload | conns | gzy req/s | nginx req/s | gzy MB/s | nginx MB/s | gzy/nginx |")
    print(f"| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['workload']} | {r['connections']} | {r['gzy_rps']:.0f} | "
              f"{r['nginx_rps']:.0f} | {r['gzy_MBps']:.1f} | {r['nginx_MBps']:.1f} | "
              f"{r['ratio']:.2f} |")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = os.path.join(HERE, "results", f"compare-{stamp}.json")
    with open(out, "w") as f:
        json.dump({"machine": machine, "duration_s": args.duration, "rounds": args.rounds,
                   "rows": rows, "raw": results}, f, indent=1)
    print(f"\nstored {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
