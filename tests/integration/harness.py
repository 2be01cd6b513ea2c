"""harness.py - the fixture layer of the integration suite (standard library unittest, no pytest).

GzyServer starts `$GZY_BIN serve` on a fresh data folder and a loopback port, and gives the tests
real clients pointed at it: boto3 (path-style and virtual-hosted style), the aws CLI, rclone,
s3cmd, and a raw HTTP helper that signs SigV4 itself so tests can send exact bytes (aws-chunked
bodies with chunk signatures and trailers, Expect: 100-continue, pipelining).

Environment:
  GZY_BIN             path of the server binary (tests/run.py sets it)
  GZY_SANITIZED=1     the binary is an ASan+UBSan build: set ASAN/UBSAN options and fail the
                      test class if the server's stderr holds a sanitizer report after stop
  GZY_TEST_ENDPOINT   http://127.0.0.1:PORT of an already running S3 server (e.g. moto_server)
  GZY_TEST_ACCESS_KEY, GZY_TEST_SECRET_KEY   its keys; tests that need gzy itself
                      (restart, kill -9, virtual hosts) are skipped in that mode
"""

import atexit
import base64
import datetime
import hashlib
import hmac
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ET
import zlib

import boto3
import botocore.config
import botocore.exceptions

REGION = "us-east-1"
VHOST_DOMAIN = "s3.test"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MiB = 1024 * 1024


def run_on_terminal(args, env=None, timeout=60):
    """Runs args with stdout a terminal (a pty) and stdin empty: (exit status, what it printed
    on the terminal, stderr bytes). Raises AssertionError on a sanitizer report in stderr."""
    import pty
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdout=slave, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    err = proc.stderr.read()
    proc.stderr.close()
    rc = proc.wait(timeout=timeout)
    for marker in SANITIZER_MARKERS:
        if marker.encode() in err:
            raise AssertionError("sanitizer report:\n" + err.decode(errors="replace"))
    return rc, out.decode(errors="replace"), err


def external_endpoint():
    return os.environ.get("GZY_TEST_ENDPOINT") or None


def requires_gzy(reason="needs the real gzy binary"):
    """Skips a test (or class) when the suite runs against an external endpoint."""
    return unittest.skipIf(external_endpoint() is not None, reason)


# ------------------------------------------------------------------------------------------
# Checksums (the ones hashlib/zlib lack are computed here in pure Python)
# ------------------------------------------------------------------------------------------

def _reflected_table(poly, width):
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc & ((1 << width) - 1))
    return table


def _reverse_bits(value, width):
    out = 0
    for _ in range(width):
        out = (out << 1) | (value & 1)
        value >>= 1
    return out


_CRC32C_TABLE = _reflected_table(0x82F63B78, 32)
_CRC64NVME_TABLE = _reflected_table(_reverse_bits(0xAD93D23594C93659, 64), 64)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc64nvme(data, crc=0):
    mask = 0xFFFFFFFFFFFFFFFF
    crc ^= mask
    table = _CRC64NVME_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ mask


