#!/usr/bin/env python3
"""bench/compare.py - gzy against peers measured in the same run on the same machine.

Peers: nginx serving (GET) and accepting (WebDAV PUT) the same bytes from the same disk, the
ceiling for raw HTTP; with --radosgw, Ceph radosgw (../shared/peers/ceph.sh, a single-node
cluster on bluestore started on free ports and stopped at the end), the most trusted open S3
server that runs here. Load comes from wrk with presigned SigV4 URLs, so gzy and radosgw do
the full signature check on every request. "GET 4KiB x10k" reads 10,000 distinct objects
(files for nginx) in turn, so no server answers from a cache of recent keys. Also measured: the one-fsync-per-file rate of this
disk (create, write 4 KiB, fsync, rename, fsync the folder; one thread), the floor that group
commit must beat. Prints a table of medians over --rounds with gzy/peer ratios and stores the
results under bench/results/.

    python3 bench/compare.py [--duration 10] [--rounds 3] [--gzy build/gzy] [--radosgw]

Everything listens on 127.0.0.1 with free ports and temporary folders; both servers are
stopped at the end. nginx does not fsync a PUT; gzy does (data and index) before answering,
so the PUT ratio compares a durable write with a page-cache one.
"""
import argparse, concurrent.futures, json, os, platform, re, shutil, signal, socket
import statistics, subprocess, sys, tempfile, time

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


def start_radosgw(tmp):
    """A throwaway Ceph cluster with radosgw on bluestore, on free ports; returns (env, endpoint,
    access, secret)."""
    env = dict(os.environ, CEPH_DIR=os.path.join(tmp, "ceph"), CEPH_OBJECTSTORE="bluestore",
               CEPH_STORE_SIZE="8G", RGW_PORT=str(free_port()),
               CEPH_MON_PORT=str(free_port()), CEPH_MON_V1_PORT=str(free_port()))
    script = os.path.join(ROOT, "..", "shared", "peers", "ceph.sh")
    out = subprocess.run(["bash", script, "start"], env=env, capture_output=True, text=True)
    m = re.search(r"ready endpoint=(\S+) access=(\S+) secret=(\S+)", out.stdout)
    if out.returncode != 0 or not m:
        sys.exit("bench: ceph.sh start failed:\n" + out.stderr[-3000:])
    return env, m.group(1), m.group(2), m.group(3)


def stop_radosgw(env):
    script = os.path.join(ROOT, "..", "shared", "peers", "ceph.sh")
    subprocess.run(["bash", script, "stop"], env=env, capture_output=True)


