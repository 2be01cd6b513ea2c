"""tenancy.py - fixtures for the tenancy tests (issue 3): tenants, users and keys created through
`gzy admin` (the binary from GZY_BIN) against a server the harness started, a SigV4-signed raw
client for the admin JSON API, valid unified social credit codes, and `gzy audit` runners.

Everything here talks to a real server; harness.GzyServer opens the admin listener on a free
loopback port and reads it from the banner ("Admin API: http://...").
"""

import hashlib
import http.client
import json
import os
import secrets
import subprocess
import threading
import urllib.parse

import harness as h

# ------------------------------------------------------------------------------------------
# Unified social credit codes (GB 32100-2015)
# ------------------------------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, Z, S, V
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
_ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


def _org_check(first8):
    """GB 11714 check character of an organisation code's first eight characters."""
    total = sum((int(c) if c.isdigit() else ord(c) - ord("A") + 10) * w
                for c, w in zip(first8, _ORG_WEIGHTS))
    c = 11 - total % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def uscc_check(first17):
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def make_uscc(division="110108"):
    """A random valid code: '91' (enterprise), division, organisation code, check."""
    org8 = "".join(secrets.choice("0123456789") for _ in range(8))
    first17 = "91" + division + org8 + _org_check(org8)
    return first17 + uscc_check(first17)


# ------------------------------------------------------------------------------------------
# The admin listener
# ------------------------------------------------------------------------------------------

def server_kwargs():
    """GzyServer arguments for tenancy tests. Empty: the harness opens the admin listener on a
    free loopback port by itself. Kept as a stable hook (test_audit_cli.py uses it)."""
    return {}


def admin_endpoint(server):
    """http://HOST:PORT of the server's admin API (the harness re-reads it on restart)."""
    ep = server.admin_endpoint
    if not ep:
        raise AssertionError("the server has no admin API listener\n" + server.logs())
    return ep


class AdminResponse:
    def __init__(self, status, body):
        self.status = status
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def error_code(self):
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None

    @property
    def error_message(self):
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("message") or ""
        return ""

    def __repr__(self):
        return "<AdminResponse %d %r>" % (self.status, self.raw[:400])


def admin_request(server, method, path, body=None, query=(), access_key=None, secret_key=None):
    """One SigV4-signed admin API request (service s3, the server's region)."""
    u = urllib.parse.urlsplit(admin_endpoint(server))
    data = b"" if body is None else json.dumps(body).encode()
    headers = {"Host": u.netloc}
    if data or method in ("POST", "PUT"):
        headers["Content-Length"] = str(len(data))
        headers["Content-Type"] = "application/json"
    enc_path = h.uri_encode(path, encode_slash=False)
    query = list(query)
    h.sigv4_sign(method, enc_path, query, headers, hashlib.sha256(data).hexdigest(),
                 access_key or server.access_key, secret_key or server.secret_key)
    target = enc_path + ("?" + h.wire_query(query) if query else "")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders(data or None)
        resp = conn.getresponse()
        return AdminResponse(resp.status, resp.read())
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------
# gzy admin / gzy audit
# ------------------------------------------------------------------------------------------

def gzy_bin():
    return os.path.abspath(os.environ.get("GZY_BIN", "build/gzy"))


def _cli_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GZY_ACCESS", "GZY_SECRET", "GZY_ROOT", "GZY_ADMIN"))}
    if os.environ.get("GZY_SANITIZED") == "1":
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return env


