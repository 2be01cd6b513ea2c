"""moto_server (in the machine's pyenv Python) as a third-party S3 cloud: one process on a free
loopback port with a temporary folder, and a path-style boto3 client to fill it; HookProxy, an
HTTP proxy in front of it that counts, delays, answers, rewrites, resets or stalls requests;
ProviderProxy, a provider "personality" (aliyun-oss, tencent-cos, huawei-obs) in front of it."""

import ctypes
import ctypes.util
import html
import http.client
import http.server
import os
import re
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
    answer instead of moto by returning (status, headers, data), or return HookProxy.DROP after
    writing to handler.wfile itself (a reset or a stall: the connection is then closed);
    after(handler, key, status, headers, data) may rewrite the answer."""

    DROP = object()

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
                if answer is HookProxy.DROP:  # before() wrote what it wanted and hangs up
                    self.close_connection = True
                    return
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


def crc64_ecma(data):
    """CRC-64/XZ (ECMA-182 reflected), what OSS and COS send as x-*-hash-crc64ecma (decimal):
    ISA-L through ctypes when it loads (fast), else the table in Python."""
    lib = _isal()
    if lib is not None:
        return lib.crc64_ecma_refl(0, data, len(data))
    crc = 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc = _CRC64_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


_CRC64_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0xC96C5795D7870F42 if _c & 1 else _c >> 1
    _CRC64_TABLE.append(_c)
_ISAL = []


def _isal():
    if not _ISAL:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("isal") or "libisal.so.2")
            lib.crc64_ecma_refl.restype = ctypes.c_uint64
            lib.crc64_ecma_refl.argtypes = [ctypes.c_uint64, ctypes.c_char_p, ctypes.c_uint64]
            _ISAL.append(lib)
        except (OSError, AttributeError):
            _ISAL.append(None)
    return _ISAL[0]


PERSONALITIES = {
    # header namespace, archive class as the provider names it, list-type=2 refusal
    "aliyun-oss": ("x-oss-", "Archive", (400, "InvalidArgument")),
    "tencent-cos": ("x-cos-", "ARCHIVE", (501, "NotImplemented")),
    "huawei-obs": ("x-obs-", "COLD", (400, "InvalidArgument")),
}


class ProviderProxy:
    """A "provider personality" in front of moto: answers the way aliyun-oss, tencent-cos or
    huawei-obs would for what gzy's presets rely on.
      - ListObjects v2 (list-type=2) is refused, so the v1 fallback is used;
      - x-amz-meta-*, x-amz-storage-class, x-amz-tagging-count come back under the provider's
        prefix; foreign_meta maps x-amz-meta-<word>-* to another provider's prefix;
      - GETs carry the provider's x-*-hash-crc64ecma (OSS, COS) of the whole object, wrong
        once for each key in bad_crc_once;
      - keys in archived (key -> "frozen" | "restoring" | "restored") are listed and HEAD with
        the provider's archive class; GET is refused (403 InvalidObjectState) until restored;
        POST ?restore is answered here (202, 409 while restoring) and its body recorded;
      - aliyun-oss sends ETags in upper-case hex (as OSS does), in headers and listings;
      - with vhost, the endpoint is http://vh.localhost:PORT (curl resolves *.localhost to
        loopback) and the bucket is read from the Host header, so only virtual-hosted
        requests work.
    requests holds (method, host, path) of every request as received."""

    def __init__(self, moto, personality, vhost=False, foreign_meta=None):
        self.moto, self.personality, self.vhost = moto, personality, vhost
        self.prefix, self.archive_class, self.v2_refusal = PERSONALITIES[personality]
        self.foreign_meta = foreign_meta or {}
        self.upper_etags = personality == "aliyun-oss"
        self.archived, self.bad_crc_once = {}, set()
        self.restore_bodies, self.requests = [], []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def relay(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                host = self.headers.get("Host", "")
                with proxy.lock:
                    proxy.requests.append((self.command, host, self.path))
                path = self.path
                if proxy.vhost:
                    name = host.rsplit(":", 1)[0]
                    if not name.endswith(".vh.localhost"):
                        return self.answer(400, {}, b"<Error><Code>InvalidRequest</Code>"
                                           b"<Message>virtual-hosted only</Message></Error>")
                    path = "/" + name[:-len(".vh.localhost")] + path
                status, headers, data = proxy.handle(self.command, path, body,
                                                     dict(self.headers))
                self.answer(status, headers, data)

            def answer(self, status, headers, data):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", headers.pop("_length", str(len(data))))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self.httpd.server_address[1]
        self.endpoint = ("http://vh.localhost:%d" if vhost else "http://127.0.0.1:%d") % port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def error(status, code, msg):
        return status, {"Content-Type": "application/xml"}, \
            ("<Error><Code>%s</Code><Message>%s</Message></Error>" % (code, msg)).encode()

    def handle(self, method, path, body, headers):
        parts = urllib.parse.urlsplit(path)
        segs = urllib.parse.unquote(parts.path).split("/", 2)
        bucket, key = segs[1], segs[2] if len(segs) > 2 else ""
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        if method == "GET" and not key and query.get("list-type") == ["2"]:
            return self.error(self.v2_refusal[0], self.v2_refusal[1], "ListObjectsV2: no")
        state = self.archived.get(key) if key else None
        if state is not None and method == "POST" and "restore" in query:
            with self.lock:
                self.restore_bodies.append((key, body.decode()))
                if state == "restoring":
                    return self.error(409, "RestoreAlreadyInProgress", "in progress")
                self.archived[key] = "restoring" if state == "frozen" else state
            return (202 if state == "frozen" else 200), {}, b""
        if state is not None and method == "GET" and state != "restored":
            return self.error(403, "InvalidObjectState", "The operation is not valid for the "
                              "object's state")
        status, rheaders, data = self.upstream(method, path, body, headers)
        return status, self.rewrite(method, bucket, key, status, rheaders, data), \
            self.rewrite_listing(data) if not key and method == "GET" else data

    def upstream(self, method, path, body, headers):
        headers = {k: v for k, v in headers.items() if k.lower() != "host"}
        headers["Host"] = "127.0.0.1:%d" % self.moto.port
        if self.upper_etags:  # OSS compares its own (upper-case) ETags: moto has lower case
            headers = {k: v.lower() if k.lower() in ("if-match", "if-none-match") else v
                       for k, v in headers.items()}
        c = http.client.HTTPConnection("127.0.0.1", self.moto.port, timeout=60)
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        rheaders = {k: v for k, v in r.getheaders()
                    if k.lower() not in ("transfer-encoding", "connection")}
        c.close()
        return r.status, rheaders, data

    def rewrite(self, method, bucket, key, status, headers, data):
        out = {}
        for k, v in headers.items():
            lk = k.lower()
            if lk == "content-length":
                if method == "HEAD":
                    out["_length"] = v  # the object's length, not the empty body's
                continue
            if lk.startswith("x-amz-meta-"):
                name = lk[len("x-amz-meta-"):]
                word = name.split("-", 1)[0]
                if word in self.foreign_meta and "-" in name:
                    out[self.foreign_meta[word] + "meta-" + name.split("-", 1)[1]] = v
                else:
                    out[self.prefix + "meta-" + name] = v
            elif lk in ("x-amz-storage-class", "x-amz-tagging-count", "x-amz-restore"):
                out[self.prefix + lk[len("x-amz-"):]] = v
            elif lk == "etag" and self.upper_etags:
                out[k] = v.upper()
            else:
                out[k] = v
        state = self.archived.get(key)
        if key and state is not None and status < 300:
            out[self.prefix + "storage-class"] = self.archive_class
            if state == "restoring":
                out[self.prefix + "restore"] = 'ongoing-request="true"'
            elif state == "restored":
                out[self.prefix + "restore"] = ('ongoing-request="false", expiry-date="Fri, '
                                                '21 Dec 2040 00:00:00 GMT"')
        if method == "GET" and key and status in (200, 206) and self.prefix != "x-obs-":
            whole = data if status == 200 else self.moto.s3.get_object(
                Bucket=bucket, Key=key)["Body"].read()
            crc = crc64_ecma(whole)
            with self.lock:
                if key in self.bad_crc_once:
                    self.bad_crc_once.discard(key)
                    crc ^= 1
            out[self.prefix + "hash-crc64ecma"] = str(crc)
        return out

    def rewrite_listing(self, data):
        text = data.decode()

        def one(m):
            block = m.group(0)
            k = re.search(r"<Key>(.*?)</Key>", block)
            if k and html.unescape(k.group(1)) in self.archived:
                block = re.sub(r"<StorageClass>[^<]*</StorageClass>",
                               "<StorageClass>%s</StorageClass>" % self.archive_class, block)
            if self.upper_etags:
                block = re.sub(r"<ETag>(.*?)</ETag>", lambda e: "<ETag>%s</ETag>" % html.escape(
                    html.unescape(e.group(1)).upper()), block)
            return block
        return re.sub(r"<Contents>.*?</Contents>", one, text, flags=re.S).encode()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class MotoServerCase(h.ServerTestCase):
    """A test class with a gzy server (harness.ServerTestCase, gzy only), a moto_server source
    (cls.moto) and a temporary folder (cls.tmp, named with TMP_PREFIX), for the class."""
    gzy_only = True
    TMP_PREFIX = "gzy-moto-"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.moto = Moto()
        cls.tmp = tempfile.mkdtemp(prefix=cls.TMP_PREFIX)

    @classmethod
    def tearDownClass(cls):
        cls.moto.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()
