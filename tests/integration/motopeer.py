"""moto_server (in the machine's pyenv Python) as a third-party S3 cloud: one process on a free
loopback port with a temporary folder, and a path-style boto3 client to fill it; HookProxy, an
HTTP proxy in front of it that counts, delays, answers or rewrites requests."""

import http.client
import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import boto3
import botocore.config

import harness as h

MOTO_KEY = "testing"  # moto accepts any credentials


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moto_binary():
    exe = shutil.which("moto_server")
    if exe:
        return exe
    cand = os.path.expanduser("~/.pyenv/shims/moto_server")
    return cand if os.path.exists(cand) else None


class Moto:
    """moto_server on a free loopback port; .endpoint, .s3 (boto3), close()."""

    def __init__(self, pool=16):
        exe = moto_binary()
        if exe is None:
            raise unittest.SkipTest("moto_server is not installed (the pyenv Python has it)")
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="gzy-moto-")
        self.log = open(os.path.join(self.tmp, "moto.log"), "wb")
        self.proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.endpoint = "http://127.0.0.1:%d" % self.port
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            self.close()
            raise AssertionError("moto_server did not start")
        self.s3 = boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=MOTO_KEY,
            aws_secret_access_key=MOTO_KEY, region_name=h.REGION,
            config=botocore.config.Config(s3={"addressing_style": "path"},
                                          max_pool_connections=pool))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class HookProxy:
    """An HTTP proxy in front of moto counting requests by (method, key) (key without the
    bucket); before(handler, key) may act before relaying (e.g. overwrite the object) and may
    answer instead of moto by returning (status, headers, data); after(handler, key, status,
    headers, data) may rewrite the answer."""

    def __init__(self, upstream_port, before=None, after=None):
        self.counts = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def relay(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                key = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
                key = key.split("/", 2)[2] if key.count("/") >= 2 else ""
                with proxy.lock:
                    proxy.counts[(self.command, key)] = \
                        proxy.counts.get((self.command, key), 0) + 1
                answer = before(self, key) if before else None
                if answer is not None:
                    status, headers, data = answer
                    length = None
                else:
                    c = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                    c.request(self.command, self.path, body=body, headers=dict(self.headers))
                    r = c.getresponse()
                    data = r.read()
                    length = r.getheader("Content-Length")
                    headers = {k: v for k, v in r.getheaders()
                               if k.lower() not in ("transfer-encoding", "content-length",
                                                    "connection")}
                    c.close()
                    status = r.status
                if after:
                    status, headers, data = after(self, key, status, headers, data)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                # a HEAD answers the object's length, not the (empty) body's
                self.send_header("Content-Length", length if self.command == "HEAD" and length
                                 else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def count(self, method, key):
        with self.lock:
            return self.counts.get((method, key), 0)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