def checksum_b64(alg, data):
    """The base64 value S3 expects in x-amz-checksum-<alg> for data."""
    alg = alg.lower()
    if alg == "crc32":
        raw = (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")
    elif alg == "crc32c":
        raw = crc32c(data).to_bytes(4, "big")
    elif alg == "crc64nvme":
        raw = crc64nvme(data).to_bytes(8, "big")
    elif alg == "sha1":
        raw = hashlib.sha1(data).digest()
    elif alg == "sha256":
        raw = hashlib.sha256(data).digest()
    else:
        raise ValueError(alg)
    return base64.b64encode(raw).decode()


def md5_b64(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def multipart_etag(parts):
    """S3's ETag of a completed multipart upload: md5 of the parts' binary md5s, '-N'."""
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return '"%s-%d"' % (digest, len(parts))


def random_bytes(n, seed=None):
    """n pseudo-random bytes, fast even for tens of MiB (not for cryptography)."""
    seed = secrets.token_bytes(16) if seed is None else str(seed).encode()
    block = hashlib.sha512(seed).digest() * 64  # 4 KiB
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        out += block
        counter += 1
    return bytes(out[:n])


# ------------------------------------------------------------------------------------------
# SigV4 signing done by hand (checked against botocore in test_harness.py)
# ------------------------------------------------------------------------------------------

def uri_encode(s, encode_slash=True):
    if isinstance(s, str):
        s = s.encode()
    safe = b"-_.~" if encode_slash else b"-_.~/"
    out = []
    for b in s:
        c = bytes([b])
        if c.isalnum() and b < 128 or c in safe:
            out.append(c.decode())
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def amz_now(offset_s=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_s)
    return t.strftime("%Y%m%dT%H%M%SZ")


def _hmac(key, msg):
    return hmac.new(key, msg.encode() if isinstance(msg, str) else msg, hashlib.sha256).digest()


def signing_key(secret, date, region=REGION, service="s3"):
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def canonical_query(query):
    """query: list of (name, value) pairs (value None for a bare subresource like ?uploads)."""
    pairs = sorted((uri_encode(k), uri_encode(v if v is not None else "")) for k, v in query)
    return "&".join("%s=%s" % kv for kv in pairs)


def wire_query(query):
    parts = []
    for k, v in query:
        parts.append(uri_encode(k) if v is None else "%s=%s" % (uri_encode(k), uri_encode(v)))
    return "&".join(parts)


class SigV4Context:
    """What a streaming body needs to sign its chunks after the request is signed."""

    def __init__(self, key, amz_date, scope, seed_signature):
        self.key = key
        self.amz_date = amz_date
        self.scope = scope
        self.seed_signature = seed_signature


def sigv4_sign(method, path, query, headers, payload_hash, access_key, secret_key,
               amz_date=None, region=REGION, unsigned_headers=("user-agent",)):
    """Adds x-amz-date, x-amz-content-sha256 and Authorization to headers (a dict with the
    exact header names to send; Host must be present). path is already URI-encoded as sent.
    Returns the SigV4Context (seed signature for chunked uploads)."""
    amz_date = amz_date or amz_now()
    headers.setdefault("x-amz-date", amz_date)
    headers.setdefault("x-amz-content-sha256", payload_hash)
    signed = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname in unsigned_headers or lname == "authorization":
            continue
        signed[lname] = " ".join(str(value).strip().split())
    names = sorted(signed)
    canonical = "\n".join([
        method,
        path,
        canonical_query(query),
        "".join("%s:%s\n" % (n, signed[n]) for n in names),
        ";".join(names),
        payload_hash,
    ])
    date = amz_date[:8]
    scope = "%s/%s/s3/aws4_request" % (date, region)
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope,
        hashlib.sha256(canonical.encode()).hexdigest(),
    ])
    key = signing_key(secret_key, date, region)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
        % (access_key, scope, ";".join(names), signature))
    return SigV4Context(key, amz_date, scope, signature)


def chunk_signature(ctx, previous, data):
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256-PAYLOAD", ctx.amz_date, ctx.scope, previous, EMPTY_SHA256,
        hashlib.sha256(data).hexdigest(),
    ])
    return hmac.new(ctx.key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def trailer_signature(ctx, previous, trailer_lines):
    """trailer_lines: 'name:value\\n' for every trailing header, as signed."""
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256-TRAILER", ctx.amz_date, ctx.scope, previous,
        hashlib.sha256(trailer_lines.encode()).hexdigest(),
    ])
    return hmac.new(ctx.key, string_to_sign.encode(), hashlib.sha256).hexdigest()


STREAM_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAM_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAM_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def aws_chunked_body(data, mode, ctx=None, chunk_size=64 * 1024, trailer=None,
                     tamper_chunk=None, bad_trailer_signature=False):
    """Encodes data as an aws-chunked body. mode is one of the STREAM_* values. trailer is
    (name, value) or None. tamper_chunk=i flips one byte of chunk i after signing it."""
    signed = mode in (STREAM_SIGNED, STREAM_SIGNED_TRAILER)
    chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    out = bytearray()
    previous = ctx.seed_signature if signed else None
    for i, chunk in enumerate(chunks):
        if signed:
            previous = chunk_signature(ctx, previous, chunk)
            out += b"%x;chunk-signature=%s\r\n" % (len(chunk), previous.encode())
        else:
            out += b"%x\r\n" % len(chunk)
        if tamper_chunk == i and chunk:
            chunk = bytes([chunk[0] ^ 0x01]) + chunk[1:]
        if chunk:
            out += chunk + b"\r\n"
    if trailer is not None:
        line = "%s:%s\n" % trailer
        out += line.replace("\n", "\r\n").encode()
        if mode == STREAM_SIGNED_TRAILER:
            sig = trailer_signature(ctx, previous, line)
            if bad_trailer_signature:
                sig = ("0" if sig[0] != "0" else "1") + sig[1:]
            out += b"x-amz-trailer-signature:" + sig.encode() + b"\r\n"
    out += b"\r\n"
    return bytes(out)