def fsync_rate(folder, seconds):
    """Files per second when each 4 KiB file is created, written, fsynced, renamed into place
    and the folder fsynced: what a store without group commit pays per durable PUT."""
    os.makedirs(folder, exist_ok=True)
    body = os.urandom(4096)
    dfd = os.open(folder, os.O_RDONLY)
    n, end = 0, time.time() + seconds
    try:
        while time.time() < end:
            tmp, final = os.path.join(folder, f".t{n}"), os.path.join(folder, f"f{n}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, body)
            os.fsync(fd)
            os.close(fd)
            os.rename(tmp, final)
            os.fsync(dfd)
            n += 1
    finally:
        os.close(dfd)
    return n / seconds


def s3_client(endpoint, access, secret):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access,
                        aws_secret_access_key=secret, region_name="us-east-1",
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def s3_urls(s3, bucket, name, body_path):
    """Puts the GET object and returns (presigned GET url, presigned PUT url)."""
    with open(body_path, "rb") as f:
        s3.put_object(Bucket=bucket, Key=f"obj{name}", Body=f.read())
    get_url = s3.generate_presigned_url("get_object", ExpiresIn=3600,
                                        Params={"Bucket": bucket, "Key": f"obj{name}"})
    put_url = s3.generate_presigned_url("put_object", ExpiresIn=3600,
                                        Params={"Bucket": bucket, "Key": f"put{name}"})
    return get_url, put_url


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


MANY = 10000  # keys of the "GET 4KiB x10k" workload


def many_keys(tmp, files, clients):
    """10,000 distinct 4 KiB objects on every peer (nginx: files) and, per peer, a wrk script
    that walks their paths in turn (each wrk thread from its own offset): no object is asked
    for twice in a row, so no server answers from a cache of recent keys."""
    os.makedirs(os.path.join(files, "many"), exist_ok=True)
    bodies = [os.urandom(4096) for _ in range(64)]
    for i in range(MANY):
        with open(os.path.join(files, "many", f"k{i:05d}"), "wb") as f:
            f.write(bodies[i % 64])
    paths = {"nginx": [f"/many/k{i:05d}" for i in range(MANY)]}
    for peer, c in clients.items():
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            list(ex.map(lambda i: c.put_object(Bucket="bench", Key=f"many/k{i:05d}",
                                               Body=bodies[i % 64]), range(MANY)))
        urls = [c.generate_presigned_url("get_object", ExpiresIn=3600,
                                         Params={"Bucket": "bench", "Key": f"many/k{i:05d}"})
                for i in range(MANY)]
        paths[peer] = [u[u.index("/", u.index("//") + 2):] for u in urls]
        print(f"{peer}: {MANY} objects of 4 KiB put in {time.monotonic() - t0:.1f} s",
              file=sys.stderr)
    scripts = {}
    for peer, plist in paths.items():
        lst = os.path.join(tmp, f"many-{peer}.txt")
        with open(lst, "w") as f:
            f.write("\n".join(plist) + "\n")
        scripts[peer] = os.path.join(tmp, f"many-{peer}.lua")
        with open(scripts[peer], "w") as f:
            f.write(f"""
local n = 0
function setup(thread)
  n = n + 1
  thread:set("tid", n)
end
function init(args)
  paths = {{}}
  for line in io.lines("{lst}") do paths[#paths + 1] = line end
  i = (tid * 4999) % #paths
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
""")
    return scripts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="server threads / nginx workers")
    ap.add_argument("--gzy", default=os.path.join(ROOT, "build", "gzy"))
    ap.add_argument("--radosgw", action="store_true", help="also measure Ceph radosgw")
    ap.add_argument("--only", default="", help="comma list of workloads, e.g. 'PUT 4KiB'")
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
    nginx = gzy = rgw_env = None
    peers = ["gzy", "nginx"] + (["radosgw"] if args.radosgw else [])
    fsync_per_s = None
    try:
        fsync_per_s = fsync_rate(os.path.join(tmp, "fsync-probe"), 5)
        print(f"one-fsync-per-file rate: {fsync_per_s:.0f} files/s", file=sys.stderr)
        nginx, nport = start_nginx(tmp, files, args.threads)
        gzy, gport = start_gzy(tmp, args.gzy, args.threads)
        clients = {"gzy": s3_client(f"http://127.0.0.1:{gport}", "benchkey", "benchsecret0")}
        if args.radosgw:
            rgw_env, rgw_ep, rgw_ak, rgw_sk = start_radosgw(tmp)
            clients["radosgw"] = s3_client(rgw_ep, rgw_ak, rgw_sk)
        for c in clients.values():
            c.create_bucket(Bucket="bench")
        workloads = []
        for name, n in sizes.items():
            body = os.path.join(files, f"obj{name}")
            conns = 64 if n <= 65536 else 16
            urls = {peer: s3_urls(c, "bench", name, body) for peer, c in clients.items()}
            script = put_script(tmp, body)
            get = {peer: u[0] for peer, u in urls.items()}
            put = {peer: u[1] for peer, u in urls.items()}
            get["nginx"] = f"http://127.0.0.1:{nport}/obj{name}"
            put["nginx"] = f"http://127.0.0.1:{nport}/put{name}"
            workloads.append((f"GET {name}", n, conns, get, None))
            workloads.append((f"PUT {name}", n, conns, put, script))
        if not args.only or "GET 4KiB x10k" in args.only:
            scripts = many_keys(tmp, files, clients)
            bases = {peer: c.meta.endpoint_url for peer, c in clients.items()}
            bases["nginx"] = f"http://127.0.0.1:{nport}"
            workloads.append(("GET 4KiB x10k", 4096, 64, bases, scripts))
        if args.only:
            keep = {w.strip() for w in args.only.split(",")}
            workloads = [w for w in workloads if w[0] in keep]
        results = {}
        for rnd in range(args.rounds):
            for label, n, conns, urls, script in workloads:
                for peer in peers:
                    r = wrk(urls[peer], conns, args.duration,
                            script[peer] if isinstance(script, dict) else script)
                    results.setdefault(label, {}).setdefault(peer, []).append(r)
                    print(f"round {rnd + 1} {label:13} {peer:7} {r['rps']:10.0f} req/s "
                          f"errors {r['errors']}", file=sys.stderr)
    finally:
        for p in (gzy, nginx):
            if p:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        if rgw_env:
            stop_radosgw(rgw_env)
        shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    for label, n, conns, *_ in workloads:
        med = {peer: statistics.median(x["rps"] for x in runs)
               for peer, runs in results[label].items()}
        errs = {peer: sum(x["errors"] for x in runs) for peer, runs in results[label].items()}
        row = {"workload": label, "connections": conns, "bytes": n, "errors": errs}
        for peer in peers:
            row[f"{peer}_rps"] = med[peer]
            row[f"{peer}_MBps"] = med[peer] * n / 1e6
            if peer != "gzy":
                row[f"ratio_{peer}"] = med["gzy"] / med[peer] if med[peer] else None
        rows.append(row)
    machine = f"{platform.node()} {os.cpu_count()} cores, {platform.platform()}"
    print(f"\nmachine: {machine}; wrk -t2, {args.duration}s x {args.rounds} rounds, medians")
    print(f"one-fsync-per-file rate of this disk: {fsync_per_s:.0f} files/s (one thread)")
    head = "| workload | conns | " + " | ".join(f"{p} req/s" for p in peers) + " | " + \
        " | ".join(f"{p} MB/s" for p in peers) + " | " + \
        " | ".join(f"gzy/{p}" for p in peers if p != "gzy") + " |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for r in rows:
        print(f"| {r['workload']} | {r['connections']} | " +
              " | ".join(f"{r[p + '_rps']:.0f}" for p in peers) + " | " +
              " | ".join(f"{r[p + '_MBps']:.1f}" for p in peers) + " | " +
              " | ".join(f"{r['ratio_' + p]:.2f}" if r.get('ratio_' + p) else "-"
                         for p in peers if p != "gzy") + " |")
    put4 = next((r for r in rows if r["workload"] == "PUT 4KiB"), None)
    if put4 and fsync_per_s:
        print(f"PUT 4KiB durable: gzy {put4['gzy_rps']:.0f} req/s = "
              f"{put4['gzy_rps'] / fsync_per_s:.1f}x the one-fsync-per-file rate")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = os.path.join(HERE, "results", f"compare-{stamp}.json")
    with open(out, "w") as f:
        json.dump({"machine": machine, "duration_s": args.duration, "rounds": args.rounds,
                   "fsync_files_per_s": fsync_per_s, "peers": peers,
                   "rows": rows, "raw": results}, f, indent=1)
    print(f"\nstored {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
