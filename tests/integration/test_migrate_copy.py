"""`gzy migrate copy`: moto_server as the source, gzy as the destination. Every object arrives
byte-identical with its metadata; a second run copies nothing; changes, additions and
deletions are handled (--delete-extraneous); bad credentials and an unreachable endpoint fail
clearly; kill -9 mid-run resumes from the journal without recopying verified objects."""

import concurrent.futures
import hashlib
import threading
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest


import harness as h
from motopeer import MOTO_KEY, HookProxy, Moto, free_port, moto_binary

AWKWARD = ["with space.txt", "plus+sign", "per%cent", "unicode-\u00e9\u4e2d\u6587.bin",
           "deep/a/b/c/d/e/f/g.txt", "dots/../up", "./lead-dot", "tilde~and=eq&amp"]
META = {"owner": "alice", "project": "gzy-migrate"}


def FaultProxy(upstream_port):
    """A HookProxy in front of moto that injects faults by key: 'flaky/slowdown' answers the
    first two GETs with 503 SlowDown, 'flaky/corrupt' flips a byte of its first GET body, and
    'flaky/denied' always answers 403 AccessDenied."""
    lock, seen = threading.Lock(), {}

    def before(handler, key):
        if handler.command != "GET":
            return None
        with lock:
            handler.gzy_seen = seen[key] = seen.get(key, 0) + 1
        if key.endswith("flaky/denied"):
            return 403, {}, (b"<Error><Code>AccessDenied</Code>"
                             b"<Message>denied by the test</Message></Error>")
        if key.endswith("flaky/slowdown") and handler.gzy_seen <= 2:
            return 503, {}, b"<Error><Code>SlowDown</Code><Message>slow down</Message></Error>"
        return None

    def after(handler, key, status, headers, data):
        if handler.command == "GET" and key.endswith("flaky/corrupt") and \
                handler.gzy_seen == 1 and data:
            data = bytes([data[0] ^ 1]) + data[1:]
        return status, headers, data

    return HookProxy(upstream_port, before=before, after=after)