# ------------------------------------------------------------------------------------------
# Raw HTTP over a socket
# ------------------------------------------------------------------------------------------

class RawResponse:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> value (last wins)
        self.body = body

    @property
    def error_code(self):
        return xml_error_code(self.body)

    def __repr__(self):
        return "<RawResponse %d %s %r>" % (self.status, self.reason, self.body[:300])


def xml_error_code(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body or b"")
    return m.group(1).decode() if m else None


def xml_strip_ns(body):
    """Parses an S3 XML body and drops namespaces from tags."""
    root = ET.fromstring(body)
    for el in root.iter():
        if "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


class RawConnection:
    """A blocking client socket that reads HTTP/1.1 responses exactly."""

    def __init__(self, host, port, timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection (buffered %r)" % self.buf[:200])
        self.buf += data

    def _read_line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_head(self):
        """Reads a status line and headers; returns (status, reason, headers)."""
        line = self._read_line()
        parts = line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError("bad status line %r" % line)
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = {}
        while True:
            line = self._read_line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, reason, headers

    def read_response(self, method="GET"):
        while True:
            status, reason, headers = self.read_head()
            if status != 100:
                break
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                size = int(self._read_line().split(b";")[0], 16)
                if size == 0:
                    while self._read_line():
                        pass
                    break
                body += self._read_exact(size)
                self._read_exact(2)
            body = bytes(body)
        elif "content-length" in headers:
            body = self._read_exact(int(headers["content-length"]))
        else:
            while True:
                try:
                    self._fill()
                except ConnectionError:
                    break
            body, self.buf = self.buf, b""
        return RawResponse(status, reason, headers, body)


def build_request(method, target, headers, body=b""):
    head = "%s %s HTTP/1.1\r\n" % (method, target)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


# ------------------------------------------------------------------------------------------
# The server fixture
# ------------------------------------------------------------------------------------------

_name_counter = itertools.count(1)
_live_servers = set()


@atexit.register
def _kill_leftover_servers():
    for server in list(_live_servers):
        server._kill()


def unique_bucket(prefix="t"):
    """A bucket name unique within this process and across runs (S3 rules: lower case, 3-63)."""
    prefix = re.sub(r"[^a-z0-9-]", "-", prefix.lower())[:30].strip("-") or "t"
    return "%s-%d-%s" % (prefix, next(_name_counter), secrets.token_hex(4))


_resolver_patched = False


def _patch_resolver_for_vhost():
    """Makes *.s3.test resolve to 127.0.0.1 inside this process (virtual-hosted tests)."""
    global _resolver_patched
    if _resolver_patched:
        return
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and (host == VHOST_DOMAIN or host.endswith("." + VHOST_DOMAIN)):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    _resolver_patched = True


class GzyServer:
    """One gzy process on a temp data folder. Use start()/stop()/restart()/kill9()/close()."""

    def __init__(self, domain=None, threads=2, extra_args=()):
        self.external = external_endpoint()
        self.domain = domain
        self.threads = threads
        self.extra_args = list(extra_args)
        self.sanitized = os.environ.get("GZY_SANITIZED") == "1"
        self.bin = os.environ.get("GZY_BIN", "build/gzy")
        self.tmp = tempfile.mkdtemp(prefix="gzy-it-")
        self.data_dir = os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir)
        self.stdout_path = os.path.join(self.tmp, "stdout.log")
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        self.proc = None
        self.port = None
        self.admin_port = None  # the admin API listener (--admin-listen), read from the banner
        self.host = "127.0.0.1"
        self.scheme = "http"    # "https" when started with --tls-cert (banner says so)
        self.ca_bundle = None   # PEM file clients trust for https (set by TLS tests)
        self.problems = []  # failures noticed while stopping (reported by close())
        if self.external:
            u = urllib.parse.urlsplit(self.external)
            self.host, self.port = u.hostname, u.port or 80
            self.access_key = os.environ.get("GZY_TEST_ACCESS_KEY", "testing")
            self.secret_key = os.environ.get("GZY_TEST_SECRET_KEY", "testing")
        else:
            self.access_key = "GZ" + secrets.token_hex(9).upper()
            self.secret_key = secrets.token_urlsafe(30)[:40]

    # ---- process control ----

    @property
    def endpoint(self):
        return "%s://%s:%d" % (self.scheme, self.host, self.port)

    @property
    def admin_endpoint(self):
        """http(s)://HOST:PORT of the admin API, or None (external endpoint, or turned off)."""
        return (None if self.admin_port is None
                else "%s://%s:%d" % (self.scheme, self.host, self.admin_port))

    def _wants_admin(self):
        return "--admin-listen" not in self.extra_args

    def _env(self):
        env = dict(os.environ)
        env["GZY_ROOT_ACCESS_KEY"] = self.access_key
        env["GZY_ROOT_SECRET_KEY"] = self.secret_key
        if self.ca_bundle:
            env["GZY_CA_BUNDLE"] = self.ca_bundle  # gzy admin / migrate trusting the test CA
        if self.sanitized:
            env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
            env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        return env

    def start(self, port=0):
        if self.external:
            return self
        if not os.path.exists(self.bin):
            raise AssertionError("server binary %s does not exist" % self.bin)
        cmd = [self.bin, "serve", "--data", self.data_dir, "--listen",
               "127.0.0.1:%d" % port, "--threads", str(self.threads)]
        if self.domain:
            cmd += ["--domain", self.domain]
        if self._wants_admin():
            # A free port, kept across restarts (like the S3 port).
            cmd += ["--admin-listen", "127.0.0.1:%d" % ((self.admin_port or 0) if port else 0)]
        cmd += self.extra_args
        offset = os.path.getsize(self.stdout_path) if os.path.exists(self.stdout_path) else 0
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            # Same process group as the test worker: if tests/run.py kills a hung module's
            # group, its servers go with it.
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         env=self._env())
            _live_servers.add(self)
        deadline = time.monotonic() + START_TIMEOUT_S
        self.port = None
        admin_seen = not self._wants_admin()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("gzy exited with status %s during startup: %s\n%s"
                                     % (self.proc.returncode, " ".join(cmd), self.logs()))
            if self.port is None or not admin_seen:
                with open(self.stdout_path, "rb") as f:
                    f.seek(offset)
                    banner = f.read()
                m = re.search(rb"S3 endpoint: (https?)://([0-9.]+):(\d+)", banner)
                if m:
                    self.scheme = m.group(1).decode()
                    self.host, self.port = m.group(2).decode(), int(m.group(3))
                a = re.search(rb"Admin API: https?://[^\s:]+:(\d+)", banner)
                if a:
                    self.admin_port, admin_seen = int(a.group(1)), True
            if self.port is not None and admin_seen and self._answers():
                return self
            time.sleep(0.05)
        self._kill()
        raise AssertionError("gzy did not %s within %.0fs: %s\n%s"
                             % ("print 'S3 endpoint: http://...'" if self.port is None
                                else "answer on port %d" % self.port,
                                START_TIMEOUT_S, " ".join(cmd), self.logs()))

    def _answers(self):
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        """SIGTERM and wait; a server that needs SIGKILL or exits non-zero is a failure."""
        if self.external or self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self.problems.append("gzy did not exit within %.0fs of SIGTERM (SIGKILLed)"
                                     % STOP_TIMEOUT_S)
                return
            if proc.returncode != 0:
                self.problems.append("gzy exited with status %d after SIGTERM (expected a clean "
                                     "exit 0)" % proc.returncode)
        else:
            self.problems.append("gzy had already exited with status %d before stop()"
                                 % proc.returncode)

    def kill9(self):
        if self.external:
            raise unittest.SkipTest("kill -9 needs the real gzy")
        proc, self.proc = self.proc, None
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def restart(self, kill=False):
        """Stops (SIGTERM, or SIGKILL when kill=True) and starts again on the same data and
        port. Raises AssertionError if the stop was not clean."""
        if self.external:
            raise unittest.SkipTest("restart needs the real gzy")
        port = self.port
        if kill:
            self.kill9()
        else:
            self.stop()
            if self.problems:
                raise AssertionError("; ".join(self.problems) + "\n" + self.logs())
        self.start(port=port)
        return self

    def sanitizer_report(self):
        text = self.stderr_text()
        for marker in SANITIZER_MARKERS:
            i = text.find(marker)
            if i >= 0:
                start = text.rfind("\n", 0, max(0, i - 200)) + 1
                return text[start:start + 6000]
        return None

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def logs(self, tail=4000):
        out = ""
        for label, path in (("stdout", self.stdout_path), ("stderr", self.stderr_path)):
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                text = ""
            out += "--- gzy %s (last %d chars) ---\n%s\n" % (label, tail, text[-tail:])
        return out

    def close(self):
        """Stops the server, removes the temp folder, and raises AssertionError for an unclean
        stop or a sanitizer report (so the test class fails)."""
        try:
            self.stop()
        finally:
            _live_servers.discard(self)
            report = None if self.external else self.sanitizer_report()
            if report:
                self.problems.append("sanitizer report in gzy stderr:\n" + report)
            logs = self.logs() if self.problems else ""
            keep = os.environ.get("GZY_KEEP_TMP") == "1"
            if not keep:
                shutil.rmtree(self.tmp, ignore_errors=True)
        if self.problems:
            raise AssertionError("\n".join(self.problems) + "\n" + logs)

    # ---- clients ----

    def client(self, addressing="path", access_key=None, secret_key=None,
               signature_version="s3v4", **config):
        cfg = dict(
            signature_version=signature_version,
            s3={"addressing_style": addressing},
            retries={"total_max_attempts": 1},
            connect_timeout=10,
            read_timeout=120,
            region_name=REGION,
        )
        cfg.update(config)
        endpoint = self.endpoint
        if addressing == "virtual":
            if not self.domain:
                raise ValueError("virtual-hosted addressing needs GzyServer(domain=...)")
            _patch_resolver_for_vhost()
            endpoint = "%s://%s:%d" % (self.scheme, self.domain, self.port)
        session = boto3.session.Session()
        return session.client(
            "s3", endpoint_url=endpoint, verify=self.ca_bundle if self.ca_bundle else None,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=botocore.config.Config(**cfg))

    def tool_env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": self._write_once("aws-config", (
                "[default]\nregion = %s\nmax_attempts = 1\nretry_mode = standard\n"
                "s3 =\n    addressing_style = path\n" % REGION)),
            "AWS_SHARED_CREDENTIALS_FILE": self._write_once("aws-credentials", ""),
            "AWS_EC2_METADATA_DISABLED": "true",
            "HOME": self.tmp,
        })
        if self.ca_bundle:
            env["AWS_CA_BUNDLE"] = self.ca_bundle
        env.update(extra or {})
        return env

    def _write_once(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def _run(self, cmd, env, check, timeout, input_bytes=None):
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, input=input_bytes,
                           stdin=None if input_bytes is not None else subprocess.DEVNULL)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        if check and p.returncode != 0:
            raise AssertionError("command failed (exit %d): %s\n--- stdout ---\n%s\n"
                                 "--- stderr ---\n%s" % (p.returncode, " ".join(cmd),
                                                         out[-4000:], err[-4000:]))
        return subprocess.CompletedProcess(cmd, p.returncode, out, err)

    def admin(self, *args, check=True, access_key=None, secret_key=None, timeout=120):
        """Runs `$GZY_BIN admin --endpoint ADMIN --access-key K --secret-key S ARGS` (the root
        credential unless given); returns CompletedProcess (text stdout/stderr)."""
        if self.admin_endpoint is None:
            raise unittest.SkipTest("no admin API listener")
        cmd = [self.bin, "admin", "--endpoint", self.admin_endpoint,
               "--access-key", access_key or self.access_key,
               "--secret-key", secret_key or self.secret_key] + [str(a) for a in args]
        return self._run(cmd, self._env(), check, timeout)

    def admin_json(self, *args, **kwargs):
        """`admin(..., "--json")`, parsed ({} for an empty answer)."""
        p = self.admin("--json", *args, **kwargs)
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def aws(self, *args, check=True, timeout=600):
        """Runs the aws CLI against the server; returns CompletedProcess (text stdout)."""
        cmd = ["aws", "--endpoint-url", self.endpoint] + list(args)
        return self._run(cmd, self.tool_env(), check, timeout)

    def rclone(self, *args, check=True, timeout=600):
        """Runs rclone with a remote named 'gzy:' pointing at the server."""
        conf = self._write_once("rclone.conf", (
            "[gzy]\ntype = s3\nprovider = Other\nenv_auth = false\n"
            "access_key_id = %s\nsecret_access_key = %s\nendpoint = %s\nregion = %s\n"
            "force_path_style = true\n" % (self.access_key, self.secret_key, self.endpoint,
                                           REGION)))
        cmd = ["rclone", "--config", conf, "--retries", "1", "--low-level-retries", "1",
               "--contimeout", "10s", "--timeout", "60s"] + list(args)
        return self._run(cmd, self.tool_env(), check, timeout)

    def s3cmd(self, *args, check=True, timeout=600):
        """Runs s3cmd with a temp config (path-style, plain HTTP, SigV4)."""
        hostport = "%s:%d" % (self.host, self.port)
        conf = self._write_once("s3cfg", (
            "[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\n"
            "use_https = False\nsignature_v2 = False\nbucket_location = %s\n"
            "check_ssl_certificate = False\nmax_retries = 1\n"
            % (self.access_key, self.secret_key, hostport, hostport, REGION)))
        cmd = ["s3cmd", "-c", conf, "--no-progress"] + list(args)
        return self._run(cmd, self.tool_env(), check, timeout)

    # ---- raw requests ----

    def connect(self, timeout=30.0):
        return RawConnection(self.host, self.port, timeout=timeout)

    def host_header(self, bucket=None):
        if bucket and self.domain:
            return "%s.%s:%d" % (bucket, self.domain, self.port)
        return "%s:%d" % (self.host, self.port)

    def get_until_closed(self, bucket, key):
        """A signed GET read until the server closes the connection: (status, headers, body
        bytes). For bodies cut short after the headers (a damaged block found mid-object)."""
        req, _ = self.signed_request_bytes("GET", "/%s/%s" % (bucket, key), (), None, b"")
        with self.connect() as conn:
            conn.send(req)
            status, _, headers = conn.read_head()
            while True:
                try:
                    conn._fill()
                except (ConnectionError, OSError):
                    break
            return status, headers, bytes(conn.buf)

    def signed_request_bytes(self, method, path, query=(), headers=None, body=b"",
                             payload_hash=None, amz_date=None, access_key=None,
                             secret_key=None, host=None, region=REGION, sign=True,
                             omit_length=False):
        """Builds the bytes of one signed HTTP/1.1 request. path is the raw path
        ('/bucket/key'); it is URI-encoded here. Returns (bytes, SigV4Context or None)."""
        enc_path = uri_encode(path, encode_slash=False)
        query = list(query)
        target = enc_path + ("?" + wire_query(query) if query else "")
        h = {"Host": host or self.host_header()}
        h.update(headers or {})
        if not omit_length and "Content-Length" not in h and (body or method in ("PUT", "POST")):
            h["Content-Length"] = str(len(body))
        ctx = None
        if sign:
            if payload_hash is None:
                payload_hash = hashlib.sha256(body).hexdigest()
            ctx = sigv4_sign(method, enc_path, query, h, payload_hash,
                             access_key or self.access_key, secret_key or self.secret_key,
                             amz_date=amz_date, region=region)
        return build_request(method, target, h, body), ctx

    def request(self, method, path, query=(), headers=None, body=b"", **kwargs):
        """One signed request on a fresh connection; returns RawResponse."""
        data, _ = self.signed_request_bytes(method, path, query, headers, body, **kwargs)
        with self.connect() as conn:
            conn.send(data)
            return conn.read_response(method)

    def streaming_put(self, bucket, key, data, mode, checksum_alg=None, chunk_size=64 * 1024,
                      bad_checksum=False, tamper_chunk=None, bad_trailer_signature=False,
                      decoded_length=None, extra_headers=None):
        """PUTs data with an aws-chunked body (mode: STREAM_*), optionally with a trailing
        x-amz-checksum-<checksum_alg>. Returns RawResponse."""
        headers = {
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(data) if decoded_length is None
                                                else decoded_length),
        }
        trailer = None
        if checksum_alg:
            name = "x-amz-checksum-" + checksum_alg.lower()
            value = checksum_b64(checksum_alg, data)
            if bad_checksum:
                value = checksum_b64(checksum_alg, data + b"x")
            trailer = (name, value)
            headers["x-amz-trailer"] = name
            headers["x-amz-sdk-checksum-algorithm"] = checksum_alg.upper()
        headers.update(extra_headers or {})
        # The encoded length depends only on sizes, so compute it with a dummy context.
        dummy = SigV4Context(b"k" * 32, amz_now(), "x", "0" * 64)
        headers["Content-Length"] = str(len(aws_chunked_body(
            data, mode, dummy, chunk_size, trailer)))
        path = "/%s/%s" % (bucket, key)
        h = {"Host": self.host_header()}
        h.update(headers)
        enc_path = uri_encode(path, encode_slash=False)
        ctx = sigv4_sign("PUT", enc_path, [], h, mode, self.access_key, self.secret_key)
        body = aws_chunked_body(data, mode, ctx, chunk_size, trailer, tamper_chunk=tamper_chunk,
                                bad_trailer_signature=bad_trailer_signature)
        assert len(body) == int(h["Content-Length"])
        with self.connect(timeout=60) as conn:
            conn.send(build_request("PUT", enc_path, h, body))
            return conn.read_response("PUT")


