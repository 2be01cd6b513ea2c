"""test_console_api.py - the web console's server side (issue 5, docs/console-api.md): the
embedded assets and their headers, sign-in sessions (cookie flags, failures, rate limit, expiry,
revocation), CSRF and Origin checks on /admin/v1/ calls made with the cookie, and the object
browsing routes (tenant isolation, supervisors denied, binary round trip, Unicode keys, 413,
quota), all against a real `gzy serve`.
"""

import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
import unittest
import urllib.parse

import requests

import harness as h
import tenancy as tn

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def console_url(server, path):
    return tn.admin_endpoint(server) + path


class ConsoleClient:
    """A browser-like client: one requests.Session holding the cookie, plus the CSRF token."""

    def __init__(self, server):
        self.server = server
        self.http = requests.Session()
        self.csrf = None
        self.doc = None
        self.verify = server.ca_bundle or True  # per request: env settings would override

    def sign_in(self, access_key, secret_key):
        r = self.http.post(console_url(self.server, "/console/api/session"),
                           json={"access_key": access_key, "secret_key": secret_key}, timeout=30,
                           verify=self.verify)
        if r.status_code == 200:
            self.doc = r.json()
            self.csrf = self.doc["csrf_token"]
        return r

    def call(self, method, path, csrf=True, headers=None, **kw):
        hdrs = dict(headers or {})
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            hdrs.setdefault("X-CSRF-Token", self.csrf)
        return self.http.request(method, console_url(self.server, path), headers=hdrs,
                                 timeout=60, allow_redirects=False, verify=self.verify, **kw)

    def object_url(self, bucket, key=None, listing=False):
        path = "/admin/v1/buckets/%s/%s" % (bucket, "objects" if listing else "object")
        if key is not None:
            path += "?key=" + urllib.parse.quote(key, safe="")
        return path


def raw_admin(server, method, target, headers, body=b"", source=None):
    """One raw request on the admin listener (optionally from another loopback address)."""
    u = urllib.parse.urlsplit(tn.admin_endpoint(server))
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30,
                                      source_address=(source, 0) if source else None)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", u.netloc)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders(body or None)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def signed_admin_bytes(server, principal, method, path, query, body, content_type=None):
    """A SigV4-signed admin request with a raw (binary) body."""
    u = urllib.parse.urlsplit(tn.admin_endpoint(server))
    headers = {"Host": u.netloc, "Content-Length": str(len(body))}
    if content_type:
        headers["Content-Type"] = content_type
    enc_path = h.uri_encode(path, encode_slash=False)
    h.sigv4_sign(method, enc_path, list(query), headers, hashlib.sha256(body).hexdigest(),
                 principal.access_key, principal.secret_key)
    target = enc_path + ("?" + h.wire_query(list(query)) if query else "")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders(body or None)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class ConsoleCase(h.ServerTestCase):
    gzy_only = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t = tn.Tenancy(cls.server)

    def root_client(self):
        c = ConsoleClient(self.server)
        r = c.sign_in(self.server.access_key, self.server.secret_key)
        self.assertEqual(r.status_code, 200, r.text)
        return c

    def tenant_with_admin(self, prefix="co"):
        tenant = tn.unique_tenant(prefix)
        self.t.tenant_add(tenant)
        admin = self.t.principal(tenant, "admin", "tenant-admin")
        c = ConsoleClient(self.server)
        r = c.sign_in(admin.access_key, admin.secret_key)
        self.assertEqual(r.status_code, 200, r.text)
        return tenant, admin, c

    def assertError(self, r, status, code):
        self.assertEqual(r.status_code, status, r.text[:500])
        doc = r.json()
        got = doc["error"]["code"] if isinstance(doc.get("error"), dict) else doc.get("error")
        self.assertEqual(got, code, r.text[:500])