@unittest.skipIf(moto_binary() is None, "moto_server is not installed")
class MigrateCopyTests(h.ServerTestCase):
    gzy_only = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.moto = Moto()
        cls.tmp = tempfile.mkdtemp(prefix="gzy-mig-")

    @classmethod
    def tearDownClass(cls):
        cls.moto.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    # ---- helpers ----

    def populate(self, bucket, small=300, multipart=3):
        m = self.moto.s3
        m.create_bucket(Bucket=bucket)

        def put_small(i):
            m.put_object(Bucket=bucket, Key="small/%04d" % i, Body=h.random_bytes(i * 37 % 3000,
                         seed=i), ContentType="text/x-%d" % (i % 3))
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(put_small, range(small)))
        for k in AWKWARD:
            m.put_object(Bucket=bucket, Key=k, Body=("body of " + k).encode())
        m.put_object(Bucket=bucket, Key="meta/full", Body=b"metadata object",
                     ContentType="application/x-gzy", CacheControl="max-age=60",
                     ContentDisposition='attachment; filename="f.txt"',
                     ContentEncoding="identity", ContentLanguage="zh-CN",
                     Expires="Wed, 21 Oct 2037 07:28:00 GMT", Metadata=META)
        m.put_object(Bucket=bucket, Key="empty", Body=b"")
        for n in range(multipart):
            key = "big/mp-%d" % n
            up = m.create_multipart_upload(Bucket=bucket, Key=key, ContentType="video/x-big",
                                           Metadata={"part": str(n)})
            parts = []
            sizes = [5 * h.MiB, 5 * h.MiB, 1 * h.MiB + n * 4097]
            if n == 0:  # copied as 4 parts of 8 MiB: several parallel ranged GETs
                sizes = [5 * h.MiB] * 5 + [1 * h.MiB + 3]
            for i, sz in enumerate(sizes):
                r = m.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                  PartNumber=i + 1, Body=h.random_bytes(sz, seed=100 * n + i))
                parts.append({"PartNumber": i + 1, "ETag": r["ETag"]})
            m.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})

    def run_copy(self, src, dst, *extra, env_keys=False, check=True, timeout=600,
                 source=None):
        args = [os.environ.get("GZY_BIN", "build/gzy"), "migrate", "copy",
                "--source-endpoint", source or self.moto.endpoint, "--source-bucket", src,
                "--dest-endpoint", self.server.endpoint, "--dest-bucket", dst,
                "--concurrency", "4"]
        env = dict(os.environ)
        if env_keys:
            env.update(GZY_SOURCE_ACCESS_KEY=MOTO_KEY, GZY_SOURCE_SECRET_KEY=MOTO_KEY,
                       GZY_DEST_ACCESS_KEY=self.server.access_key,
                       GZY_DEST_SECRET_KEY=self.server.secret_key)
        else:
            args += ["--source-access-key", MOTO_KEY, "--source-secret-key", MOTO_KEY,
                     "--dest-access-key", self.server.access_key,
                     "--dest-secret-key", self.server.secret_key]
        args += list(extra)
        p = subprocess.run(args, capture_output=True, timeout=timeout, env=env)
        self.assert_clean(p)
        out = p.stdout.decode()
        lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        report = lines[-1] if lines and lines[-1].get("event") == "report" else None
        if check:
            self.assertEqual(p.returncode, 0, "stdout:\n%s\nstderr:\n%s"
                             % (out[-3000:], p.stderr.decode()[-3000:]))
        return p, report, lines

    def assert_clean(self, p):
        err = p.stderr.decode(errors="replace")
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)

    def listing(self, client, bucket):
        keys = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                keys[o["Key"]] = o["Size"]
        return keys

    def assert_same(self, src, dst):
        want = self.listing(self.moto.s3, src)
        got = self.listing(self.s3, dst)
        self.assertEqual(sorted(want), sorted(got))
        for key in want:
            a = self.moto.s3.get_object(Bucket=src, Key=key)
            b = self.s3.get_object(Bucket=dst, Key=key)
            self.assertEqual(hashlib.sha256(a["Body"].read()).hexdigest(),
                             hashlib.sha256(b["Body"].read()).hexdigest(), key)
            for f in ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding",
                      "ContentLanguage"):
                self.assertEqual(a.get(f), b.get(f), "%s of %s" % (f, key))
            got_meta = dict(b.get("Metadata") or {})
            # over HTTP the source's identity rides along as user metadata
            self.assertEqual(got_meta.pop("gzy-source-etag", None), a["ETag"].strip('"'), key)
            self.assertIn("gzy-source-mtime", got_meta, key)
            got_meta.pop("gzy-source-mtime")
            self.assertEqual(a.get("Metadata"), got_meta, "Metadata of %s" % key)
            self.assertEqual(a.get("ExpiresString", a.get("Expires")),
                             b.get("ExpiresString", b.get("Expires")), key)
        return want

    # ---- tests ----

    def test_copy_rerun_incremental(self):
        src, dst = h.unique_bucket("msrc"), h.unique_bucket("mdst")
        self.populate(src)
        self.s3.create_bucket(Bucket=dst)
        journal = os.path.join(self.tmp, "inc.journal")
        p, rep, lines = self.run_copy(src, dst, "--journal", journal)
        n = 300 + len(AWKWARD) + 2 + 3
        self.assertEqual(rep["status"], "ok")
        self.assertEqual(rep["copied"]["objects"], n)
        self.assertEqual(rep["verified"]["objects"], n)
        self.assertEqual(rep["verified_by"]["mpu-md5"], 3)  # the multipart sources
        self.assertEqual(rep["verified_by"]["size+sha256"], 0)
        self.assertEqual(rep["failed"]["objects"], 0)
        methods = {l["key"]: l["method"] for l in lines if l.get("event") == "object"}
        self.assertEqual(methods["big/mp-0"], "mpu-md5")
        self.assertEqual(methods["small/0001"], "md5")
        self.assert_same(src, dst)

        # second run: nothing to copy (with the journal, and without one)
        _, rep, _ = self.run_copy(src, dst, "--journal", journal)
        self.assertEqual(rep["copied"]["objects"], 0)
        self.assertEqual(rep["skipped"]["objects"], n)
        _, rep, _ = self.run_copy(src, dst, env_keys=True)
        self.assertEqual(rep["copied"]["objects"], 0)
        self.assertEqual(rep["skipped"]["objects"], n)

        # third run: changed, added and deleted source objects
        m = self.moto.s3
        m.put_object(Bucket=src, Key="small/0005", Body=b"changed, same prefix")
        m.put_object(Bucket=src, Key="small/0006", Body=b"X" * (6 * 37 % 3000))  # same size
        m.put_object(Bucket=src, Key="added/new one", Body=b"new", Metadata={"a": "b"})
        m.delete_object(Bucket=src, Key="small/0007")
        m.delete_object(Bucket=src, Key="big/mp-2")
        _, rep, _ = self.run_copy(src, dst, "--dry-run", "--delete-extraneous",
                                  "--journal", journal)
        self.assertEqual(rep["to_copy"]["objects"], 3)
        self.assertEqual(rep["extraneous"], 2)
        self.assertEqual(rep["copied"]["objects"], 0)
        _, rep, _ = self.run_copy(src, dst, "--delete-extraneous", "--journal", journal)
        self.assertEqual(rep["copied"]["objects"], 3)
        self.assertEqual(rep["deleted"], 2)
        self.assert_same(src, dst)

    def test_prefix(self):
        src, dst = h.unique_bucket("psrc"), h.unique_bucket("pdst")
        self.populate(src, small=20, multipart=0)
        self.s3.create_bucket(Bucket=dst)
        _, rep, _ = self.run_copy(src, dst, "--source-prefix", "deep/")
        self.assertEqual(rep["copied"]["objects"], 1)
        self.assertEqual(list(self.listing(self.s3, dst)), ["deep/a/b/c/d/e/f/g.txt"])

    def test_bad_credentials_and_endpoint(self):
        src, dst = h.unique_bucket("esrc"), h.unique_bucket("edst")
        self.moto.s3.create_bucket(Bucket=src)
        self.moto.s3.put_object(Bucket=src, Key="k", Body=b"v")
        self.s3.create_bucket(Bucket=dst)
        p, rep, _ = self.run_copy(src, dst, "--dest-secret-key", "wrong" * 8, check=False)
        self.assertEqual(p.returncode, 1)
        err = p.stderr.decode()
        self.assertIn("destination", err)
        self.assertIn("403", err)
        self.assertEqual(rep["status"], "error")
        # gzy as a source enforces credentials too
        args = [os.environ.get("GZY_BIN", "build/gzy"), "migrate", "copy",
                "--source-endpoint", self.server.endpoint, "--source-bucket", dst,
                "--source-access-key", self.server.access_key, "--source-secret-key", "bad",
                "--dest-endpoint", self.server.endpoint, "--dest-bucket", dst,
                "--dest-access-key", self.server.access_key,
                "--dest-secret-key", self.server.secret_key]
        p = subprocess.run(args, capture_output=True, timeout=120)
        self.assert_clean(p)
        self.assertEqual(p.returncode, 1)
        self.assertIn("source", p.stderr.decode())
        self.assertIn("SignatureDoesNotMatch", p.stderr.decode())
        # unreachable endpoint: fails fast with the curl reason
        start = time.time()
        dead = "http://127.0.0.1:%d" % free_port()
        args[4] = dead
        args[10] = self.server.secret_key
        p = subprocess.run(args, capture_output=True, timeout=120)
        self.assert_clean(p)
        self.assertEqual(p.returncode, 1)
        self.assertIn("source " + dead, p.stderr.decode())
        self.assertLess(time.time() - start, 30)
        # usage errors
        p = subprocess.run(args[:3] + ["--bogus"], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2)

    def test_transient_corrupt_and_denied(self):
        src, dst = h.unique_bucket("fsrc"), h.unique_bucket("fdst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        for k in ("flaky/slowdown", "flaky/corrupt", "flaky/denied", "fine"):
            m.put_object(Bucket=src, Key=k, Body=h.random_bytes(5000, seed=len(k)))
        self.s3.create_bucket(Bucket=dst)
        proxy = FaultProxy(self.moto.port)
        try:
            p, rep, lines = self.run_copy(src, dst, check=False, source=proxy.endpoint)
        finally:
            proxy.close()
        self.assertEqual(p.returncode, 1, p.stderr.decode())
        self.assertEqual(rep["status"], "partial")
        self.assertEqual(rep["verified"]["objects"], 3)
        self.assertEqual(rep["failed"]["objects"], 1)
        self.assertEqual(rep["failures"][0]["key"], "flaky/denied")
        self.assertIn("403 AccessDenied", rep["failures"][0]["reason"])
        self.assertGreaterEqual(rep["retries"], 3)  # two SlowDowns + one corrupt transfer
        for k in ("flaky/slowdown", "flaky/corrupt", "fine"):
            self.assertEqual(self.get_bytes(dst, k), self.moto.s3.get_object(
                Bucket=src, Key=k)["Body"].read(), k)
        failed = [l for l in lines if l.get("event") == "object" and l["state"] == "failed"]
        self.assertEqual([l["key"] for l in failed], ["flaky/denied"])

    def test_kill9_resume(self):
        src, dst = h.unique_bucket("ksrc"), h.unique_bucket("kdst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)

        def put(i):
            m.put_object(Bucket=src, Key="obj/%04d" % i, Body=h.random_bytes(64 * 1024, seed=i))
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(put, range(400)))
        self.s3.create_bucket(Bucket=dst)
        journal = os.path.join(self.tmp, "kill.journal")
        args = [os.environ.get("GZY_BIN", "build/gzy"), "migrate", "copy",
                "--source-endpoint", self.moto.endpoint, "--source-bucket", src,
                "--source-access-key", MOTO_KEY, "--source-secret-key", MOTO_KEY,
                "--dest-endpoint", self.server.endpoint, "--dest-bucket", dst,
                "--dest-access-key", self.server.access_key,
                "--dest-secret-key", self.server.secret_key,
                "--concurrency", "1", "--journal", journal]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        verified = 0
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
            try:
                with sqlite3.connect(journal, timeout=1) as db:
                    verified = db.execute("SELECT COUNT(*) FROM src WHERE state='verified'"
                                          ).fetchone()[0]
            except sqlite3.Error:
                continue
            if verified >= 40:
                break
        self.assertIsNone(proc.poll(), "the copy finished before it could be killed")
        proc.kill()
        proc.wait()
        with sqlite3.connect(journal) as db:
            verified = db.execute("SELECT COUNT(*) FROM src WHERE state='verified'").fetchone()[0]
        self.assertGreaterEqual(verified, 40)
        _, rep, _ = self.run_copy(src, dst, "--journal", journal)
        self.assertEqual(rep["status"], "ok")
        self.assertLessEqual(rep["copied"]["objects"], 400 - verified)
        self.assertGreaterEqual(rep["skipped"]["objects"], verified)
        self.assertEqual(len(self.listing(self.s3, dst)), 400)


if __name__ == "__main__":
    unittest.main()