class ServerTestCase(unittest.TestCase):
    """One server per test class; `self.s3` is a path-style boto3 client."""

    server_kwargs = {}
    gzy_only = False  # the whole class needs the real gzy (skipped against GZY_TEST_ENDPOINT)

    @classmethod
    def setUpClass(cls):
        if cls.gzy_only and external_endpoint():
            raise unittest.SkipTest("needs the real gzy binary")
        cls.server = GzyServer(**cls.server_kwargs)
        try:
            cls.server.start()
        except BaseException:
            try:
                cls.server.close()
            except AssertionError:
                pass
            raise
        cls.s3 = cls.server.client()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def new_bucket(self, prefix=None, create=True):
        name = unique_bucket(prefix or self._testMethodName.replace("test_", "")[:20])
        if create:
            self.s3.create_bucket(Bucket=name)
        return name

    def put(self, bucket, key, body=b"", **kwargs):
        return self.s3.put_object(Bucket=bucket, Key=key, Body=body, **kwargs)

    def get_bytes(self, bucket, key, **kwargs):
        return self.s3.get_object(Bucket=bucket, Key=key, **kwargs)["Body"].read()

    def assertS3Error(self, code, fn, *args, status=None, **kwargs):
        """Calls fn and asserts it raises a botocore ClientError with this S3 error code (and
        HTTP status). Returns the error response dict."""
        try:
            fn(*args, **kwargs)
        except botocore.exceptions.ClientError as e:
            got = e.response.get("Error", {}).get("Code")
            got_status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            self.assertEqual(got, code, "expected S3 error %s, got %s (HTTP %s): %s"
                             % (code, got, got_status, e.response.get("Error")))
            if status is not None:
                self.assertEqual(got_status, status, "HTTP status for %s" % code)
            return e.response
        self.fail("expected S3 error %s, but the call succeeded" % code)

    def assertRawError(self, resp, status, code):
        self.assertEqual(resp.status, status, "HTTP status (body %r)" % resp.body[:500])
        if code is not None:
            self.assertEqual(resp.error_code, code, "S3 error code (body %r)" % resp.body[:500])