class TestConsoleSessions(ConsoleCase):
    def test_root_redirects_to_console(self):
        for path in ("/", "/console"):
            r = requests.get(console_url(self.server, path), allow_redirects=False, timeout=10)
            self.assertEqual(r.status_code, 302, path)
            self.assertEqual(r.headers["Location"], "/console/")

    def test_sign_in_sets_a_strict_cookie(self):
        c = ConsoleClient(self.server)
        r = c.sign_in(self.server.access_key, self.server.secret_key)
        self.assertEqual(r.status_code, 200, r.text)
        cookie = r.headers["Set-Cookie"]
        m = re.match(r"gzy_session=([0-9a-f]{64});", cookie)
        self.assertIsNotNone(m, cookie)
        for flag in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"):
            self.assertIn(flag, cookie)
        self.assertNotIn("Secure", cookie)  # plain HTTP listener
        doc = r.json()
        self.assertEqual(doc["role"], "platform-admin")
        self.assertEqual(doc["tenant_name"], "platform")
        self.assertRegex(doc["csrf_token"], r"^[0-9a-f]{64}$")
        self.assertNotEqual(doc["csrf_token"], m.group(1))
        self.assertRegex(doc["expires"], r"^\d{4}-\d\d-\d\dT")
        for k, v in SECURITY_HEADERS.items():
            self.assertEqual(r.headers.get(k), v, k)
        # The session answers GET, and admin calls with the cookie alone.
        g = c.call("GET", "/console/api/session")
        self.assertEqual(g.status_code, 200, g.text)
        self.assertEqual(g.json()["csrf_token"], doc["csrf_token"])
        w = c.call("GET", "/admin/v1/whoami")
        self.assertEqual(w.status_code, 200, w.text)

    def test_signing_in_again_ends_the_old_session(self):
        c = self.root_client()
        old = c.http.cookies.get("gzy_session")
        self.assertEqual(c.sign_in(self.server.access_key, self.server.secret_key).status_code,
                         200)
        new = c.http.cookies.get("gzy_session")
        self.assertNotEqual(old, new)
        r = requests.get(console_url(self.server, "/console/api/session"),
                         cookies={"gzy_session": old}, timeout=10)
        self.assertError(r, 401, "NoSession")
        self.assertEqual(c.call("GET", "/console/api/session").status_code, 200)

    def test_tenant_admin_session_document(self):
        tenant, admin, c = self.tenant_with_admin()
        self.assertEqual(c.doc["role"], "tenant-admin")
        self.assertEqual(c.doc["tenant_name"], tenant)
        self.assertEqual(c.doc["user"], "admin")
        self.assertRegex(c.doc["tenant"], r"^[0-9a-f]{64}$")

    def test_wrong_credentials(self):
        c = ConsoleClient(self.server)
        r = c.sign_in(self.server.access_key, self.server.secret_key + "x")
        self.assertError(r, 401, "InvalidCredentials")
        self.assertNotIn("Set-Cookie", r.headers)
        r = c.sign_in("NOSUCHKEY" + secrets.token_hex(4), "whatever-secret")
        self.assertError(r, 401, "InvalidCredentials")
        r = c.http.post(console_url(self.server, "/console/api/session"), data=b"not json",
                        timeout=10)
        self.assertError(r, 400, "InvalidArgument")
        self.assertError(c.call("GET", "/console/api/session"), 401, "NoSession")

    def test_failed_sign_ins_are_rate_limited_per_address(self):
        # From another loopback address so the other tests' sign-ins are not limited.
        src = "127.0.0.%d" % (2 + secrets.randbelow(200))
        body = json.dumps({"access_key": self.server.access_key, "secret_key": "wrong-secret"})
        hdrs = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        for i in range(10):
            st, _, data = raw_admin(self.server, "POST", "/console/api/session", hdrs,
                                    body.encode(), source=src)
            self.assertEqual(st, 401, "attempt %d: %r" % (i + 1, data))
        st, rh, data = raw_admin(self.server, "POST", "/console/api/session", hdrs,
                                 body.encode(), source=src)
        self.assertEqual(st, 429, data)
        self.assertEqual(json.loads(data)["error"], "TooManyRequests")
        self.assertGreater(int(rh["retry-after"]), 0)
        # Even the right secret waits, from that address ...
        good = json.dumps({"access_key": self.server.access_key,
                           "secret_key": self.server.secret_key}).encode()
        hdrs["Content-Length"] = str(len(good))
        st, _, _ = raw_admin(self.server, "POST", "/console/api/session", hdrs, good, source=src)
        self.assertEqual(st, 429)
        # ... but not from another one.
        st, _, data = raw_admin(self.server, "POST", "/console/api/session", hdrs, good)
        self.assertEqual(st, 200, data)

    def test_csrf_token_required_for_changes(self):
        c = self.root_client()
        name = tn.unique_tenant("csrf")
        body = {"name": name, "uscc": tn.make_uscc()}
        r = c.call("POST", "/admin/v1/tenants", csrf=False, json=body)
        self.assertError(r, 403, "CSRFTokenMismatch")
        r = c.call("POST", "/admin/v1/tenants", headers={"X-CSRF-Token": "0" * 64}, json=body)
        self.assertError(r, 403, "CSRFTokenMismatch")
        self.assertEqual(c.call("GET", "/admin/v1/tenants/" + name).status_code, 404)
        r = c.call("POST", "/admin/v1/tenants", json=body)
        self.assertIn(r.status_code, (200, 201), r.text)
        r = c.call("GET", "/admin/v1/tenants/" + name)
        self.assertEqual(r.status_code, 200, r.text)

    def test_origin_must_match_host(self):
        c = self.root_client()
        r = c.call("GET", "/admin/v1/whoami", headers={"Origin": "http://evil.example"})
        self.assertError(r, 403, "OriginMismatch")
        r = c.call("POST", "/admin/v1/tenants", json={"name": tn.unique_tenant("org"),
                                                      "uscc": tn.make_uscc()},
                   headers={"Origin": "http://evil.example"})
        self.assertError(r, 403, "OriginMismatch")
        own = tn.admin_endpoint(self.server)
        r = c.call("GET", "/admin/v1/whoami", headers={"Origin": own})
        self.assertEqual(r.status_code, 200, r.text)
        # A cross-site sign-in attempt is refused too.
        r = c.http.post(console_url(self.server, "/console/api/session"),
                        json={"access_key": self.server.access_key,
                              "secret_key": self.server.secret_key},
                        headers={"Origin": "http://evil.example"}, timeout=10)
        self.assertError(r, 403, "OriginMismatch")

    def test_sigv4_calls_unchanged(self):
        r = tn.admin_request(self.server, "GET", "/admin/v1/whoami")
        self.assertEqual(r.status, 200, r)
        r = tn.admin_request(self.server, "GET", "/admin/v1/whoami", secret_key="wrong" * 8)
        self.assertEqual(r.status, 403, r)
        # No credentials at all: refused as before.
        st, _, data = raw_admin(self.server, "GET", "/admin/v1/whoami", {})
        self.assertEqual(st, 403, data)

    def test_bad_cookie_is_refused(self):
        r = requests.get(console_url(self.server, "/admin/v1/whoami"),
                         cookies={"gzy_session": "ab" * 32}, timeout=10)
        self.assertError(r, 401, "SessionExpired")

    def test_sign_out(self):
        c = self.root_client()
        r = c.call("DELETE", "/console/api/session", csrf=False)
        self.assertError(r, 403, "CSRFTokenMismatch")
        token = c.http.cookies.get("gzy_session")
        r = c.call("DELETE", "/console/api/session")
        self.assertEqual(r.status_code, 204, r.text)
        self.assertIn("Max-Age=0", r.headers.get("Set-Cookie", ""))
        self.assertError(c.call("GET", "/console/api/session"), 401, "NoSession")
        # The old cookie, replayed by hand, is dead on the server too.
        jar = {"gzy_session": token}
        r = requests.get(console_url(self.server, "/admin/v1/whoami"), cookies=jar, timeout=10)
        self.assertError(r, 401, "SessionExpired")
        r = requests.get(console_url(self.server, "/console/api/session"), cookies=jar,
                         timeout=10)
        self.assertError(r, 401, "NoSession")

    def test_disabled_key_ends_the_session(self):
        tenant, admin, c = self.tenant_with_admin("dis")
        self.assertEqual(c.call("GET", "/admin/v1/whoami").status_code, 200)
        self.t.admin("key", "disable", admin.access_key)
        self.assertError(c.call("GET", "/admin/v1/whoami"), 401, "SessionExpired")
        self.t.admin("key", "enable", admin.access_key)
        # The session stays ended; a new sign-in works.
        self.assertError(c.call("GET", "/console/api/session"), 401, "NoSession")
        self.assertEqual(c.sign_in(admin.access_key, admin.secret_key).status_code, 200)

    def test_suspended_tenant_ends_the_session(self):
        tenant, admin, c = self.tenant_with_admin("sus")
        self.assertEqual(c.call("GET", "/admin/v1/whoami").status_code, 200)
        self.t.admin("tenant", "suspend", tenant)
        try:
            self.assertError(c.call("GET", "/admin/v1/whoami"), 401, "SessionExpired")
            r = c.sign_in(admin.access_key, admin.secret_key)
            self.assertError(r, 403, "TenantSuspended")
        finally:
            self.t.admin("tenant", "resume", tenant)

    def test_sign_in_and_out_are_audited(self):
        c = ConsoleClient(self.server)
        c.sign_in(self.server.access_key, "definitely-wrong")
        self.root_client().call("DELETE", "/console/api/session")
        deadline = time.monotonic() + 10
        while True:
            entries = tn.audit_export(self.server.data_dir)
            acts = [(e.get("action"), e.get("outcome")) for e in entries]
            want = {("admin:ConsoleSignIn", "deny"), ("admin:ConsoleSignIn", "allow"),
                    ("admin:ConsoleSignOut", "allow")}
            if want <= set(acts) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertLessEqual(want, set(acts), acts[-20:])


