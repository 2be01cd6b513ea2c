"""cephpeer.py - a throwaway single-node Ceph cluster with radosgw (the Ceph Object Gateway) on
loopback, as a real third-party S3 source for migration tests and benchmarks.

It wraps ../shared/peers/ceph.sh (start.sh / stop.sh there): free ports for radosgw and both
monitor ports, a temporary CEPH_DIR, memstore by default (starts in ~5 s, data in RAM) or
bluestore (for throughput figures). stop() kills exactly the daemons start.sh recorded.

    peer = CephPeer()             # or CephPeer(objectstore="bluestore", store_size="8G")
    peer.start()                  # raises CephUnavailable with the reason when it cannot start
    peer.endpoint, peer.access_key, peer.secret_key, peer.client()
    peer.stop()

Environment: GZY_CEPH_SH overrides the path of ceph.sh; GZY_CEPH_NO_INSTALL=1 forbids apt-get.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import boto3
import botocore.config

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = "us-east-1"


class CephUnavailable(Exception):
    """Ceph could not be installed or started here; the message says why (with a log tail)."""


def ceph_script():
    """The path of ceph.sh, or None when it is not on this machine."""
    cands = [os.environ.get("GZY_CEPH_SH"),
             os.path.join(HERE, "..", "..", "..", "shared", "peers", "ceph.sh"),
             "/work/shared/peers/ceph.sh"]
    for c in cands:
        if c and os.path.isfile(c):
            return os.path.abspath(c)
    return None


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (held together while choosing)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class CephPeer:
    def __init__(self, objectstore="memstore", store_size=None, timeout=240, tmp_root=None):
        self.objectstore = objectstore
        self.store_size = store_size
        self.timeout = timeout
        self.tmp_root = tmp_root
        self.tmp = None
        self.ceph_dir = None
        self.endpoint = None
        self.access_key = None
        self.secret_key = None
        self.start_seconds = None
        self.started = False

    def _env(self):
        env = dict(os.environ)
        env["CEPH_DIR"] = self.ceph_dir
        env["CEPH_OBJECTSTORE"] = self.objectstore
        if self.store_size:
            env["CEPH_STORE_SIZE"] = self.store_size
        if os.environ.get("GZY_CEPH_NO_INSTALL") == "1":
            env["CEPH_NO_INSTALL"] = "1"
        return env

    def start(self):
        script = ceph_script()
        if script is None:
            raise CephUnavailable("ceph.sh not found (set GZY_CEPH_SH to ../shared/peers/ceph.sh)")
        self.tmp = tempfile.mkdtemp(prefix="gzy-ceph-", dir=self.tmp_root)
        self.ceph_dir = os.path.join(self.tmp, "ceph")
        last_err = ""
        for _attempt in range(2):  # a port taken between choosing and binding: retry once
            rgw, mon, mon1 = free_ports(3)
            env = self._env()
            env.update(RGW_PORT=str(rgw), CEPH_MON_PORT=str(mon), CEPH_MON_V1_PORT=str(mon1))
            t0 = time.time()
            try:
                p = subprocess.run(["bash", script, "start"], env=env, capture_output=True,
                                   timeout=self.timeout, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as e:
                self.started = True  # something may run: stop() cleans up
                self.stop()
                raise CephUnavailable("ceph.sh start timed out after %ds: %s"
                                      % (self.timeout, (e.stderr or b"")[-2000:].decode(
                                          errors="replace"))) from None
            out = p.stdout.decode(errors="replace")
            last_err = p.stderr.decode(errors="replace")[-3000:]
            ready = [l for l in out.splitlines() if l.startswith("ready endpoint=")]
            if p.returncode == 0 and ready:
                self.start_seconds = time.time() - t0
                self.started = True
                fields = dict(f.split("=", 1) for f in ready[-1].split()[1:])
                self.endpoint = fields["endpoint"]
                self.access_key = fields["access"]
                self.secret_key = fields["secret"]
                return self
            if "already in use" not in last_err:
                break
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None
        raise CephUnavailable("ceph.sh start failed (exit %d): %s" % (p.returncode, last_err))

    def stop(self):
        if self.started and self.ceph_dir and os.path.isdir(self.ceph_dir):
            subprocess.run(["bash", ceph_script(), "stop"], env=self._env(),
                           capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        self.started = False
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def log_tail(self, name="rgw.a", n=4000):
        """The end of a daemon's log (for failure messages)."""
        if not self.ceph_dir:
            return ""
        for fn in ("client.rgw.a.log" if name == "rgw.a" else name + ".log", name + ".out"):
            path = os.path.join(self.ceph_dir, "log", fn)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    f.seek(0, os.SEEK_END)
                    f.seek(max(0, f.tell() - n))
                    return f.read().decode(errors="replace")
        return ""

    def client(self, pool=16):
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name=REGION,
            config=botocore.config.Config(s3={"addressing_style": "path"},
                                          max_pool_connections=pool,
                                          retries={"max_attempts": 3}))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