def run_gzy(*args, check=True, timeout=120):
    """Runs `gzy ARGS`; fails on a sanitizer report, and on a non-zero exit when check."""
    cmd = [gzy_bin()] + [str(a) for a in args]
    p = subprocess.run(cmd, env=_cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    for marker in h.SANITIZER_MARKERS:
        if marker in err:
            raise AssertionError("sanitizer report from %s:\n%s" % (" ".join(cmd), err[-6000:]))
    if check and p.returncode != 0:
        raise AssertionError("command failed (exit %d): %s\n--- stdout ---\n%s\n--- stderr ---\n%s"
                             % (p.returncode, " ".join(cmd), out[-4000:], err[-4000:]))
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def gzy_admin(server, *args, check=True, as_json=True, access_key=None, secret_key=None):
    """`gzy admin --endpoint ... --access-key ... --secret-key ... [--json] ARGS`. Returns the
    parsed JSON (as_json) or the CompletedProcess."""
    cmd = ["admin", "--endpoint", admin_endpoint(server),
           "--access-key", access_key or server.access_key,
           "--secret-key", secret_key or server.secret_key]
    if as_json:
        cmd.append("--json")
    p = run_gzy(*(cmd + list(args)), check=check)
    if not as_json or (not check and p.returncode != 0):
        return p
    try:
        return json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        raise AssertionError("gzy admin %s --json printed no JSON: %r"
                             % (" ".join(map(str, args)), p.stdout[:2000]))


def audit_export(data_dir, *extra, fmt="jsonl"):
    p = run_gzy("audit", "export", "--data", data_dir, "--format", fmt, *extra)
    if fmt != "jsonl":
        return p.stdout
    entries = []
    for line in p.stdout.splitlines():
        if line.strip():
            entries.append(json.loads(line))
    return entries


def audit_verify(data_dir):
    return run_gzy("audit", "verify", "--data", data_dir, check=False)


# ------------------------------------------------------------------------------------------
# Tenants, users, keys
# ------------------------------------------------------------------------------------------

class Principal:
    """A user with one access key, and clients that use it."""

    def __init__(self, server, tenant, name, role, access_key, secret_key, user_id=None):
        self.server = server
        self.tenant = tenant
        self.name = name
        self.role = role
        self.access_key = access_key
        self.secret_key = secret_key
        self.user_id = user_id
        self._s3 = None
        self._lock = threading.Lock()

    @property
    def arn(self):
        return "arn:aws:iam::%s:user/%s" % (self.tenant, self.name)

    @property
    def s3(self):
        with self._lock:
            if self._s3 is None:
                self._s3 = self.client()
            return self._s3

    def client(self, **kw):
        return self.server.client(access_key=self.access_key, secret_key=self.secret_key, **kw)

    def request(self, method, path, **kw):
        """A raw signed S3 request with this principal's key (harness.RawResponse)."""
        return self.server.request(method, path, access_key=self.access_key,
                                   secret_key=self.secret_key, **kw)

    def admin(self, method, path, body=None, query=()):
        return admin_request(self.server, method, path, body, query, self.access_key,
                             self.secret_key)

    def __repr__(self):
        return "<%s/%s %s>" % (self.tenant, self.name, self.role)


class Tenancy:
    """Creates tenants, users and keys through `gzy admin` as the server's root credential."""

    def __init__(self, server):
        self.server = server

    def admin(self, *args, **kw):
        return gzy_admin(self.server, *args, **kw)

    def tenant_add(self, name, uscc=None, max_bytes=None, max_objects=None, contact=None):
        args = ["tenant", "add", name, "--uscc", uscc or make_uscc()]
        if contact:
            args += ["--contact", contact]
        if max_bytes is not None:
            args += ["--max-bytes", max_bytes]
        if max_objects is not None:
            args += ["--max-objects", max_objects]
        return self.admin(*args)

    def user_add(self, tenant, name, role):
        return self.admin("user", "add", "%s/%s" % (tenant, name), "--role", role)

    def key_create(self, tenant, name, access_key=None, secret_key=None):
        args = ["key", "create", "%s/%s" % (tenant, name)]
        if access_key:
            args += ["--access-key", access_key, "--secret-key", secret_key]
        out = self.admin(*args)
        key = out.get("key", out) if isinstance(out, dict) else {}
        ak = key.get("access_key")
        sk = key.get("secret_key") or out.get("secret_key")
        if not ak or not sk:
            raise AssertionError("gzy admin key create printed no access_key/secret_key: %r"
                                 % (out,))
        return ak, sk

    def principal(self, tenant, name, role):
        """A new user with one new key."""
        user = self.user_add(tenant, name, role)
        user_id = None
        if isinstance(user, dict):
            user_id = user.get("id") or (user.get("user") or {}).get("id")
        ak, sk = self.key_create(tenant, name)
        return Principal(self.server, tenant, name, role, ak, sk, user_id)

    def tenant_quota(self, tenant, max_bytes=None, max_objects=None):
        args = ["tenant", "quota", tenant]
        if max_bytes is not None:
            args += ["--max-bytes", max_bytes]
        if max_objects is not None:
            args += ["--max-objects", max_objects]
        return self.admin(*args)

    def bucket_quota(self, bucket, max_bytes=None, max_objects=None):
        args = ["bucket", "quota", bucket]
        if max_bytes is not None:
            args += ["--max-bytes", max_bytes]
        if max_objects is not None:
            args += ["--max-objects", max_objects]
        return self.admin(*args)

    def usage(self, tenant):
        """(tenant {bytes, objects}, {bucket: {bytes, objects}}) from `gzy admin usage
        --tenant T --json`."""
        out = self.admin("usage", "--tenant", tenant)
        rows = [t for t in out.get("tenants", []) if t.get("name") == tenant]
        if len(rows) != 1:
            raise AssertionError("gzy admin usage --tenant %s: no single row for the tenant: %r"
                                 % (tenant, out))
        t = rows[0]
        buckets = {b["name"]: {"bytes": b["bytes"], "objects": b["objects"]}
                   for b in t.get("buckets", [])}
        return {"bytes": t["bytes"], "objects": t["objects"]}, buckets


def unique_tenant(prefix="t"):
    return "%s-%s" % (prefix, secrets.token_hex(3))


# ------------------------------------------------------------------------------------------
# Assertions shared by the tenancy tests
# ------------------------------------------------------------------------------------------

def client_error(fn, *args, **kwargs):
    """Calls a boto3 method; returns (HTTP status, error code, message) or (status, None, None)
    on success."""
    try:
        r = fn(*args, **kwargs)
    except h.botocore.exceptions.ClientError as e:
        err = e.response.get("Error", {})
        return (e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
                err.get("Code"), err.get("Message") or "")
    body = r.get("Body") if isinstance(r, dict) else None
    if body is not None:
        body.read()
    return r.get("ResponseMetadata", {}).get("HTTPStatusCode", 200), None, None


class TenancyMixin:
    """Mixed into h.ServerTestCase subclasses."""

    def assertDenied(self, label, fn, *args, code="AccessDenied", status=403, **kwargs):
        """fn must fail with HTTP status and (when the response has a body) this code."""
        got_status, got_code, msg = client_error(fn, *args, **kwargs)
        self.assertIsNotNone(got_code, "%s: expected %s %s, but it succeeded" % (label, status,
                                                                                 code))
        self.assertEqual(got_status, status, "%s: HTTP status (code %s: %s)" % (label, got_code,
                                                                                msg))
        if got_code != str(status):  # HEAD answers carry no body, boto3 reports "403"
            self.assertEqual(got_code, code, "%s: error code (%s)" % (label, msg))
        return msg

    def assertAllowed(self, label, fn, *args, **kwargs):
        got_status, got_code, msg = client_error(fn, *args, **kwargs)
        self.assertIsNone(got_code, "%s: expected success, got HTTP %s %s: %s"
                          % (label, got_status, got_code, msg))

    def bucket_snapshot(self, client, bucket):
        """{key: (etag, size, sha256 of data)} for every object of bucket."""
        snap = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                data = client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                snap[o["Key"]] = (o["ETag"], o["Size"], hashlib.sha256(data).hexdigest())
        return snap


class MotoTenancyCase(h.ServerTestCase, TenancyMixin):
    """A gzy server (gzy only) with the tenancy helpers (cls.ten) and a moto_server as the
    third-party S3 source (cls.moto), stopped with the class. Subclasses add their tenants in
    setUpClass after calling super()."""
    gzy_only = True

    @classmethod
    def setUpClass(cls):
        from motopeer import Moto
        super().setUpClass()
        cls.moto = Moto()
        cls.ten = Tenancy(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.moto.close()
        super().tearDownClass()
