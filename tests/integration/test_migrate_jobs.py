"""Migration jobs inside `gzy serve` (issue 4): moto_server as the source, the server's own store
as the destination. Jobs run to completion through the admin API and through `gzy migrate run`;
a kill -9 mid-job resumes on restart without recopying verified objects; pause, resume, cancel
and delete follow the state machine; the source secret never shows up in jobs.db, answers or
logs; tenant-admins are confined to their tenant; reports come as JSON and CSV; bad
credentials and an unreachable endpoint fail the job quickly and clearly; an interval job's
second pass copies only what changed."""

import concurrent.futures
import csv
import io
import json
import os
import secrets
import sqlite3
import subprocess
import time
import unittest

import harness as h
import tenancy as t
from motopeer import free_port, moto_binary

META = {"owner": "alice", "project": "gzy-jobs"}
API = "/admin/v1/migrations"


@unittest.skipIf(moto_binary() is None, "moto_server is not installed")
class MigrateJobsTests(t.MotoTenancyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.secret = "mOtO-" + secrets.token_hex(12)   # moto accepts any secret
        cls.tenant_a = t.unique_tenant("ja")
        cls.tenant_b = t.unique_tenant("jb")
        cls.ten.tenant_add(cls.tenant_a)
        cls.ten.tenant_add(cls.tenant_b)
        cls.admin_a = cls.ten.principal(cls.tenant_a, "boss", "tenant-admin")
        cls.admin_b = cls.ten.principal(cls.tenant_b, "boss", "tenant-admin")
        cls.member_a = cls.ten.principal(cls.tenant_a, "worker", "tenant-member")
        cls.ten.user_add("platform", "watcher", "supervisor")
        ak, sk = cls.ten.key_create("platform", "watcher")
        cls.supervisor = t.Principal(cls.server, "platform", "watcher", "supervisor", ak, sk)

    # ---- helpers ----

    def populate(self, bucket, n=40, size=3000, multipart=True):
        m = self.moto.s3
        m.create_bucket(Bucket=bucket)

        def put(i):
            m.put_object(Bucket=bucket, Key="obj/%04d" % i,
                         Body=h.random_bytes(size + i, seed=i), ContentType="text/x-%d" % (i % 3))
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(put, range(n)))
        m.put_object(Bucket=bucket, Key="meta/full", Body=b"metadata object",
                     ContentType="application/x-gzy", CacheControl="max-age=60",
                     ContentDisposition='attachment; filename="f.txt"', Metadata=META)
        count = n + 1
        if multipart:
            up = m.create_multipart_upload(Bucket=bucket, Key="big/mp", Metadata={"part": "y"})
            parts = []
            for i, sz in enumerate([5 * h.MiB, 1 * h.MiB + 7]):
                r = m.upload_part(Bucket=bucket, Key="big/mp", UploadId=up["UploadId"],
                                  PartNumber=i + 1, Body=h.random_bytes(sz, seed=50 + i))
                parts.append({"PartNumber": i + 1, "ETag": r["ETag"]})
            m.complete_multipart_upload(Bucket=bucket, Key="big/mp", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
            count += 1
        return count

    def body(self, src, dest, tenant=None, endpoint=None, secret=None, **kw):
        b = {"tenant": tenant or self.tenant_a, "name": "test " + self._testMethodName,
             "source": {"provider": "generic", "endpoint": endpoint or self.moto.endpoint,
                        "bucket": src, "access_key": "testing",
                        "secret_key": secret or self.secret},
             "dest_bucket": dest, "concurrency": 4}
        b.update(kw)
        return b

    def api(self, method, path="", body=None, who=None, query=()):
        if who is None:
            return t.admin_request(self.server, method, API + path, body, query)
        return who.admin(method, API + path, body, query)

    def create(self, body, who=None):
        r = self.api("POST", body=body, who=who)
        self.assertEqual(r.status, 201, r)
        self.assertNotIn(self.secret, r.raw.decode())
        self.assertNotIn("secret_key", r.json["source"])
        return r.json

    def job(self, job_id, who=None):
        r = self.api("GET", "/" + job_id, who=who)
        self.assertEqual(r.status, 200, r)
        return r.json

    def wait(self, job_id, pred, timeout=180, what="condition"):
        deadline = time.time() + timeout
        j = None
        while time.time() < deadline:
            j = self.job(job_id)
            if pred(j):
                return j
            time.sleep(0.3)
        self.fail("job %s: timed out waiting for %s; last: %s\n%s"
                  % (job_id, what, json.dumps(j)[:3000], self.server.logs()))

    def wait_state(self, job_id, states, timeout=180):
        return self.wait(job_id, lambda j: j["state"] in states, timeout, "state %s" % (states,))

    def listing(self, client, bucket):
        keys = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                keys[o["Key"]] = o["Size"]
        return keys

    def assert_same(self, src, dst, client):
        want = self.listing(self.moto.s3, src)
        got = self.listing(client, dst)
        self.assertEqual(want, got)
        for key in list(want)[:10] + ["meta/full"]:
            a = self.moto.s3.get_object(Bucket=src, Key=key)
            b = client.get_object(Bucket=dst, Key=key)
            self.assertEqual(a["Body"].read(), b["Body"].read(), key)
            for f in ("ContentType", "CacheControl", "ContentDisposition", "Metadata"):
                self.assertEqual(a.get(f), b.get(f), "%s of %s" % (f, key))

    def assert_no_secret(self, secret=None):
        """The source secret is nowhere in the data folder (jobs.db, its WAL, journals, audit
        log) nor in the server's output."""
        secret = secret or self.secret
        needle = secret.encode()
        for root, _, files in os.walk(self.server.data_dir):
            for name in files:
                try:
                    with open(os.path.join(root, name), "rb") as f:
                        blob = f.read()
                except FileNotFoundError:
                    continue  # a temporary file renamed away while walking
                self.assertNotIn(needle, blob, os.path.join(root, name))
        self.assertNotIn(secret, self.server.logs(tail=10 ** 9))
        self.assertTrue(os.path.exists(os.path.join(self.server.data_dir, "migrate", "jobs.db")))

    def run_cli(self, *args, env_extra=None, timeout=300, stdin_text=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("GZY_")}
        env.update(GZY_ACCESS_KEY=self.server.access_key, GZY_SECRET_KEY=self.server.secret_key)
        env.update(env_extra or {})
        if os.environ.get("GZY_SANITIZED") == "1":
            env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        cmd = [os.path.abspath(os.environ.get("GZY_BIN", "build/gzy")), "migrate"]
        cmd += list(args) + ["--admin-endpoint", self.server.admin_endpoint]
        if stdin_text is None:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env,
                               stdin=subprocess.DEVNULL)
        else:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env,
                               input=stdin_text.encode())
        err = p.stderr.decode(errors="replace")
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)
        return p

    # ---- tests ----

    def test_api_job_completes_with_report(self):
        src, dst = h.unique_bucket("jsrc"), h.unique_bucket("jdst")
        n = self.populate(src)
        job = self.create(self.body(src, dst, delete_extraneous=True), who=self.admin_a)
        self.assertIn(job["state"], ("running", "created"))
        self.assertEqual(job["source"]["access_key"], "testing")
        self.assertEqual(job["tenant_name"], self.tenant_a)
        j = self.wait_state(job["id"], ("completed", "failed"))
        self.assertEqual(j["state"], "completed", j)
        self.assertIsNone(j["error"])
        self.assertEqual(j["stats"]["verified"], n)
        self.assertEqual(j["stats"]["failed"], 0)
        self.assertEqual(j["pass"], 1)
        self.assert_same(src, dst, self.member_a.s3)
        # the bucket was created for the tenant
        buckets = t.gzy_admin(self.server, "bucket", "list", "--tenant", self.tenant_a)
        self.assertIn(dst, [b["name"] for b in buckets["buckets"]])

        r = self.api("GET", "/%s/report" % job["id"], who=self.admin_a)
        self.assertEqual(r.status, 200, r)
        rep = r.json
        self.assertEqual(rep["pass"], 1)
        self.assertEqual(rep["result"], "completed")
        self.assertEqual(rep["stats"]["verified"], n)
        self.assertEqual(rep["failed"], [])
        self.assertEqual(rep["acls"], "not examined")
        self.assertEqual(sum(rep["verification"].values()), n)
        r = self.api("GET", "/%s/report" % job["id"], who=self.admin_a, query=[("format", "csv")])
        self.assertEqual(r.status, 200, r)
        rows = list(csv.reader(io.StringIO(r.raw.decode())))
        self.assertEqual(rows[0], ["kind", "key", "size", "reason", "retries"])
        self.assertEqual([r for r in rows[1:] if r[0] != "summary"], [])  # no problem rows
        # the counts lead (src/migrate/report.c)
        summary = {r[1]: r for r in rows[1:] if r[0] == "summary"}
        self.assertEqual(summary["pass"][2], str(rep["pass"]))
        self.assertEqual(summary["verified"][2], str(n))
        self.assertEqual(summary["verified_bytes"][2], str(rep["stats"]["verified_bytes"]))
        self.assertEqual(summary["result"][3], "completed")
        r = self.api("GET", "/%s/report" % job["id"], query=[("format", "xml")])
        self.assertEqual(r.status, 400, r)

        m = self.api("GET", "/%s/manifest" % job["id"], who=self.admin_a)
        self.assertIsNotNone(j["manifest"], j)
        self.assertEqual(m.status, 200, m)
        self.assertEqual(m.json["label"], job["id"])
        self.assertEqual(m.json["source"]["bucket"], j["source"]["bucket"])
        self.assertEqual(m.json["destination"]["bucket"], j["dest_bucket"])
        self.assertEqual(len(m.json["objects"]), j["stats"]["verified"] + j["stats"]["skipped"])
        self.assertTrue(all(len(o["sha256"] or "") == 64 for o in m.json["objects"]
                            if o["method"] != "existing"))

        # listing: own tenant by default, everything for the platform
        lst = self.api("GET", who=self.admin_a).json["migrations"]
        self.assertIn(job["id"], [x["id"] for x in lst])
        self.assertTrue(all(x["tenant_name"] == self.tenant_a for x in lst))
        self.assert_no_secret()
        # a completed job is not running: it can be deleted
        r = self.api("DELETE", "/" + job["id"], who=self.admin_a)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.api("GET", "/" + job["id"]).status, 404)
        self.assertFalse(os.path.exists(os.path.join(self.server.data_dir, "migrate",
                                                     "job-%s.journal" % job["id"])))

    def test_check_acl_reports_grants_not_carried(self):
        src, dst = h.unique_bucket("jaclsrc"), h.unique_bucket("jacldst")
        self.moto.s3.create_bucket(Bucket=src)
        self.moto.s3.put_object(Bucket=src, Key="open.txt", Body=b"o", ACL="public-read")
        self.moto.s3.put_object(Bucket=src, Key="closed.txt", Body=b"c")
        job = self.create(self.body(src, dst, check_acl=True), who=self.admin_a)
        self.assertTrue(job["options"]["check_acl"], job)
        j = self.wait_state(job["id"], ("completed", "failed"))
        self.assertEqual(j["state"], "completed", j)
        rep = self.api("GET", "/%s/report" % job["id"], who=self.admin_a).json
        self.assertEqual(rep["acls"], "examined")
        self.assertEqual([(x["key"], x.get("reason") or x.get("detail")) for x in
                          rep["not_carried"]], [("open.txt", "acl")], rep["not_carried"])

    def test_cli_run_and_commands(self):
        src, dst = h.unique_bucket("csrc"), h.unique_bucket("cdst")
        n = self.populate(src, n=25, multipart=False)
        p = self.run_cli("run", "--tenant", self.tenant_a, "--source-endpoint",
                         self.moto.endpoint, "--source-bucket", src, "--dest-bucket", dst,
                         "--concurrency", "3",
                         env_extra={"GZY_SOURCE_ACCESS_KEY": "testing",
                                    "GZY_SOURCE_SECRET_KEY": self.secret})
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 0, "%s\n%s" % (out[-3000:], p.stderr.decode()[-3000:]))
        self.assertNotIn(self.secret, out + p.stderr.decode())
        lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        self.assertTrue(lines)
        last = lines[-1]
        self.assertEqual(last["state"], "completed")
        self.assertEqual(last["objects"], n)
        for k in ("bytes", "rate_bps", "eta_s", "objects_total"):
            self.assertIn(k, last)
        self.assert_same(src, dst, self.member_a.s3)
        job_id = last["id"]

        p = self.run_cli("jobs", "--tenant", self.tenant_a)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(job_id, [x["id"] for x in json.loads(p.stdout)["migrations"]])
        p = self.run_cli("status", job_id)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["state"], "completed")
        p = self.run_cli("report", job_id, "--csv")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.decode().startswith("kind,key,size,reason,retries"))
        p = self.run_cli("pause", job_id)
        self.assertEqual(p.returncode, 1)
        self.assertIn("InvalidState", p.stderr.decode())
        # usage errors: exit 2
        p = self.run_cli("run", "--tenant", self.tenant_a)
        self.assertEqual(p.returncode, 2)
        # --dry-run with --detach: the job is created and the command returns at once
        p = self.run_cli("run", "--tenant", self.tenant_a, "--source-endpoint",
                         self.moto.endpoint, "--source-bucket", src, "--dest-bucket", dst,
                         "--source-access-key", "testing", "--source-secret-key", self.secret,
                         "--dry-run", "--detach")
        self.assertEqual(p.returncode, 0, p.stderr)
        dj = json.loads(p.stdout)
        self.assertTrue(dj["options"]["dry_run"])
        self.wait_state(dj["id"], ("completed",))
        self.assert_no_secret()

    def test_kill9_resumes_without_recopying(self):
        src, dst = h.unique_bucket("ksrc"), h.unique_bucket("kdst")
        n = self.populate(src, n=300, size=8000, multipart=False)
        job = self.create(self.body(src, dst, concurrency=1, bandwidth_limit=400 * 1024))
        j = self.wait(job["id"], lambda j: j["stats"]["verified"] >= 30, what="30 verified")
        before = j["stats"]["verified"]
        self.assertLess(before, n, "the job finished before it could be killed")
        self.server.restart(kill=True)
        j = self.wait_state(job["id"], ("completed", "failed"), timeout=300)
        self.assertEqual(j["state"], "completed", j)
        self.assertEqual(j["pass"], 1)
        st = j["stats"]
        # the resumed pass skipped what was verified before the kill and copied the rest once
        self.assertEqual(st["verified"] + st["skipped"], n)
        self.assertGreaterEqual(st["skipped"], before)
        self.assertLessEqual(st["copied"], n - before)
        self.assertEqual(len(self.listing(self.member_a.s3, dst)), n)
        self.assert_no_secret()

    def test_pause_resume_cancel_delete(self):
        src, dst = h.unique_bucket("psrc"), h.unique_bucket("pdst")
        n = self.populate(src, n=200, size=6000, multipart=False)
        job = self.create(self.body(src, dst, concurrency=1, bandwidth_limit=300 * 1024),
                          who=self.admin_a)
        jid = job["id"]
        self.wait(jid, lambda j: j["stats"]["verified"] >= 5, what="progress")
        r = self.api("DELETE", "/" + jid, who=self.admin_a)
        self.assertEqual(r.status, 409, r)
        r = self.api("POST", "/%s/pause" % jid, who=self.admin_a)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "paused")
        time.sleep(1.5)
        a = self.job(jid)["stats"]["verified"]
        time.sleep(2)
        b = self.job(jid)["stats"]["verified"]
        self.assertEqual(a, b, "a paused job kept copying")
        self.assertLess(b, n)
        self.assertEqual(self.api("POST", "/%s/pause" % jid).status, 409)
        r = self.api("POST", "/%s/resume" % jid, who=self.admin_a)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "running")
        j = self.wait_state(jid, ("completed", "failed"), timeout=300)
        self.assertEqual(j["state"], "completed", j)
        self.assertEqual(j["stats"]["verified"] + j["stats"]["skipped"], n)

        # cancel a second job mid-run; a cancelled job takes no more actions
        dst2 = h.unique_bucket("pdst2")
        job2 = self.create(self.body(src, dst2, concurrency=1, bandwidth_limit=100 * 1024))
        self.wait(job2["id"], lambda j: j["stats"]["verified"] >= 2, what="progress")
        r = self.api("POST", "/%s/cancel" % job2["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "cancelled")
        for action in ("start", "resume", "pause", "cancel"):
            self.assertEqual(self.api("POST", "/%s/%s" % (job2["id"], action)).status, 409)
        self.assertEqual(self.api("POST", "/%s/explode" % job2["id"]).status, 404)
        time.sleep(1.5)
        c = len(self.listing(self.member_a.s3, dst2))
        time.sleep(1.5)
        self.assertEqual(c, len(self.listing(self.member_a.s3, dst2)))
        self.assertLess(c, n)
        self.wait(job2["id"], lambda j: self.api("DELETE", "/" + j["id"]).status == 204,
                  timeout=30, what="delete")
        self.assertEqual(self.api("GET", "/" + job2["id"]).status, 404)
        # a job created without start waits in "created"
        job3 = self.create(self.body(src, h.unique_bucket("pdst3"), start=False))
        time.sleep(1)
        self.assertEqual(self.job(job3["id"])["state"], "created")
        self.assertEqual(self.api("POST", "/%s/cancel" % job3["id"]).status, 200)

    def test_tenant_isolation(self):
        src, dst = h.unique_bucket("isrc"), h.unique_bucket("idst")
        self.populate(src, n=3, multipart=False)
        job = self.create(self.body(src, dst, start=False), who=self.admin_a)
        jid = job["id"]
        # the other tenant's admin neither sees nor controls it
        self.assertEqual(self.api("GET", "/" + jid, who=self.admin_b).status, 403)
        self.assertNotIn(jid, [x["id"] for x in
                               self.api("GET", who=self.admin_b).json["migrations"]])
        self.assertEqual(self.api("GET", who=self.admin_b,
                                  query=[("tenant", self.tenant_a)]).status, 403)
        for action in ("start", "pause", "cancel"):
            self.assertEqual(self.api("POST", "/%s/%s" % (jid, action), who=self.admin_b).status,
                             403)
        self.assertEqual(self.api("DELETE", "/" + jid, who=self.admin_b).status, 403)
        self.assertEqual(self.api("GET", "/%s/report" % jid, who=self.admin_b).status, 403)
        # nor creates jobs for it, nor targets its buckets
        r = self.api("POST", body=self.body(src, h.unique_bucket("x")), who=self.admin_b)
        self.assertEqual(r.status, 403, r)
        owned = h.unique_bucket("owneda")
        self.admin_a.s3.create_bucket(Bucket=owned)
        r = self.api("POST", body=self.body(src, owned, tenant=self.tenant_b), who=self.admin_b)
        self.assertEqual(r.status, 403, r)
        self.assertIn("another tenant", r.error_message)
        r = self.api("POST", body=self.body(src, owned, tenant=self.tenant_b))  # platform too
        self.assertEqual(r.status, 403, r)
        # members may not use the API; supervisors read everything but change nothing
        self.assertEqual(self.api("GET", who=self.member_a).status, 403)
        self.assertEqual(self.api("GET", "/" + jid, who=self.supervisor).status, 200)
        self.assertIn(jid, [x["id"] for x in
                            self.api("GET", who=self.supervisor).json["migrations"]])
        self.assertEqual(self.api("POST", "/%s/start" % jid, who=self.supervisor).status, 403)
        self.assertEqual(self.api("POST", body=self.body(src, h.unique_bucket("s")),
                                  who=self.supervisor).status, 403)
        # validation names the field
        bad = self.body(src, "Not_A_Bucket")
        r = self.api("POST", body=bad, who=self.admin_a)
        self.assertEqual(r.status, 400, r)
        self.assertIn("dest_bucket", r.error_message)
        bad = self.body(src, dst)
        bad["source"]["endpoint"] = "ftp://x"
        r = self.api("POST", body=bad, who=self.admin_a)
        self.assertEqual(r.status, 400, r)
        self.assertIn("source.endpoint", r.error_message)
        self.assertEqual(self.api("POST", "/%s/cancel" % jid, who=self.admin_a).status, 200)

    def test_default_encrypted_destination_is_sealed_not_refused(self):
        """The old refusal ("encrypts new objects by default") is gone: the job seals what it
        writes (test_migrate_sse.py checks the sealing itself)."""
        src, dst = h.unique_bucket("esrc"), h.unique_bucket("edst")
        self.moto.s3.create_bucket(Bucket=src)
        self.moto.s3.put_object(Bucket=src, Key="secret.txt", Body=b"plain")
        self.admin_a.s3.create_bucket(Bucket=dst)
        self.admin_a.s3.put_bucket_encryption(Bucket=dst, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        job = self.create(self.body(src, dst), who=self.admin_a)
        j = self.wait_state(job["id"], ("failed", "completed"), timeout=60)
        self.assertEqual(j["state"], "completed", j)
        self.assertIsNone(j["error"], j)
        listed = self.admin_a.s3.list_objects_v2(Bucket=dst).get("Contents", [])
        self.assertEqual([(o["Key"], o["Size"]) for o in listed], [("secret.txt", 5)])
        got = self.admin_a.s3.get_object(Bucket=dst, Key="secret.txt")
        self.assertEqual(got["Body"].read(), b"plain")
        self.assertEqual(got.get("ServerSideEncryption"), "AES256")

    def test_bad_credentials_and_unreachable_fail_fast(self):
        dst = h.unique_bucket("fdst")
        # gzy itself as a source checks signatures: a wrong secret fails the job
        srcb = h.unique_bucket("fsrc")
        self.s3.create_bucket(Bucket=srcb)
        self.s3.put_object(Bucket=srcb, Key="k", Body=b"v")
        start = time.time()
        body = self.body(srcb, dst, tenant=self.tenant_a, endpoint=self.server.endpoint,
                         secret="wrong-" + self.secret)
        body["source"]["access_key"] = self.server.access_key
        job = self.create(body)
        j = self.wait_state(job["id"], ("failed", "completed"), timeout=60)
        self.assertEqual(j["state"], "failed", j)
        self.assertIn("source", j["error"])
        self.assertIn("SignatureDoesNotMatch", j["error"])
        self.assertLess(time.time() - start, 30)
        # an unreachable endpoint
        start = time.time()
        dead = "http://127.0.0.1:%d" % free_port()
        job = self.create(self.body("nothing", dst, endpoint=dead))
        j = self.wait_state(job["id"], ("failed", "completed"), timeout=60)
        self.assertEqual(j["state"], "failed", j)
        self.assertIn(dead, j["error"])
        self.assertLess(time.time() - start, 30)
        self.assertEqual(self.api("GET", "/%s/report" % job["id"]).status, 404)
        # a failed job may be started again (and fails again)
        r = self.api("POST", "/%s/start" % job["id"])
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json["error"])
        self.assert_no_secret()

    def test_interval_incremental_pass(self):
        src, dst = h.unique_bucket("vsrc"), h.unique_bucket("vdst")
        n = self.populate(src, n=20, multipart=False)
        job = self.create(self.body(src, dst, interval_seconds=5))
        jid = job["id"]
        j = self.wait(jid, lambda j: j["passes_done"] >= 1, what="pass 1")
        self.assertEqual(j["state"], "running")
        self.assertEqual(j["stats"]["verified"], n)
        self.moto.s3.put_object(Bucket=src, Key="obj/0003", Body=b"changed between passes")
        j = self.wait(jid, lambda j: j["passes_done"] >= 2, what="pass 2")
        rep = self.api("GET", "/%s/report" % jid).json
        self.assertEqual(rep["pass"], 2)
        self.assertEqual(rep["stats"]["copied"], 1)
        self.assertEqual(rep["stats"]["skipped"], n - 1)
        self.assertEqual(self.member_a.s3.get_object(Bucket=dst, Key="obj/0003")["Body"].read(),
                         b"changed between passes")
        self.assertEqual(self.api("POST", "/%s/cancel" % jid).status, 200)
        # every pass keeps its report: pass 1's is still served, and differs from pass 2's
        r1 = self.api("GET", "/%s/report" % jid, query=[("pass", "1")], who=self.admin_a)
        self.assertEqual(r1.status, 200, r1)
        self.assertEqual((r1.json["pass"], r1.json["result"]), (1, "completed"))
        self.assertEqual((r1.json["stats"]["copied"], r1.json["stats"]["skipped"]), (n, 0))
        r2 = self.api("GET", "/%s/report" % jid, query=[("pass", "2")])
        self.assertEqual(r2.json, rep)
        csv1 = self.api("GET", "/%s/report" % jid, query=[("pass", "1"), ("format", "csv")])
        rows = {r[1]: r for r in csv.reader(io.StringIO(csv1.raw.decode())) if r[0] == "summary"}
        self.assertEqual((rows["pass"][2], rows["copied"][2]), ("1", str(n)))
        lst = self.api("GET", "/%s/reports" % jid, who=self.admin_a)
        self.assertEqual(lst.status, 200, lst)
        got = [(x["pass"], x["result"], x["stats"]["copied"]) for x in lst.json["reports"]]
        self.assertEqual(got[-2:], [(2, "completed", 1), (1, "completed", n)])
        for bad in ("0", "x", "-1", "1234567890123456"):
            r = self.api("GET", "/%s/report" % jid, query=[("pass", bad)])
            self.assertEqual(r.status, 400, (bad, r))
        r = self.api("GET", "/%s/report" % jid, query=[("pass", "99")])
        self.assertEqual((r.status, r.error_code), (404, "NotFound"))
        self.assertEqual(self.api("GET", "/%s/reports" % jid, who=self.admin_b).status, 403)
        p = self.run_cli("report", jid, "--pass", "1", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["pass"], 1)
        p = self.run_cli("report", jid, "--pass", "2", "--csv")
        self.assertIn("summary,pass,2,,", p.stdout.decode())
        p = self.run_cli("reports", jid)
        self.assertEqual([x["pass"] for x in json.loads(p.stdout)["reports"]][-2:], [2, 1])
        # a job's delete removes its reports
        self.assertEqual(self.api("DELETE", "/" + jid).status, 204)
        with sqlite3.connect(os.path.join(self.server.data_dir, "migrate", "jobs.db")) as db:
            self.assertEqual(db.execute("SELECT COUNT(*) FROM reports WHERE job=?",
                                        (jid,)).fetchone()[0], 0)

    def test_archive_object_waits_then_a_later_pass_copies_it(self):
        """A one-shot job whose only outstanding object waits for a restore: pass 1 ends
        'waiting' (not completed, not failed), the job re-checks by itself after
        restore_check_seconds, and the later pass copies and verifies the object (moto
        completes restores at once) - nobody presses Start."""
        src, dst = h.unique_bucket("arjsrc"), h.unique_bucket("arjdst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        m.put_object(Bucket=src, Key="cold/a", Body=b"archived bytes", StorageClass="GLACIER")
        m.put_object(Bucket=src, Key="warm/b", Body=b"standard bytes")
        job = self.create(self.body(src, dst, restore_check_seconds=4), who=self.admin_a)
        jid = job["id"]
        self.assertEqual(job["options"]["restore_check_seconds"], 4)
        j = self.wait(jid, lambda j: j["passes_done"] >= 1, what="pass 1")
        # seen within a poll of pass 1's end, 4 s before pass 2: the job says it waits, and
        # until when; it is not "completed"
        self.assertEqual((j["state"], j["phase"], j["pass"]), ("running", "restore-wait", 1), j)
        self.assertIsNotNone(j["next_run"], j)
        self.assertIsNone(j["error"], j)
        j = self.wait_state(jid, ("completed", "failed"), timeout=120)
        self.assertEqual(j["state"], "completed", j)
        self.assertEqual(j["pass"], 2, j)
        self.assertEqual(m.get_object(Bucket=src, Key="cold/a")["Body"].read(), b"archived bytes")
        self.assertEqual(self.member_a.s3.get_object(Bucket=dst, Key="cold/a")["Body"].read(),
                         b"archived bytes")
        r1 = self.api("GET", "/%s/report" % jid, query=[("pass", "1")], who=self.admin_a).json
        self.assertEqual(r1["result"], "waiting", r1)
        self.assertEqual([x["key"] for x in r1["waiting"]], ["cold/a"])
        self.assertEqual((r1["stats"]["waiting"], r1["stats"]["failed"], r1["failed"]),
                         (1, 0, []))
        self.assertEqual(r1["stats"]["verified"], 1)  # warm/b
        c1 = self.api("GET", "/%s/report" % jid, query=[("pass", "1"), ("format", "csv")])
        rows = list(csv.reader(io.StringIO(c1.raw.decode())))
        self.assertIn(["summary", "result", "", "waiting", ""], rows)
        self.assertIn("cold/a", [r[1] for r in rows if r[0] == "waiting"])
        r2 = self.api("GET", "/%s/report" % jid, who=self.admin_a).json
        self.assertEqual((r2["pass"], r2["result"], r2["waiting"]), (2, "completed", []), r2)
        self.assertEqual((r2["stats"]["verified"], r2["stats"]["skipped"]), (1, 1), r2)
        lst = self.api("GET", "/%s/reports" % jid).json["reports"]
        self.assertEqual([(x["pass"], x["result"]) for x in lst],
                         [(2, "completed"), (1, "waiting")])

    def test_reports_column_of_an_old_jobs_db_is_upgraded(self):
        """A jobs.db of the first schema (one report per job in jobs.report, no reports table,
        no restore_check_s column) opens with that report served as its pass's."""
        src, dst = h.unique_bucket("upsrc"), h.unique_bucket("updst")
        self.populate(src, n=3, multipart=False)
        job = self.create(self.body(src, dst))
        jid = job["id"]
        self.assertEqual(self.wait_state(jid, ("completed", "failed"))["state"], "completed")
        rep = self.api("GET", "/%s/report" % jid).json
        path = os.path.join(self.server.data_dir, "migrate", "jobs.db")
        port = self.server.port  # the other tests' clients keep using it
        self.server.stop()
        try:
            self.assertEqual(self.server.problems, [])
            with sqlite3.connect(path) as db:  # back to the old shape
                db.execute("UPDATE jobs SET report=? WHERE id=?", (json.dumps(rep), jid))
                db.execute("DROP TABLE reports")
                db.execute("ALTER TABLE jobs DROP COLUMN restore_check_s")
        finally:
            self.server.start(port=port)
        j = self.job(jid)
        self.assertEqual((j["state"], j["options"]["restore_check_seconds"]), ("completed", 900))
        r = self.api("GET", "/%s/report" % jid, query=[("pass", "1")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, rep)
        lst = self.api("GET", "/%s/reports" % jid).json["reports"]
        self.assertEqual([(x["pass"], x["result"], x["stats"]["verified"]) for x in lst],
                         [(1, "completed", 4)])
        with sqlite3.connect(path) as db:
            self.assertEqual(db.execute("SELECT COUNT(*) FROM jobs WHERE report IS NOT NULL"
                                        ).fetchone()[0], 0)

    def test_update_rotates_credentials_and_options(self):
        """PATCH /admin/v1/migrations/{id}: a job that failed on a wrong secret gets the right
        one (re-sealed, never echoed, logged or stored in clear) and then completes; options
        change only while the job is not running (409 otherwise); filters, source and
        destination cannot change; scoped and audited like the job's other actions."""
        ak, sk = self.ten.key_create(self.tenant_a, "boss")
        wrong = "wrong" + secrets.token_hex(16)
        srcb, dst = h.unique_bucket("rotsrc"), h.unique_bucket("rotdst")
        self.admin_a.s3.create_bucket(Bucket=srcb)
        for i in range(3):
            self.admin_a.s3.put_object(Bucket=srcb, Key="k%d" % i, Body=b"v%d" % i)
        body = self.body(srcb, dst, endpoint=self.server.endpoint, secret=wrong)
        body["source"]["access_key"] = ak
        job = self.create(body, who=self.admin_a)
        jid = job["id"]
        j = self.wait_state(jid, ("failed", "completed"), timeout=60)
        self.assertEqual(j["state"], "failed", j)
        self.assertIn("SignatureDoesNotMatch", j["error"])
        # refused: what defines the job, bad values, other tenants, members, an empty change
        for bad in ({"source": {"include": ["x*"]}}, {"dest_bucket": "other"},
                    {"source": {"bucket": "b2"}}, {"delete_extraneous": True},
                    {"concurrency": 1000}, {"concurrency": "4"}, {}):
            r = self.api("PATCH", "/" + jid, bad, who=self.admin_a)
            self.assertEqual((r.status, r.error_code), (400, "InvalidArgument"), (bad, r))
        r = self.api("PATCH", "/" + jid, {"concurrency": 2}, who=self.admin_b)
        self.assertEqual(r.status, 403, r)
        r = self.api("PATCH", "/" + jid, {"concurrency": 2}, who=self.member_a)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.api("PATCH", "/nonexistent", {"concurrency": 2}).status, 404)
        # the right secret
        r = self.api("PATCH", "/" + jid, {"source": {"secret_key": sk}, "concurrency": 2,
                                          "restore_check_seconds": 60}, who=self.admin_a)
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(sk, r.raw.decode())
        self.assertNotIn("secret_key", r.json["source"])
        self.assertEqual((r.json["options"]["concurrency"],
                          r.json["options"]["restore_check_seconds"], r.json["state"]),
                         (2, 60, "failed"))
        self.assertEqual(self.api("POST", "/%s/start" % jid, who=self.admin_a).status, 200)
        j = self.wait_state(jid, ("failed", "completed"), timeout=60)
        self.assertEqual(j["state"], "completed", j)
        self.assertEqual(j["stats"]["verified"], 3)
        # an interval job between passes is running: no change until paused
        r = self.api("PATCH", "/" + jid, {"interval_seconds": 3600}, who=self.admin_a)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.api("POST", "/%s/start" % jid).status, 200)
        self.wait(jid, lambda j: j["passes_done"] >= 2, what="pass 2")
        r = self.api("PATCH", "/" + jid, {"concurrency": 3}, who=self.admin_a)
        self.assertEqual((r.status, r.error_code), (409, "InvalidState"), r)
        self.assertEqual(self.api("POST", "/%s/pause" % jid).status, 200)
        self.wait(jid, lambda j: j["state"] == "paused", what="paused")
        p = self.run_cli("update", jid, "--concurrency", "3", "--bwlimit", "1M", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        opts = json.loads(p.stdout)["options"]
        self.assertEqual((opts["concurrency"], opts["bandwidth_limit"]), (3, 1024 * 1024))
        self.assertEqual(self.job(jid)["options"]["concurrency"], 3)
        self.assertEqual(self.run_cli("update", jid).returncode, 2)  # nothing to change
        # the environment's source secret is not sent by update; '-' reads one from stdin
        p = self.run_cli("update", jid, "--interval", "0", env_extra={
            "GZY_SOURCE_SECRET_KEY": wrong})
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.run_cli("update", jid, "--source-secret-key", "-", "--json",
                         stdin_text=sk + "\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn(sk, (p.stdout + p.stderr).decode())
        self.assertEqual(self.api("POST", "/%s/resume" % jid).status, 200)
        j = self.wait_state(jid, ("completed", "failed"), timeout=60)
        self.assertEqual((j["state"], j["pass"], j["error"]), ("completed", 3, None), j)
        # audited, never with the secret
        r = t.admin_request(self.server, "GET", "/admin/v1/audit",
                            query=[("tenant", self.tenant_a), ("limit", "1000")])
        actions = [(e.get("action"), e.get("resource")) for e in r.json["entries"]]
        self.assertIn(("admin:UpdateMigration", "migration/" + jid), actions)
        self.assertNotIn(sk, r.raw.decode())
        self.assert_no_secret(sk)
        self.assert_no_secret(wrong)

    def test_graceful_restart_resumes(self):
        src, dst = h.unique_bucket("gsrc"), h.unique_bucket("gdst")
        n = self.populate(src, n=150, size=6000, multipart=False)
        job = self.create(self.body(src, dst, concurrency=1, bandwidth_limit=300 * 1024))
        j = self.wait(job["id"], lambda j: j["stats"]["verified"] >= 10, what="progress")
        before = j["stats"]["verified"]
        self.assertLess(before, n)
        self.server.restart()  # SIGTERM: runners stop at the next object, exit status 0
        j = self.wait_state(job["id"], ("completed", "failed"), timeout=300)
        self.assertEqual(j["state"], "completed", j)
        self.assertEqual(j["pass"], 1)
        self.assertGreaterEqual(j["stats"]["skipped"], before)
        self.assertEqual(j["stats"]["verified"] + j["stats"]["skipped"], n)

    def test_throttled_object_does_not_hold_up_a_stop(self):
        """A bandwidth limit sleeps inside an object's transfer; pausing and shutting down
        must not wait for that object (1 MiB at 48 KiB/s is ~21 s): the transfer is aborted,
        the object left for the next pass, never reported failed."""
        src, dst = h.unique_bucket("tsrc"), h.unique_bucket("tdst")
        self.moto.s3.create_bucket(Bucket=src)
        data = h.random_bytes(h.MiB, seed=77)
        self.moto.s3.put_object(Bucket=src, Key="slow/one", Body=data)
        job = self.create(self.body(src, dst, concurrency=1, bandwidth_limit=48 * 1024))
        self.wait(job["id"], lambda j: j["phase"] == "copying", what="copying")
        time.sleep(1.0)  # the transfer is under way, sleeping in the throttle
        t0 = time.monotonic()
        self.assertEqual(self.api("POST", "/%s/pause" % job["id"]).status, 200)
        j = self.wait_state(job["id"], ("paused",), timeout=30)
        self.assertLess(time.monotonic() - t0, 5.0, "pausing waited for the throttled object")
        self.assertEqual(j["stats"]["failed"], 0, j)
        self.assertEqual(self.api("POST", "/%s/resume" % job["id"]).status, 200)
        self.wait(job["id"], lambda j: j["phase"] == "copying", what="copying again")
        time.sleep(1.0)
        t0 = time.monotonic()
        self.server.restart()  # SIGTERM: a clean exit, without finishing the object
        self.assertLess(time.monotonic() - t0, 8.0, "shutdown waited for the throttled object")
        j = self.wait_state(job["id"], ("completed", "failed"), timeout=120)
        self.assertEqual(j["state"], "completed", j)
        self.assertEqual(j["stats"]["failed"], 0, j)
        got = self.member_a.s3.get_object(Bucket=dst, Key="slow/one")["Body"].read()
        self.assertEqual(got, data)

    def test_filters_and_audit(self):
        src, dst = h.unique_bucket("fisrc"), h.unique_bucket("fidst")
        self.populate(src, n=20, multipart=False)
        body = self.body(src, dst)
        body["source"]["include"] = ["obj/001*"]
        body["source"]["exclude"] = ["obj/0015"]
        job = self.create(body, who=self.admin_a)
        self.assertEqual(job["source"]["include"], ["obj/001*"])
        j = self.wait_state(job["id"], ("completed", "failed"))
        self.assertEqual(j["state"], "completed", j)
        want = sorted("obj/%04d" % i for i in range(10, 20) if i != 15)
        self.assertEqual(sorted(self.listing(self.member_a.s3, dst)), want)
        # platform listing filtered by tenant
        lst = self.api("GET", query=[("tenant", self.tenant_a)]).json["migrations"]
        self.assertIn(job["id"], [x["id"] for x in lst])
        self.assertTrue(all(x["tenant_name"] == self.tenant_a for x in lst))
        # the creation is audited
        r = t.admin_request(self.server, "GET", "/admin/v1/audit",
                            query=[("tenant", self.tenant_a), ("limit", "1000")])
        self.assertEqual(r.status, 200, r)
        actions = [(e.get("action"), e.get("resource")) for e in r.json["entries"]]
        self.assertIn(("admin:CreateMigration", "migration/" + job["id"]), actions)
        self.assertNotIn(self.secret, r.raw.decode())

    def test_unknown_job(self):
        r = self.api("GET", "/nonexistent")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.error_code, "NotFound")

    def test_estimate_is_scoped_audited_and_secret_free(self):
        """POST /admin/v1/migrations/{id}/estimate: scoped like the job's other actions,
        audited, secret-free; a job deleted while its estimate runs is simply gone."""
        src, dst = h.unique_bucket("esrc"), h.unique_bucket("edst")
        self.populate(src, n=3, multipart=False)
        jid = self.create(self.body(src, dst, start=False), who=self.admin_a)["id"]
        j = self.wait(jid, lambda j: (j["estimate"] or {}).get("state") == "done",
                      what="the automatic estimate")
        self.assertGreaterEqual(j["estimate"]["objects"], 3, j["estimate"])
        self.assertEqual(j["state"], "created", j)
        for who in (self.admin_b, self.supervisor, self.member_a):
            r = self.api("POST", "/%s/estimate" % jid, who=who)
            self.assertEqual(r.status, 403, (who, r))
        r = self.api("POST", "/%s/estimate" % jid, who=self.admin_a)
        self.assertEqual(r.status, 202, r)
        self.wait(jid, lambda j: j["estimate"]["state"] == "done", what="the second estimate")
        r = t.admin_request(self.server, "GET", "/admin/v1/audit",
                            query=[("tenant", self.tenant_a), ("limit", "1000")])
        actions = [(e.get("action"), e.get("resource")) for e in r.json["entries"]]
        self.assertIn(("admin:EstimateMigration", "migration/" + jid), actions)
        self.assert_no_secret()
        # deleted while estimating: the delete is not refused and the result is dropped
        r = self.api("POST", "/%s/estimate" % jid, who=self.admin_a)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(self.api("DELETE", "/" + jid, who=self.admin_a).status, 204)
        self.assertEqual(self.api("GET", "/" + jid).status, 404)
        time.sleep(1)
        self.assertEqual(self.api("GET", "/" + jid).status, 404)


    def test_created_then_started_copies_and_verifies(self):
        """start:false, then POST .../start: the same pass as a job started at once."""
        src, dst = h.unique_bucket("lsrc"), h.unique_bucket("ldst")
        n = self.populate(src, n=12)
        job = self.create(self.body(src, dst, start=False), who=self.admin_a)
        self.assertEqual(job["state"], "created", job)
        time.sleep(1)
        j = self.job(job["id"])
        self.assertEqual((j["state"], j["pass"]), ("created", 0), j)
        self.assertEqual(self.api("GET", "/%s/report" % job["id"]).status, 404)
        r = self.api("POST", "/%s/start" % job["id"], who=self.admin_a)
        self.assertEqual(r.status, 200, r)
        j = self.wait_state(job["id"], ("completed", "failed"))
        self.assertEqual(j["state"], "completed", j)
        self.assertIsNone(j["error"])
        self.assertEqual((j["pass"], j["stats"]["verified"], j["stats"]["failed"]), (1, n, 0))
        self.assert_same(src, dst, self.member_a.s3)
        rep = self.api("GET", "/%s/report" % job["id"], who=self.admin_a).json
        self.assertEqual((rep["result"], rep["stats"]["verified"]), ("completed", n), rep)
        self.assertEqual(sum(rep["verification"].values()), n)
        self.assertEqual(rep["stats"]["verified_md5"] + rep["stats"]["verified_mpu"], n)
        self.assertIsNotNone(j["manifest"], j)
        m = self.api("GET", "/%s/manifest" % job["id"], who=self.admin_a)
        self.assertEqual(m.status, 200, m)
        self.assertEqual(len(m.json["objects"]), n)
        # started again: a second pass over the unchanged source copies nothing
        self.assertEqual(self.api("POST", "/%s/start" % job["id"]).status, 200)
        j = self.wait(job["id"], lambda j: j["pass"] == 2 and j["state"] in ("completed",
                                                                            "failed"),
                      what="the second pass")
        self.assertEqual(j["state"], "completed", j)
        self.assertEqual((j["stats"]["copied"], j["stats"]["skipped"]), (0, n), j)


    def test_cli_run_progress_on_a_terminal(self):
        """`gzy migrate run` with stdout a terminal (a pty): a live line redrawn in place
        (pass, phase, objects, bytes, rate, ETA), no JSON, the job's end on stderr."""
        import re
        src, dst = h.unique_bucket("ysrc"), h.unique_bucket("ydst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        for i in range(8):
            m.put_object(Bucket=src, Key="p/%d" % i, Body=h.random_bytes(256 * 1024, seed=i))
        env = {k: v for k, v in os.environ.items() if not k.startswith("GZY_")}
        env.update(GZY_ACCESS_KEY=self.server.access_key, GZY_SECRET_KEY=self.server.secret_key,
                   GZY_SOURCE_ACCESS_KEY="testing", GZY_SOURCE_SECRET_KEY=self.secret)
        cmd = [os.path.abspath(os.environ.get("GZY_BIN", "build/gzy")), "migrate", "run",
               "--tenant", self.tenant_a, "--source-endpoint", self.moto.endpoint,
               "--source-bucket", src, "--dest-bucket", dst, "--concurrency", "2",
               "--bwlimit", "512K", "--admin-endpoint", self.server.admin_endpoint]
        rc, text, err = h.run_on_terminal(cmd, env=env)
        err = err.decode(errors="replace")
        self.assertEqual(rc, 0, err)
        self.assertNotIn("{", text)  # no JSON lines on a terminal
        frames = [f.strip() for f in re.split(r"\r\x1b\[K", text) if f.strip()]
        bar = (r"^pass 1 (?P<phase>[a-z]+) +(?P<done>\d+)/(?P<total>\d+) objects  "
               r"(?P<bytes>[\d.]+ [KMG]?i?B)/[\d.]+ [KMG]?i?B  [\d.]+ [KMG]?i?B/s  "
               r"ETA (?P<eta>-|\d+m\d\ds)$")
        bars = [re.match(bar, f) for f in frames]
        self.assertTrue(all(bars), [f for f, b in zip(frames, bars) if not b])
        self.assertGreaterEqual(len(bars), 3, frames)  # redrawn while the pass runs (~4 s)
        self.assertTrue(any(b.group("eta") != "-" and 0 < int(b.group("done")) < 8
                            for b in bars), frames)  # a live rate and ETA mid-pass
        self.assertEqual((bars[-1].group("done"), bars[-1].group("total"),
                          bars[-1].group("bytes")), ("8", "8", "2.0 MiB"), frames)
        self.assertTrue(text.endswith("\r\n"), repr(text[-200:]))  # the line is ended
        job_id = re.search(r"gzy migrate: job (\S+) created", err).group(1)
        self.assertIn("gzy migrate: job %s completed" % job_id, err)
        self.assertNotIn(self.secret, text + err)
        self.assertEqual(self.job(job_id)["stats"]["verified"], 8)

    def test_supervisor_verifies_manifest_against_stored_data(self):
        """POST .../manifests/{pass}/verify: the server checks a pass's signed manifest against
        its own store (no GetObject right needed): a supervisor may ask; a damaged object is
        named; scoped like the job's other routes, audited."""
        src, dst = h.unique_bucket("vsrc"), h.unique_bucket("vdst")
        n = self.populate(src, n=6, multipart=False)
        jid = self.create(self.body(src, dst), who=self.admin_a)["id"]
        j = self.wait_state(jid, ("completed", "failed"))
        self.assertEqual(j["state"], "completed", j)
        self.assertIsNone(j["manifest_verify"], j)
        path = "/%s/manifests/1/verify" % jid

        def verify(who):
            r = self.api("POST", path, who=who)
            self.assertEqual(r.status, 202, r)
            self.assertEqual(r.json["manifest_verify"]["pass"], 1, r.json)
            return self.wait(jid, lambda j: j["manifest_verify"]["state"] != "running",
                             timeout=60, what="the verification")["manifest_verify"]

        v = verify(self.supervisor)
        self.assertEqual(v["state"], "done", v)
        self.assertEqual(v["objects"], n, v)
        self.assertEqual(v["ok"], n, v)
        self.assertEqual((v["missing"], v["mismatched"], v["errors"]), (0, 0, 0), v)
        self.assertEqual(v["problems"], [], v)
        self.assertTrue(v["clean"], v)
        self.assertIsNone(v["error"], v)

        # damage one stored object (same size, other bytes): named as mismatched
        victim = "obj/0003"
        size = self.member_a.s3.head_object(Bucket=dst, Key=victim)["ContentLength"]
        self.admin_a.s3.put_object(Bucket=dst, Key=victim, Body=b"\0" * size)
        v = verify(self.admin_a)  # the job's own tenant admin may ask too
        self.assertEqual(v["state"], "done", v)
        self.assertFalse(v["clean"], v)
        self.assertEqual(v["ok"], n - 1, v)
        self.assertGreaterEqual(v["mismatched"] + v["errors"], 1, v)
        self.assertIn(victim, [p["key"] for p in v["problems"]], v)
        self.assertTrue(all(p["problem"] in ("missing", "mismatched", "error")
                            for p in v["problems"]), v)

        # scoping: another tenant's admin and a member are refused; supervisors still cannot
        # change jobs; an unknown pass or job is 404
        for who in (self.admin_b, self.member_a):
            r = self.api("POST", path, who=who)
            self.assertEqual(r.status, 403, (who, r))
        for action in ("start", "pause", "cancel"):
            r = self.api("POST", "/%s/%s" % (jid, action), who=self.supervisor)
            self.assertEqual(r.status, 403, (action, r))
        r = self.api("POST", "/%s/manifests/99/verify" % jid, who=self.supervisor)
        self.assertEqual(r.status, 404, r)
        r = self.api("POST", "/%s/manifests/x/verify" % jid, who=self.supervisor)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.api("POST", "/nonexistent/manifests/1/verify").status, 404)

        # the supervisor's call is audited
        r = t.admin_request(self.server, "GET", "/admin/v1/audit",
                            query=[("tenant", self.tenant_a), ("limit", "1000")])
        self.assertEqual(r.status, 200, r)
        entries = [e for e in r.json["entries"]
                   if e.get("action") == "admin:VerifyMigrationManifest"
                   and e.get("resource") == "migration/" + jid]
        self.assertGreaterEqual(len(entries), 2, r.json["entries"][-5:])
        self.assertIn(self.supervisor.access_key, [e.get("principal") for e in entries], entries)


if __name__ == "__main__":
    unittest.main()
