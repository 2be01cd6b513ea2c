"""Migration from Ceph radosgw (issue 4): the real third-party S3 server tenants move off, started
once for this module (memstore, free ports, temporary folder; tests/integration/cephpeer.py).

One source bucket: 2,000 small objects with varied Content-Type and user metadata, awkward keys
(spaces, '+', '%', '..', Unicode, deep prefixes), an object with every standard header, an empty
object and two multipart objects (radosgw ETags "<md5>-N"). It is copied

- by `gzy migrate copy` (HTTP to HTTP) into a gzy started by harness.py, and
- by a server-side job (POST /admin/v1/migrations, written through the store),

and each destination is checked object by object against what was uploaded: every key present,
bytes (MD5 of each body as read back), standard headers and user metadata equal, and the
verification method the engine reports per object (md5 for single-part ETags, mpu-md5 or
size+sha256 for the multipart ones; radosgw 16 ignores `partNumber` on HEAD, so the engine finds
no part layout and reports size+sha256). A second pass copies nothing; a changed, an added and a
deleted source object are handled by the next pass (--delete-extraneous); wrong radosgw
credentials fail fast with a clear message.

When Ceph cannot be installed or started the module is skipped with the reason, which is also
printed on stderr ("SKIPPED radosgw migration tests: ...") so it is visible in the run's log.
"""

import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import harness as h
import tenancy as t
from cephpeer import CephPeer, CephUnavailable

N_SMALL = 2000
AWKWARD = ["with space.txt", "plus+sign", "a+b c", "per%cent", "per%25encoded", "..",
           "dots/../up", "../lead", "./lead-dot", "a//double", "unicode-\u00e9\u4e2d\u6587.bin",
           "emoji-\U0001F600", "deep/" + "/".join("abcdefghijkl") + "/leaf.txt",
           "tilde~and=eq&amp", "semi;colon,comma", "trailing space "]
FULL_META = {"owner": "alice", "project": "gzy-radosgw", "note": "x y+z"}
FULL_HEADERS = dict(ContentType="application/x-gzy", CacheControl="max-age=60",
                    ContentDisposition='attachment; filename="f.txt"',
                    ContentEncoding="identity", ContentLanguage="zh-CN")
FULL_EXPIRES = "Wed, 21 Oct 2037 07:28:00 GMT"
MULTIPART = {"big/mp-3parts": [5 * h.MiB, 5 * h.MiB, h.MiB + 3],
             "big/mp-2parts": [5 * h.MiB, 2 * h.MiB + 5]}
STD_FIELDS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding",
              "ContentLanguage")
API = "/admin/v1/migrations"
# Metadata gzy adds when it copies over HTTP (the source's identity, issue 4)
GZY_META = ("gzy-source-etag", "gzy-source-mtime")


def small_body(i):
    return h.random_bytes(i * 37 % 4000, seed="s%d" % i)


def small_meta(i):
    return {"idx": str(i), "kind": "even" if i % 2 == 0 else "odd"} if i % 5 == 0 else {}


_CEPH = {"peer": None, "error": None}


def setUpModule():
    peer = CephPeer(objectstore="memstore", store_size="2G")
    try:
        peer.start()
    except CephUnavailable as e:
        _CEPH["error"] = str(e)
        sys.stderr.write("\nSKIPPED radosgw migration tests: %s\n" % e)
        raise unittest.SkipTest("Ceph radosgw unavailable: %s" % str(e)[:500])
    _CEPH["peer"] = peer
    sys.stderr.write("\n[radosgw] memstore cluster up in %.1f s at %s\n"
                     % (peer.start_seconds, peer.endpoint))


def tearDownModule():
    if _CEPH["peer"] is not None:
        _CEPH["peer"].stop()
        _CEPH["peer"] = None