class TestConsoleAssets(ConsoleCase):
    def test_paths_outside_console_and_admin_are_plain_404s_not_audited(self):
        for path in ("/favicon.ico", "/robots.txt", "/.env"):
            r = requests.get(console_url(self.server, path), timeout=10)
            self.assertEqual(r.status_code, 404, path)
            self.assertEqual(r.json()["error"], "NotFound")
        time.sleep(1.5)  # the audit writer batches; give it time to show a wrong entry
        entries = tn.audit_export(self.server.data_dir)
        self.assertFalse([e for e in entries if e.get("action") == "admin:Unknown"],
                         "a stray path was audited as an admin call")

    def test_console_files_or_not_built_page(self):
        r = requests.get(console_url(self.server, "/console/"), timeout=10)
        for k, v in SECURITY_HEADERS.items():
            self.assertEqual(r.headers.get(k), v, k)
        csp = r.headers.get("Content-Security-Policy", "")
        self.assertIn("default-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)  # neither scripts nor style sheets inline
        self.assertNotIn("unsafe-eval", csp)
        if r.status_code == 503:
            self.assertIn("not built", r.text)
            self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
            return
        self.assertEqual(r.status_code, 200, r.text[:300])
        self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
        self.assertEqual(r.headers["Cache-Control"], "no-cache")
        etag = r.headers["ETag"]
        self.assertRegex(etag, r'^"[0-9a-f]+"$')
        r304 = requests.get(console_url(self.server, "/console/"),
                            headers={"If-None-Match": etag}, timeout=10)
        self.assertEqual(r304.status_code, 304)
        self.assertEqual(r304.content, b"")
        # Every script and style the page loads is served, hashed ones as immutable.
        refs = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', r.text)
        self.assertTrue(refs, "index.html loads no script")
        self.assertNotRegex(r.text, r"<script>(?!\s*</script>)", "inline script in index.html")
        for ref in refs:
            url = urllib.parse.urljoin(console_url(self.server, "/console/"), ref)
            a = requests.get(url, timeout=10)
            self.assertEqual(a.status_code, 200, url)
            kind = "javascript" if ref.endswith(".js") else "css"
            self.assertIn(kind, a.headers["Content-Type"], url)
            if re.search(r"-[A-Za-z0-9]{8,}\.(js|css)$", ref):
                self.assertIn("immutable", a.headers["Cache-Control"], url)
        nf = requests.get(console_url(self.server, "/console/no-such-file.js"), timeout=10)
        self.assertError(nf, 404, "NotFound")
        self.assertEqual(nf.headers.get("x-frame-options"), "DENY")

    def test_console_files_are_read_only(self):
        r = requests.post(console_url(self.server, "/console/index.html"), data=b"x", timeout=10)
        self.assertError(r, 405, "MethodNotAllowed")


class TestConsoleObjects(ConsoleCase):
    server_kwargs = {"extra_args": ["--sse-c-over-http", "on"]}  # one test sends SSE-C

    def make_bucket(self, principal):
        bucket = h.unique_bucket("cobj")
        principal.s3.create_bucket(Bucket=bucket)
        return bucket

    def test_objects_encrypted_at_rest_download_decrypted_and_sse_c_is_refused(self):
        tenant, admin, c = self.tenant_with_admin("enc")
        bucket = self.make_bucket(admin)
        data = os.urandom(200 * 1024 + 7)  # several 64 KiB segments
        for alg, key in (("AES256", "aes.bin"), ("SM4", "sm4.bin")):
            admin.s3.put_object(Bucket=bucket, Key=key, Body=data, ServerSideEncryption=alg)
            r = c.call("GET", c.object_url(bucket, key))
            self.assertEqual(r.status_code, 200, r.text[:200])
            self.assertEqual(int(r.headers["Content-Length"]), len(data))
            self.assertEqual(r.content, data, alg)
        ckey = os.urandom(32)
        admin.s3.put_object(Bucket=bucket, Key="c.bin", Body=b"secret",
                            SSECustomerAlgorithm="AES256", SSECustomerKey=ckey)
        self.assertError(c.call("GET", c.object_url(bucket, "c.bin")), 400, "InvalidRequest")
        # A bucket that encrypts by default takes uploads from S3 clients only.
        admin.s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        r = c.call("PUT", c.object_url(bucket, "up.bin"), data=b"plain")
        self.assertError(r, 409, "EncryptedBucket")
        with self.assertRaises(h.botocore.exceptions.ClientError):
            admin.s3.head_object(Bucket=bucket, Key="up.bin")

    def test_upload_list_download_delete_round_trip(self):
        tenant, admin, c = self.tenant_with_admin("obj")
        bucket = self.make_bucket(admin)
        data = bytes(range(256)) * 1000 + b"\x00\r\n\xff" + os.urandom(4096)
        key = "报告/2024 数据 ü+%&#.bin"
        r = c.call("PUT", c.object_url(bucket, key), data=data,
                   headers={"Content-Type": "application/x-gzy-test"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["etag"], hashlib.md5(data).hexdigest())
        self.assertEqual(r.json()["size"], len(data))
        # S3 sees the same object.
        got = admin.s3.get_object(Bucket=bucket, Key=key)
        self.assertEqual(got["Body"].read(), data)
        self.assertEqual(got["ContentType"], "application/x-gzy-test")
        admin.s3.put_object(Bucket=bucket, Key="报告/other.txt", Body=b"hi")
        admin.s3.put_object(Bucket=bucket, Key="top.txt", Body=b"top")
        # Listing with a delimiter.
        r = c.call("GET", c.object_url(bucket, listing=True) + "?delimiter=%2F")
        self.assertEqual(r.status_code, 200, r.text)
        doc = r.json()
        self.assertEqual([o["key"] for o in doc["objects"]], ["top.txt"])
        self.assertEqual(doc["prefixes"], ["报告/"])
        self.assertFalse(doc["truncated"])
        r = c.call("GET", c.object_url(bucket, listing=True) + "?prefix="
                   + urllib.parse.quote("报告/", safe=""))
        objs = {o["key"]: o for o in r.json()["objects"]}
        self.assertEqual(set(objs), {key, "报告/other.txt"})
        self.assertEqual(objs[key]["size"], len(data))
        self.assertEqual(objs[key]["etag"].strip('"'), hashlib.md5(data).hexdigest())
        self.assertRegex(objs[key]["last_modified"], r"^\d{4}-\d\d-\d\dT")
        # Paging.
        r = c.call("GET", c.object_url(bucket, listing=True) + "?max=2")
        page = r.json()
        self.assertTrue(page["truncated"])
        self.assertEqual(len(page["objects"]), 2)
        r = c.call("GET", c.object_url(bucket, listing=True) + "?max=2&marker="
                   + urllib.parse.quote(page["next_marker"], safe=""))
        self.assertEqual(len(r.json()["objects"]), 1)
        self.assertFalse(r.json()["truncated"])
        # Download: exact bytes, an attachment with the UTF-8 name.
        r = c.call("GET", c.object_url(bucket, key))
        self.assertEqual(r.status_code, 200, r.text[:300])
        self.assertEqual(r.content, data)
        self.assertEqual(r.headers["Content-Type"], "application/x-gzy-test")
        cd = r.headers["Content-Disposition"]
        self.assertTrue(cd.startswith("attachment;"), cd)
        name = "2024 数据 ü+%&#.bin"
        self.assertIn("filename*=UTF-8''" + urllib.parse.quote(name, safe="!#$&+^`|"), cd)
        m = re.search(r"filename\*=UTF-8''(\S+)", cd)
        self.assertEqual(urllib.parse.unquote(m.group(1)), name)
        # Delete.
        r = c.call("DELETE", c.object_url(bucket, key))
        self.assertEqual(r.status_code, 204, r.text)
        r = c.call("GET", c.object_url(bucket, key))
        self.assertError(r, 404, "NotFound")
        # Writes are audited.
        entries = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            entries = [e for e in tn.audit_export(self.server.data_dir)
                       if e.get("action") in ("admin:PutObject", "admin:DeleteObject")
                       and e.get("tenant") == tenant]
            if len(entries) >= 2:
                break
            time.sleep(0.2)
        self.assertEqual(sorted(e["action"] for e in entries),
                         ["admin:DeleteObject", "admin:PutObject"], entries)

    def test_csrf_applies_to_object_writes(self):
        tenant, admin, c = self.tenant_with_admin("ocsrf")
        bucket = self.make_bucket(admin)
        r = c.call("PUT", c.object_url(bucket, "k"), data=b"x", csrf=False)
        self.assertError(r, 403, "CSRFTokenMismatch")
        r = c.call("DELETE", c.object_url(bucket, "k"), csrf=False)
        self.assertError(r, 403, "CSRFTokenMismatch")

    def test_empty_object(self):
        tenant, admin, c = self.tenant_with_admin("oemp")
        bucket = self.make_bucket(admin)
        r = c.call("PUT", c.object_url(bucket, "empty"), data=b"")
        self.assertEqual(r.status_code, 200, r.text)
        r = c.call("GET", c.object_url(bucket, "empty"))
        self.assertEqual((r.status_code, r.content), (200, b""))
        self.assertEqual(r.headers["Content-Type"], "application/octet-stream")

    def test_tenant_isolation(self):
        ta, a_admin, a = self.tenant_with_admin("isa")
        tb, b_admin, b = self.tenant_with_admin("isb")
        bucket = self.make_bucket(a_admin)
        a_admin.s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"tenant a only")
        self.assertError(b.call("GET", b.object_url(bucket, listing=True)), 403, "AccessDenied")
        self.assertError(b.call("GET", b.object_url(bucket, "secret.txt")), 403, "AccessDenied")
        self.assertError(b.call("PUT", b.object_url(bucket, "x"), data=b"x"), 403,
                         "AccessDenied")
        self.assertError(b.call("DELETE", b.object_url(bucket, "secret.txt")), 403,
                         "AccessDenied")
        self.assertEqual(a_admin.s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read(),
                         b"tenant a only")
        # A tenant reader may read but not write, as in S3.
        reader = self.t.principal(ta, "reader", "tenant-reader")
        rc = ConsoleClient(self.server)
        self.assertEqual(rc.sign_in(reader.access_key, reader.secret_key).status_code, 200)
        self.assertEqual(rc.call("GET", rc.object_url(bucket, "secret.txt")).content,
                         b"tenant a only")
        self.assertError(rc.call("PUT", rc.object_url(bucket, "y"), data=b"y"), 403,
                         "AccessDenied")

    def test_platform_roles_cannot_read_object_data(self):
        ta, a_admin, a = self.tenant_with_admin("sup")
        bucket = self.make_bucket(a_admin)
        a_admin.s3.put_object(Bucket=bucket, Key="data.bin", Body=b"private")
        sup = self.t.principal("platform", "sup-" + secrets.token_hex(3), "supervisor")
        s = ConsoleClient(self.server)
        self.assertEqual(s.sign_in(sup.access_key, sup.secret_key).status_code, 200)
        root = self.root_client()
        for who in (s, root):
            self.assertError(who.call("GET", who.object_url(bucket, listing=True)), 403,
                             "AccessDenied")
            self.assertError(who.call("GET", who.object_url(bucket, "data.bin")), 403,
                             "AccessDenied")
            self.assertError(who.call("PUT", who.object_url(bucket, "n"), data=b"n"), 403,
                             "AccessDenied")
        # The supervisor still sees bucket metadata.
        r = s.call("GET", "/admin/v1/buckets")
        self.assertEqual(r.status_code, 200, r.text)

    def test_upload_over_64_mib_is_refused(self):
        tenant, admin, c = self.tenant_with_admin("big")
        bucket = self.make_bucket(admin)
        cookie = "gzy_session=" + c.http.cookies.get("gzy_session")
        u = urllib.parse.urlsplit(tn.admin_endpoint(self.server))
        with socket.create_connection((u.hostname, u.port), timeout=30) as sock:
            head = ("PUT %s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nX-CSRF-Token: %s\r\n"
                    "Content-Length: %d\r\n\r\n" % (c.object_url(bucket, "big.bin"), u.netloc,
                                                   cookie, c.csrf, 64 * 1024 * 1024 + 1))
            sock.sendall(head.encode())
            resp = b""
            while b"\r\n\r\n" not in resp or not resp.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                resp += chunk
        self.assertTrue(resp.startswith(b"HTTP/1.1 413"), resp[:300])
        self.assertIn(b"use an S3 client for larger files", resp)

    def test_chunked_upload_over_the_limit_is_cut_off(self):
        tenant, admin, c = self.tenant_with_admin("bigc")
        bucket = self.make_bucket(admin)
        block = b"z" * (1024 * 1024)

        def body():
            for _ in range(65):
                yield block
        try:
            r = c.call("PUT", c.object_url(bucket, "big.bin"), data=body())
            self.assertError(r, 413, "EntityTooLarge")
        except requests.exceptions.ConnectionError:
            pass  # the server may close before the client finishes sending
        c.http.close()  # the refused upload's connection is closed by the server
        r = c.call("GET", c.object_url(bucket, listing=True))
        self.assertEqual(r.json()["objects"], [])

    def test_quota_is_enforced(self):
        tenant, admin, c = self.tenant_with_admin("quo")
        bucket = self.make_bucket(admin)
        self.t.tenant_quota(tenant, max_bytes=1000)
        r = c.call("PUT", c.object_url(bucket, "small"), data=b"s" * 600)
        self.assertEqual(r.status_code, 200, r.text)
        r = c.call("PUT", c.object_url(bucket, "large"), data=b"l" * 600)
        self.assertError(r, 403, "QuotaExceeded")

    def test_bad_key_parameter(self):
        tenant, admin, c = self.tenant_with_admin("bk")
        bucket = self.make_bucket(admin)
        self.assertError(c.call("GET", "/admin/v1/buckets/%s/object" % bucket), 400,
                         "InvalidArgument")
        self.assertError(c.call("GET", c.object_url(bucket, "x" * 1025)), 400,
                         "InvalidArgument")
        self.assertError(c.call("GET", c.object_url("no-such-bucket-" + secrets.token_hex(4),
                                                    "k")), 404, "NotFound")

    def test_sigv4_upload_is_verified(self):
        tenant, admin, c = self.tenant_with_admin("sig")
        bucket = self.make_bucket(admin)
        data = os.urandom(70000)
        st, body = signed_admin_bytes(self.server, admin, "PUT",
                                      "/admin/v1/buckets/%s/object" % bucket, [("key", "s.bin")],
                                      data, "application/octet-stream")
        self.assertEqual(st, 200, body)
        self.assertEqual(admin.s3.get_object(Bucket=bucket, Key="s.bin")["Body"].read(), data)


class TestConsoleSessionExpiry(ConsoleCase):
    server_kwargs = {"extra_args": ["--console-session-ttl", "2"]}

    def test_expired_cookie_sent_by_hand(self):
        r = requests.post(console_url(self.server, "/console/api/session"),
                          json={"access_key": self.server.access_key,
                                "secret_key": self.server.secret_key}, timeout=10)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertIn("Max-Age=2", r.headers["Set-Cookie"])
        token = re.match(r"gzy_session=([0-9a-f]+)", r.headers["Set-Cookie"]).group(1)
        ok = requests.get(console_url(self.server, "/console/api/session"),
                          cookies={"gzy_session": token}, timeout=10)
        self.assertEqual(ok.status_code, 200, ok.text)
        time.sleep(2.3)
        r = requests.get(console_url(self.server, "/console/api/session"),
                         cookies={"gzy_session": token}, timeout=10)
        self.assertError(r, 401, "NoSession")
        r = requests.get(console_url(self.server, "/admin/v1/whoami"),
                         cookies={"gzy_session": token}, timeout=10)
        self.assertError(r, 401, "SessionExpired")


class TestConsoleOverTls(unittest.TestCase):
    """With --tls-cert the cookie gets Secure, and downloads stream through TLS."""

    @classmethod
    def setUpClass(cls):
        if h.external_endpoint():
            raise unittest.SkipTest("needs the real gzy binary")
        import test_tls as pki  # its helpers only (a module attribute is not collected)
        cls.pki = tempfile.mkdtemp(prefix="gzy-console-tls-")
        pki.make_ca(cls.pki)
        pki.make_leaf(cls.pki, "srv", "gzy console")
        cls.server = h.GzyServer(extra_args=["--tls-cert", os.path.join(cls.pki, "srv.pem"),
                                             "--tls-key", os.path.join(cls.pki, "srv.key")])
        cls.server.ca_bundle = os.path.join(cls.pki, "ca.pem")
        try:
            cls.server.start()
        except BaseException:
            try:
                cls.server.close()
            except AssertionError:
                pass
            shutil.rmtree(cls.pki, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.close()
        finally:
            shutil.rmtree(cls.pki, ignore_errors=True)

    def test_secure_cookie_and_download(self):
        self.assertTrue(tn.admin_endpoint(self.server).startswith("https://"))
        # The platform admin sets the tenant up through the console session itself.
        root = ConsoleClient(self.server)
        self.assertEqual(root.sign_in(self.server.access_key, self.server.secret_key)
                         .status_code, 200)
        tenant = tn.unique_tenant("tls")
        for path, body in (("/admin/v1/tenants", {"name": tenant, "uscc": tn.make_uscc()}),
                           ("/admin/v1/users", {"tenant": tenant, "name": "admin",
                                                "role": "tenant-admin"})):
            r = root.call("POST", path, json=body)
            self.assertIn(r.status_code, (200, 201), r.text)
        r = root.call("POST", "/admin/v1/keys", json={"user": tenant + "/admin"})
        self.assertIn(r.status_code, (200, 201), r.text)
        key = r.json().get("key", r.json())
        admin = tn.Principal(self.server, tenant, "admin", "tenant-admin", key["access_key"],
                             key.get("secret_key") or r.json()["secret_key"])
        c = ConsoleClient(self.server)
        r = c.sign_in(admin.access_key, admin.secret_key)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertIn("; Secure", r.headers["Set-Cookie"])
        bucket = h.unique_bucket("ctls")
        admin.s3.create_bucket(Bucket=bucket)
        data = h.random_bytes(300 * 1024 + 7, seed="console-tls")  # a file, not inline
        r = c.call("PUT", c.object_url(bucket, "f.bin"), data=data)
        self.assertEqual(r.status_code, 200, r.text)
        r = c.call("GET", c.object_url(bucket, "f.bin"))
        self.assertEqual(r.status_code, 200)
        self.assertEqual(hashlib.sha256(r.content).hexdigest(), hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    unittest.main()