class MigrateRadosgwTests(h.ServerTestCase, t.TenancyMixin):
    gzy_only = True

    @classmethod
    def setUpClass(cls):
        cls.peer = _CEPH["peer"]
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="gzy-rgw-")
        try:
            cls.src_s3 = cls.peer.client(pool=16)
            cls.ten = t.Tenancy(cls.server)
            cls.tenant = t.unique_tenant("rgw")
            cls.ten.tenant_add(cls.tenant)
            cls.member = cls.ten.principal(cls.tenant, "reader", "tenant-member")
            cls.src = h.unique_bucket("rgwsrc")
            t0 = time.time()
            cls.expected = cls.populate(cls.src_s3, cls.src)
            sys.stderr.write("[radosgw] source bucket: %d objects in %.1f s\n"
                             % (len(cls.expected), time.time() - t0))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    # ---- source ----

    @classmethod
    def populate(cls, s3, bucket):
        """Fills the radosgw bucket; returns {key: (md5 hex, size, headers, metadata)}."""
        s3.create_bucket(Bucket=bucket)
        want = {}

        def put_small(i):
            body, meta = small_body(i), small_meta(i)
            key = "small/%02d/%04d" % (i % 20, i)
            s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=meta,
                          ContentType="text/x-%d" % (i % 3))
            return key, (h.md5_hex(body), len(body), {"ContentType": "text/x-%d" % (i % 3)},
                         meta)
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            want.update(ex.map(put_small, range(N_SMALL)))
        for k in AWKWARD:
            body = ("body of " + k).encode()
            s3.put_object(Bucket=bucket, Key=k, Body=body)
            want[k] = (h.md5_hex(body), len(body), {}, {})
        body = b"an object with every standard header"
        s3.put_object(Bucket=bucket, Key="meta/full", Body=body, Metadata=FULL_META,
                      Expires=FULL_EXPIRES, **FULL_HEADERS)
        want["meta/full"] = (h.md5_hex(body), len(body), dict(FULL_HEADERS), FULL_META)
        s3.put_object(Bucket=bucket, Key="empty", Body=b"")
        want["empty"] = (h.md5_hex(b""), 0, {}, {})
        for n, (key, sizes) in enumerate(MULTIPART.items()):
            meta = {"part-count": str(len(sizes))}
            up = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="video/x-big",
                                            Metadata=meta)
            parts, md5 = [], hashlib.md5()
            for i, sz in enumerate(sizes):
                data = h.random_bytes(sz, seed="mp%d-%d" % (n, i))
                md5.update(data)
                r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                   PartNumber=i + 1, Body=data)
                parts.append({"PartNumber": i + 1, "ETag": r["ETag"]})
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                         MultipartUpload={"Parts": parts})
            want[key] = (md5.hexdigest(), sum(sizes), {"ContentType": "video/x-big"}, meta)
        return want

    # ---- helpers ----

    def gzy_bin(self):
        return os.path.abspath(os.environ.get("GZY_BIN", "build/gzy"))

    def assert_clean(self, p):
        err = p.stderr.decode(errors="replace")
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)

    def run_copy(self, dst, *extra, secret=None, check=True, timeout=300):
        args = [self.gzy_bin(), "migrate", "copy",
                "--source-endpoint", self.peer.endpoint, "--source-bucket", self.src,
                "--source-access-key", self.peer.access_key,
                "--source-secret-key", secret or self.peer.secret_key,
                "--dest-endpoint", self.server.endpoint, "--dest-bucket", dst,
                "--dest-access-key", self.server.access_key,
                "--dest-secret-key", self.server.secret_key, "--concurrency", "8"]
        args += list(extra)
        env = dict(os.environ)
        if os.environ.get("GZY_SANITIZED") == "1":
            env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        p = subprocess.run(args, capture_output=True, timeout=timeout, env=env,
                           stdin=subprocess.DEVNULL)
        self.assert_clean(p)
        out = p.stdout.decode()
        lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        report = lines[-1] if lines and lines[-1].get("event") == "report" else None
        if check:
            self.assertEqual(p.returncode, 0, "stdout:\n%s\nstderr:\n%s"
                             % (out[-3000:], p.stderr.decode()[-3000:]))
            self.assertIsNotNone(report, out[-3000:])
        return p, report, lines

    def listing(self, client, bucket):
        got = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                got[o["Key"]] = o
        return got

    def source_listing(self):
        return self.listing(self.src_s3, self.src)

    def assert_destination(self, client, dst, over_http):
        """Every expected object is at dst with the same bytes (MD5 of the body read back),
        headers and user metadata; nothing else is there. Returns the destination listing."""
        src = self.source_listing()
        self.assertEqual(sorted(src), sorted(self.expected), "source listing drifted")
        got = self.listing(client, dst)
        self.assertEqual(sorted(got), sorted(self.expected),
                         "missing: %s\nextra: %s" % (sorted(set(self.expected) - set(got))[:20],
                                                    sorted(set(got) - set(self.expected))[:20]))

        def check(key):
            md5, size, headers, meta = self.expected[key]
            r = client.get_object(Bucket=dst, Key=key)
            body = r["Body"].read()
            errs = []
            if len(body) != size or h.md5_hex(body) != md5:
                errs.append("bytes differ (%d vs %d bytes)" % (len(body), size))
            for f in STD_FIELDS:
                want = headers.get(f)
                if f == "ContentType" and want is None:
                    want = src[key].get("ContentType", r.get(f))  # the source's default
                if want is not None and r.get(f) != want:
                    errs.append("%s %r != %r" % (f, r.get(f), want))
            got_meta = dict(r.get("Metadata") or {})
            if over_http:
                if got_meta.pop("gzy-source-etag", None) != src[key]["ETag"].strip('"'):
                    errs.append("gzy-source-etag missing or wrong")
                if got_meta.pop("gzy-source-mtime", None) is None:
                    errs.append("gzy-source-mtime missing")
            else:
                if r["ETag"] != src[key]["ETag"]:
                    errs.append("ETag %s != source %s" % (r["ETag"], src[key]["ETag"]))
                # the listing has milliseconds, the Last-Modified header whole seconds
                if r["LastModified"] != src[key]["LastModified"].replace(microsecond=0):
                    errs.append("LastModified %s != source %s"
                                % (r["LastModified"], src[key]["LastModified"]))
            if got_meta != meta:
                errs.append("metadata %r != %r" % (got_meta, meta))
            if key == "meta/full":
                exp = r.get("ExpiresString") or str(r.get("Expires"))
                if "2037" not in (exp or ""):
                    errs.append("Expires %r" % exp)
            return key, errs
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            bad = {k: e for k, e in ex.map(check, sorted(self.expected)) if e}
        self.assertEqual(dict(list(bad.items())[:10]), {}, "%d objects differ" % len(bad))
        return got

    def expected_method(self, key):
        return "multipart" if key in MULTIPART else "md5"

    def api(self, method, path="", body=None, query=()):
        return t.admin_request(self.server, method, API + path, body, query)

    def job(self, job_id):
        r = self.api("GET", "/" + job_id)
        self.assertEqual(r.status, 200, r)
        return r.json

    def wait_state(self, job_id, states, timeout=120):
        deadline = time.time() + timeout
        j = None
        while time.time() < deadline:
            j = self.job(job_id)
            if j["state"] in states:
                return j
            time.sleep(0.3)
        self.fail("job %s: timed out waiting for %s; last: %s\n%s"
                  % (job_id, states, json.dumps(j)[:3000], self.server.logs()))

    def job_body(self, dst, secret=None, **kw):
        b = {"tenant": self.tenant, "name": "from radosgw " + self._testMethodName,
             "source": {"provider": "generic", "endpoint": self.peer.endpoint,
                        "bucket": self.src, "access_key": self.peer.access_key,
                        "secret_key": secret or self.peer.secret_key},
             "dest_bucket": dst, "concurrency": 8}
        b.update(kw)
        return b

    # ---- tests (run in name order; test_3 changes the source, the others read it) ----

    def test_1_copy_cli_verified_and_second_pass_idle(self):
        dst = h.unique_bucket("rgwcli")
        self.s3.create_bucket(Bucket=dst)
        n = len(self.expected)
        t0 = time.time()
        p, rep, lines = self.run_copy(dst)
        elapsed = time.time() - t0
        self.assertEqual(rep["status"], "ok", rep)
        self.assertEqual(rep["copied"]["objects"], n, rep)
        self.assertEqual(rep["verified"]["objects"], n, rep)
        self.assertEqual(rep["failed"]["objects"], 0, rep)
        by = rep["verified_by"]
        self.assertEqual(by["md5"], n - len(MULTIPART), by)
        self.assertEqual(by["mpu-md5"] + by["size+sha256"], len(MULTIPART), by)
        methods = {l["key"]: l["method"] for l in lines
                   if l.get("event") == "object" and l.get("state") == "verified"}
        self.assertEqual(len(methods), n)
        for key, method in methods.items():
            if key in MULTIPART:
                self.assertIn(method, ("mpu-md5", "size+sha256"), key)
            else:
                self.assertEqual(method, "md5", key)
        sys.stderr.write("\n[radosgw] copy CLI: %d objects in %.1f s; multipart verified by %s\n"
                         % (n, elapsed, {k: methods[k] for k in MULTIPART}))
        self.assert_destination(self.s3, dst, over_http=True)

        # a second pass over the unchanged source copies nothing (no journal: diff by listing)
        _, rep, _ = self.run_copy(dst)
        self.assertEqual(rep["copied"]["objects"], 0, rep)
        self.assertEqual(rep["skipped"]["objects"], n, rep)
        self.assertEqual(rep["failed"]["objects"], 0, rep)

    def test_2_server_job_verified_and_second_pass_idle(self):
        dst = h.unique_bucket("rgwjob")
        n = len(self.expected)
        r = self.api("POST", body=self.job_body(dst))
        self.assertEqual(r.status, 201, r)
        self.assertNotIn(self.peer.secret_key, r.raw.decode())
        jid = r.json["id"]
        j = self.wait_state(jid, ("completed", "failed"))
        self.assertEqual(j["state"], "completed", j)
        st = j["stats"]
        self.assertEqual(st["verified"], n, st)
        self.assertEqual(st["failed"], 0, st)
        self.assertEqual(st["verified_md5"], n - len(MULTIPART), st)
        self.assertEqual(st["verified_mpu"] + st["verified_sha256"], len(MULTIPART), st)
        rep = self.api("GET", "/%s/report" % jid)
        self.assertEqual(rep.status, 200, rep)
        ver = rep.json["verification"]
        self.assertEqual(ver["md5"], n - len(MULTIPART), ver)
        self.assertEqual(ver["mpu"] + ver["sha256"], len(MULTIPART), ver)
        self.assertEqual(rep.json["failed"], [])
        self.assert_destination(self.member.s3, dst, over_http=False)

        # a second pass (start again) copies nothing
        r = self.api("POST", "/%s/start" % jid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "running", r)
        j = self.wait_state(jid, ("completed", "failed"))
        self.assertEqual(j["state"], "completed", j)
        self.assertEqual(j["pass"], 2, j)
        self.assertEqual(j["stats"]["copied"], 0, j["stats"])
        self.assertEqual(j["stats"]["skipped"], n, j["stats"])

    def test_3_changed_and_deleted_handled_next_pass(self):
        dst = h.unique_bucket("rgwinc")
        self.s3.create_bucket(Bucket=dst)
        journal = os.path.join(self.tmp, "inc.journal")
        _, rep, _ = self.run_copy(dst, "--journal", journal)
        self.assertEqual(rep["copied"]["objects"], len(self.expected), rep)
        jr = self.api("POST", body=self.job_body(h.unique_bucket("rgwincjob"),
                                                   delete_extraneous=True))
        self.assertEqual(jr.status, 201, jr)
        jid = jr.json["id"]
        self.assertEqual(self.wait_state(jid, ("completed", "failed"))["state"], "completed")

        # change one object (same size, so only the ETag tells), delete one, add one
        s3 = self.src_s3
        key_changed, key_deleted = "small/07/0007", "small/08/0008"
        old = self.expected[key_changed]
        body = bytes(b ^ 0xFF for b in small_body(7))
        s3.put_object(Bucket=self.src, Key=key_changed, Body=body, ContentType="text/x-1")
        self.expected[key_changed] = (h.md5_hex(body), len(body), {"ContentType": "text/x-1"},
                                      {})
        self.assertEqual(old[1], len(body))
        s3.delete_object(Bucket=self.src, Key=key_deleted)
        del self.expected[key_deleted]
        s3.put_object(Bucket=self.src, Key="added/new one+", Body=b"new", Metadata={"a": "b"})
        self.expected["added/new one+"] = (h.md5_hex(b"new"), 3, {}, {"a": "b"})

        _, rep, _ = self.run_copy(dst, "--delete-extraneous", "--journal", journal)
        self.assertEqual(rep["copied"]["objects"], 2, rep)
        self.assertEqual(rep["deleted"], 1, rep)
        self.assertEqual(rep["skipped"]["objects"], len(self.expected) - 2, rep)
        self.assertEqual(rep["failed"]["objects"], 0, rep)
        self.assert_destination(self.s3, dst, over_http=True)

        r = self.api("POST", "/%s/start" % jid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "running", r)
        j = self.wait_state(jid, ("completed", "failed"))
        self.assertEqual(j["state"], "completed", j)
        self.assertEqual(j["stats"]["copied"], 2, j["stats"])
        self.assertEqual(j["stats"]["deleted"], 1, j["stats"])
        self.assert_destination(self.member.s3, j["dest_bucket"], over_http=False)

    def test_4_wrong_credentials_fail_fast(self):
        dst = h.unique_bucket("rgwbad")
        self.s3.create_bucket(Bucket=dst)
        t0 = time.time()
        p, rep, _ = self.run_copy(dst, secret="wrong-" + self.peer.secret_key, check=False)
        self.assertLess(time.time() - t0, 30)
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("source " + self.peer.endpoint, err)
        self.assertIn("403", err)
        self.assertIn("SignatureDoesNotMatch", err)
        self.assertEqual(rep["status"], "error", rep)
        self.assertEqual(self.listing(self.s3, dst), {})
        # an unknown access key: radosgw says InvalidAccessKeyId
        args = [self.gzy_bin(), "migrate", "copy", "--source-endpoint", self.peer.endpoint,
                "--source-bucket", self.src, "--source-access-key", "NOSUCHKEY0000000000",
                "--source-secret-key", "x" * 40, "--dest-endpoint", self.server.endpoint,
                "--dest-bucket", dst, "--dest-access-key", self.server.access_key,
                "--dest-secret-key", self.server.secret_key]
        p = subprocess.run(args, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assert_clean(p)
        self.assertEqual(p.returncode, 1)
        self.assertIn("InvalidAccessKeyId", p.stderr.decode(errors="replace"))

        # the same through a job: failed within seconds, the reason in `error`, no secret shown
        t0 = time.time()
        wrong = "wrong-" + self.peer.secret_key
        r = self.api("POST", body=self.job_body(h.unique_bucket("rgwbadjob"), secret=wrong))
        self.assertEqual(r.status, 201, r)
        j = self.wait_state(r.json["id"], ("failed", "completed"), timeout=60)
        self.assertLess(time.time() - t0, 30)
        self.assertEqual(j["state"], "failed", j)
        self.assertIn("source", j["error"])
        self.assertIn("SignatureDoesNotMatch", j["error"])
        self.assertNotIn(wrong, json.dumps(j))
        self.assertNotIn(wrong, self.server.logs(tail=10 ** 9))


if __name__ == "__main__":
    unittest.main()
