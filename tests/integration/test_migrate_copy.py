"""`gzy migrate copy`: moto_server as the source, gzy as the destination. Every object arrives
byte-identical with its metadata; a second run copies nothing; changes, additions and
deletions are handled (--delete-extraneous); bad credentials and an unreachable endpoint fail
clearly; kill -9 mid-run resumes from the journal without recopying verified objects."""

import concurrent.futures
import csv
import hashlib
import threading
import json
import os
import shutil
import socket
import sqlite3
import struct
import subprocess
import tempfile
import time
import unittest


import harness as h
import tenancy as t
from motopeer import HookProxy, MOTO_KEY, Moto, MotoServerCase, free_port, moto_binary

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
class MigrateCopyTests(MotoServerCase):
    TMP_PREFIX = "gzy-mig-"

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

    def test_clear_messages(self):
        """A missing --dest-data folder is named as such (and not created); an endpoint that
        answers 404 without an S3 error body is said not to look like S3, while a real
        NoSuchBucket keeps its code; `migrate run --help` names the source key variables."""
        gzy = os.environ.get("GZY_BIN", "build/gzy")
        src = h.unique_bucket("msgsrc")
        self.moto.s3.create_bucket(Bucket=src)
        missing = os.path.join(self.tmp, "no-such-folder", "data")
        p = subprocess.run([gzy, "migrate", "copy", "--source-endpoint", self.moto.endpoint,
                            "--source-bucket", src, "--source-access-key", MOTO_KEY,
                            "--source-secret-key", MOTO_KEY, "--dest-data", missing,
                            "--dest-bucket", "dst-bucket"], capture_output=True, timeout=60)
        self.assert_clean(p)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--dest-data %s: no such folder" % missing, p.stderr.decode())
        self.assertNotIn("does not exist", p.stderr.decode())
        self.assertFalse(os.path.exists(missing))
        # not an S3 endpoint: a bare 404 to everything
        proxy = HookProxy(self.moto.port, before=lambda handler, key: (404, {}, b""))
        try:
            p, rep, _ = self.run_copy(src, h.unique_bucket("msgdst"), check=False,
                                      source=proxy.endpoint)
        finally:
            proxy.close()
        self.assertEqual(p.returncode, 1)
        self.assertIn("HTTP 404 with no S3 error body: is --source-endpoint an S3 endpoint and "
                      "--source-bucket right?", p.stderr.decode())
        self.assertIn("HTTP 404 with no S3 error body", rep["error"])
        # an S3 endpoint without that bucket: its own error
        p, rep, _ = self.run_copy("no-such-" + src, h.unique_bucket("msgdst"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("HTTP 404 NoSuchBucket", p.stderr.decode())
        self.assertNotIn("no S3 error body", p.stderr.decode())
        p = subprocess.run([gzy, "migrate", "run", "--help"], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        for var in ("GZY_SOURCE_ACCESS_KEY", "GZY_SOURCE_SECRET_KEY"):
            self.assertIn(var, p.stdout.decode())

    def test_transient_corrupt_and_denied(self):
        src, dst = h.unique_bucket("fsrc"), h.unique_bucket("fdst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        for k in ("flaky/slowdown", "flaky/corrupt", "flaky/denied", "fine"):
            m.put_object(Bucket=src, Key=k, Body=h.random_bytes(5000, seed=len(k)))
        self.s3.create_bucket(Bucket=dst)
        proxy = FaultProxy(self.moto.port)
        report = os.path.join(self.tmp, "fault-report.json")
        try:
            p, rep, lines = self.run_copy(src, dst, "--report", report, check=False,
                                          source=proxy.endpoint)
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
        # --report: the jobs' report format, JSON at PATH and CSV beside it
        with open(report) as f:
            doc = json.load(f)
        self.assertEqual((doc["job"], doc["result"]), ("copy", "partial"))
        self.assertEqual((doc["stats"]["verified"], doc["stats"]["failed"]), (3, 1))
        self.assertEqual(doc["stats"]["verified_bytes"], 3 * 5000)
        self.assertEqual([f["key"] for f in doc["failed"]], ["flaky/denied"])
        self.assertIn("403 AccessDenied", doc["failed"][0]["reason"])
        with open(os.path.join(self.tmp, "fault-report.csv"), newline="") as f:
            rows = list(csv.reader(f))
        self.assertEqual(rows[0], ["kind", "key", "size", "reason", "retries"])
        summary = {r[1]: r for r in rows if r[0] == "summary"}
        self.assertEqual(summary["result"][3], "partial")
        self.assertEqual(summary["verified"][2], "3")
        self.assertEqual(summary["verified_bytes"][2], "15000")
        self.assertEqual(summary["failed"][2], "1")
        self.assertEqual(summary["listed"][2], "4")
        problems = [r for r in rows if r[0] != "summary"][1:]
        self.assertEqual([(r[0], r[1]) for r in problems], [("failed", "flaky/denied")])
        self.assertIn("403 AccessDenied", problems[0][3])

    def test_corrupt_on_every_read_fails_after_retries(self):
        """A byte flipped in every GET body: a small object (one GET), a single-part object
        larger than the part size (ranged GETs, checked against its MD5 ETag) and a multipart
        one (checked part by part against its mpu ETag) are each retried, then reported
        failed with the mismatch and their retries; nothing of them reaches the destination
        (no object, no multipart upload left behind) and the clean object is verified."""
        src, dst = h.unique_bucket("xsrc"), h.unique_bucket("xdst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        m.put_object(Bucket=src, Key="bad/small", Body=h.random_bytes(5000, seed=31))
        m.put_object(Bucket=src, Key="bad/big", Body=h.random_bytes(20 * h.MiB, seed=32))
        up = m.create_multipart_upload(Bucket=src, Key="bad/mpu")
        parts = []
        for i in range(3):
            r = m.upload_part(Bucket=src, Key="bad/mpu", UploadId=up["UploadId"],
                              PartNumber=i + 1, Body=h.random_bytes(6 * h.MiB, seed=40 + i))
            parts.append({"PartNumber": i + 1, "ETag": r["ETag"]})
        m.complete_multipart_upload(Bucket=src, Key="bad/mpu", UploadId=up["UploadId"],
                                    MultipartUpload={"Parts": parts})
        m.put_object(Bucket=src, Key="good", Body=b"fine")
        self.s3.create_bucket(Bucket=dst)
        lock, ranged = threading.Lock(), set()

        def after(handler, key, status, headers, data):
            if handler.command == "GET" and key.startswith("bad/") and len(data) > 100:
                data = data[:50] + bytes([data[50] ^ 1]) + data[51:]
                if handler.headers.get("Range"):
                    with lock:
                        ranged.add(key)
            return status, headers, data

        proxy = HookProxy(self.moto.port, after=after)
        try:
            p, rep, lines = self.run_copy(src, dst, check=False, source=proxy.endpoint)
            gets = {k: proxy.count("GET", k) for k in ("bad/small", "bad/big", "bad/mpu")}
        finally:
            proxy.close()
        self.assertEqual(p.returncode, 1, p.stderr.decode())
        self.assertEqual(rep["status"], "partial")
        self.assertEqual((rep["verified"]["objects"], rep["failed"]["objects"]), (1, 3), rep)
        self.assertEqual(ranged, {"bad/big", "bad/mpu"})  # the large ones came in ranges
        self.assertGreaterEqual(gets["bad/small"], 2, gets)  # read again after the mismatch
        self.assertGreaterEqual(gets["bad/big"], 4, gets)  # 20 MiB: 3 ranges, twice at least
        self.assertGreaterEqual(gets["bad/mpu"], 4, gets)
        fails = {f["key"]: f for f in rep["failures"]}
        self.assertEqual(sorted(fails), ["bad/big", "bad/mpu", "bad/small"])
        md5 = {k: h.md5_hex(m.get_object(Bucket=src, Key=k)["Body"].read())
               for k in ("bad/small", "bad/big")}
        for k in ("bad/small", "bad/big"):
            self.assertRegex(fails[k]["reason"], r"^MD5 [0-9a-f]{32} does not match the source "
                             r"ETag %s$" % md5[k], k)
        src_etag = m.head_object(Bucket=src, Key="bad/mpu")["ETag"].strip('"')
        self.assertRegex(fails["bad/mpu"]["reason"], r"^multipart ETag [0-9a-f]{32}-3 does not "
                         r"match the source ETag %s$" % src_etag)
        for k, f in fails.items():
            self.assertGreaterEqual(f["retries"], 1, f)
        self.assertGreaterEqual(rep["retries"], 3, rep)
        failed = sorted(l["key"] for l in lines if l.get("event") == "object"
                        and l["state"] == "failed")
        self.assertEqual(failed, ["bad/big", "bad/mpu", "bad/small"])
        # nothing of the corrupt objects at the destination, not even an unfinished upload
        self.assertEqual(sorted(self.listing(self.s3, dst)), ["good"])
        self.assertEqual(self.get_bytes(dst, "good"), b"fine")
        self.assertEqual(self.s3.list_multipart_uploads(Bucket=dst).get("Uploads", []), [])

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


def reset_connection(handler, status_line=b"HTTP/1.1 200 OK", length=1 << 20, sent=64 * 1024):
    """Answers with headers and part of a body, then resets the connection (RST)."""
    handler.wfile.write(b"%s\r\nContent-Length: %d\r\nContent-Type: binary/octet-stream\r\n\r\n"
                        % (status_line, length) + b"\0" * sent)
    handler.wfile.flush()
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()
    return HookProxy.DROP


@unittest.skipIf(moto_binary() is None, "moto_server is not installed")
class MigrateFaultTests(MotoServerCase):
    """Faults a real network gives: connections reset mid-body (a small object, a part of a
    large one), a source that stalls mid-body or before answering (past the engine's stall
    timeout, shortened with GZY_MIGRATE_STALL_SECONDS), all retried and the copy verified; and a
    small object overwritten or deleted between the listing and its GET."""
    TMP_PREFIX = "gzy-migfault-"
    STALL = 2

    def run_copy(self, src, dst, source, *extra):
        args = [os.environ.get("GZY_BIN", "build/gzy"), "migrate", "copy",
                "--source-endpoint", source, "--source-bucket", src,
                "--source-access-key", MOTO_KEY, "--source-secret-key", MOTO_KEY,
                "--dest-endpoint", self.server.endpoint, "--dest-bucket", dst,
                "--dest-access-key", self.server.access_key,
                "--dest-secret-key", self.server.secret_key, "--concurrency", "4"] + list(extra)
        env = dict(os.environ, GZY_MIGRATE_STALL_SECONDS=str(self.STALL))
        p = subprocess.run(args, capture_output=True, timeout=300, env=env)
        err = p.stderr.decode(errors="replace")
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)
        lines = [json.loads(l) for l in p.stdout.decode().splitlines() if l.startswith("{")]
        rep = lines[-1] if lines and lines[-1].get("event") == "report" else None
        self.assertIsNotNone(rep, "stdout:\n%s\nstderr:\n%s" % (p.stdout.decode()[-3000:],
                                                                err[-3000:]))
        return p, rep, lines

    def test_resets_and_stalls_are_retried(self):
        src, dst = h.unique_bucket("rsrc"), h.unique_bucket("rdst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        want = {"fault/reset-small": h.random_bytes(200000, seed=1),
                "fault/stall-body": h.random_bytes(200000, seed=2),
                "fault/stall-head": h.random_bytes(3000, seed=3),
                "fault/reset-part": h.random_bytes(12 * h.MiB + 5, seed=4),
                "fine": b"no fault here"}
        for k, v in want.items():
            m.put_object(Bucket=src, Key=k, Body=v)
        self.s3.create_bucket(Bucket=dst)
        lock, seen, release = threading.Lock(), {}, threading.Event()
        second_part = "bytes=%d-" % (8 * h.MiB)

        def before(handler, key):
            if handler.command != "GET" or not key.startswith("fault/"):
                return None
            rng = handler.headers.get("Range") or ""
            if key == "fault/reset-part" and not rng.startswith(second_part):
                return None
            with lock:
                n = seen[key] = seen.get(key, 0) + 1
            if n > 1:
                return None
            if key == "fault/reset-small":
                return reset_connection(handler)
            if key == "fault/reset-part":
                return reset_connection(handler, b"HTTP/1.1 206 Partial Content", 4 * h.MiB)
            if key == "fault/stall-body":  # some bytes, then nothing for much longer than STALL
                handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" +
                                    b"\0" * 1000)
                handler.wfile.flush()
            release.wait(30)  # stall-head: not even a status line
            return HookProxy.DROP

        proxy = HookProxy(self.moto.port, before=before)
        start = time.monotonic()
        try:
            p, rep, lines = self.run_copy(src, dst, proxy.endpoint)
        finally:
            release.set()
            proxy.close()
        elapsed = time.monotonic() - start
        self.assertEqual(p.returncode, 0, "\n".join(map(str, lines)) + p.stderr.decode())
        self.assertEqual(rep["verified"]["objects"], 5, rep)
        self.assertEqual(rep["failures"], [])
        self.assertEqual(seen, {"fault/reset-small": 2, "fault/stall-body": 2,
                                "fault/stall-head": 2, "fault/reset-part": 2})
        self.assertGreaterEqual(rep["retries"], 4, rep)
        # the stalls were cut by the stall timeout, not by the proxy giving up after 30 s
        self.assertLess(elapsed, 25, rep)
        for k, v in want.items():
            self.assertEqual(self.get_bytes(dst, k), v, k)

    def test_small_object_changed_between_listing_and_get(self):
        src, dst = h.unique_bucket("csrc"), h.unique_bucket("cdst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        m.put_object(Bucket=src, Key="chg/small", Body=b"the listed version")
        m.put_object(Bucket=src, Key="chg/gone", Body=b"deleted before it is read")
        m.put_object(Bucket=src, Key="same", Body=b"unchanged")
        new = b"the version written after the listing, longer than the listed one"
        self.s3.create_bucket(Bucket=dst)
        lock, done = threading.Lock(), set()

        def before(handler, key):
            if handler.command != "GET" or key not in ("chg/small", "chg/gone"):
                return None
            with lock:
                first = key not in done
                done.add(key)
            if first and key == "chg/small":
                m.put_object(Bucket=src, Key=key, Body=new)
            elif first:
                m.delete_object(Bucket=src, Key=key)
            return None

        proxy = HookProxy(self.moto.port, before=before)
        journal = os.path.join(self.tmp, "changed.journal")
        try:
            p, rep, lines = self.run_copy(src, dst, proxy.endpoint, "--journal", journal)
        finally:
            proxy.close()
        self.assertEqual(p.returncode, 1, "\n".join(map(str, lines)))
        # the new version, whole and verified, with its own identity: never the listed
        # size/ETag paired with the new bytes
        self.assertEqual(self.get_bytes(dst, "chg/small"), new)
        head = self.s3.head_object(Bucket=dst, Key="chg/small")
        self.assertEqual(head["Metadata"]["gzy-source-etag"], h.md5_hex(new))
        self.assertEqual(head["ContentLength"], len(new))
        with sqlite3.connect(journal) as db:
            row = db.execute("SELECT state, size, done_etag, method FROM src WHERE key=?",
                             ("chg/small",)).fetchone()
        self.assertEqual(row, ("verified", len(new), h.md5_hex(new), "md5"))
        # deleted meanwhile: a clear per-object failure, nothing written
        self.assertEqual([f["key"] for f in rep["failures"]], ["chg/gone"])
        self.assertIn("404", rep["failures"][0]["reason"])
        self.assertEqual(sorted(self.listing(dst)), ["chg/small", "same"])

    def listing(self, bucket):
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]



def release_bin():
    """The uninstrumented gzy (tests/run.py sets GZY_RELEASE_BIN), or None. The memory bound
    is measured on it: under ASan, shadow memory and the quarantine (up to 256 MiB of freed
    blocks held back) would measure the sanitizer rather than the engine; it also fills and
    copies 30,000 objects in seconds."""
    b = os.environ.get("GZY_RELEASE_BIN") or "build/gzy"
    return b if os.path.isfile(b) else None


def vm_hwm_kib(pid):
    """VmHWM (peak resident set) of a running process in KiB, or None once it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def run_measured(args, env=None, timeout=300):
    """Runs args; returns (returncode, stdout, stderr, peak RSS in KiB, seconds). The peak is
    VmHWM polled every 20 ms until the process is a zombie (its memory still counted), not
    ru_maxrss: Linux carries the forking Python's high-water mark across exec into it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env)
        peak = 0
        while True:
            hwm = vm_hwm_kib(proc.pid)
            peak = max(peak, hwm or 0)
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                proc.kill()
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
        secs = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read().decode(), err.read().decode(), peak, secs


@unittest.skipIf(h.external_endpoint(), "needs the real gzy")
class MigrateScaleTests(unittest.TestCase):
    """gzy -> gzy with 30,000 tiny objects, filled with `gzy bench put` (release build, server
    and copy). The copy's peak RSS stays flat: the old pipeline, bounded only by queued body
    bytes, let 16-byte objects pile up between readers and writers (51-64 MiB at 30,000,
    127-178 MiB at 100,000); now ~19 MiB. A second pass copies nothing. Also: a missing
    destination bucket is created (HTTP CreateBucket; --dest-data through the store), a dry run
    does not create it, and a refused creation is a clear error."""

    N = 30000
    RSS_BOUND_KIB = 32 * 1024

    @classmethod
    def setUpClass(cls):
        cls.bin = release_bin()
        if cls.bin is None:
            raise unittest.SkipTest("no uninstrumented gzy (GZY_RELEASE_BIN, build/gzy)")
        cls.tmp = tempfile.mkdtemp(prefix="gzy-migscale-")
        cls.server = h.GzyServer()
        cls.server.bin, cls.server.sanitized = cls.bin, False
        cls.server.start()
        try:
            cls.fill()
        except BaseException:
            cls.server.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def fill(cls):
        cls.src = h.unique_bucket("scale-src")
        p = subprocess.run([cls.bin, "bench", "put", "--endpoint", cls.server.endpoint,
                            "--access-key", cls.server.access_key, "--secret-key",
                            cls.server.secret_key, "--bucket", cls.src, "--size", "16",
                            "--count", str(cls.N), "--concurrency", "16", "--json"],
                           capture_output=True, timeout=300)
        if p.returncode != 0:
            raise AssertionError("gzy bench put: %s" % p.stderr.decode()[-2000:])
        first = cls.server.client().list_objects_v2(Bucket=cls.src, MaxKeys=1)["Contents"][0]
        cls.few = first["Key"][:-1]  # a prefix of 10 keys (the counter's last digit)

    def copy_args(self, binary, dst, *extra):
        return [binary, "migrate", "copy", "--source-endpoint", self.server.endpoint,
                "--source-bucket", self.src, "--source-access-key", self.server.access_key,
                "--source-secret-key", self.server.secret_key] + list(dst) + list(extra)

    def http_dst(self, bucket):
        return ["--dest-endpoint", self.server.endpoint, "--dest-bucket", bucket,
                "--dest-access-key", self.server.access_key,
                "--dest-secret-key", self.server.secret_key]

    def report(self, out):
        lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        self.assertTrue(lines and lines[-1].get("event") == "report", out[-2000:])
        return lines[-1]

    def assert_clean(self, err):
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)

    def bucket_exists(self, client, bucket):
        try:
            client.head_bucket(Bucket=bucket)
            return True
        except client.exceptions.ClientError as e:
            self.assertEqual(e.response["Error"]["Code"], "404")
            return False

    def test_tiny_objects_flat_memory_into_a_new_bucket(self):
        dst = h.unique_bucket("scale-dst")
        journal = os.path.join(self.tmp, "scale.journal")
        args = self.copy_args(self.bin, self.http_dst(dst), "--concurrency", "16",
                              "--journal", journal)
        rc, out, err, rss, secs = run_measured(args)
        self.assertEqual(rc, 0, err[-3000:])
        rep = self.report(out)
        self.assertEqual((rep["listed"]["objects"], rep["copied"]["objects"],
                          rep["verified"]["objects"]), (self.N, self.N, self.N), rep)
        self.assertLess(rss, self.RSS_BOUND_KIB,
                        "peak RSS %d KiB copying %d tiny objects" % (rss, self.N))
        self.assertTrue(self.bucket_exists(self.server.client(), dst))
        # unchanged source: nothing copied, fast, still flat
        rc, out, err, rss2, secs2 = run_measured(args)
        self.assertEqual(rc, 0, err[-3000:])
        rep = self.report(out)
        self.assertEqual((rep["copied"]["objects"], rep["skipped"]["objects"]), (0, self.N))
        self.assertLess(rss2, self.RSS_BOUND_KIB)
        self.assertLess(secs2, max(30.0, secs / 2), "second pass %.1f s, first %.1f s"
                        % (secs2, secs))

    def test_missing_bucket_over_http(self):
        binary = os.environ.get("GZY_BIN", self.bin)  # the sanitized copy, when there is one
        s3 = self.server.client()
        dst = h.unique_bucket("new-dst")
        # a dry run creates nothing, and says everything is to copy
        rc, out, err, _, _ = run_measured(self.copy_args(
            binary, self.http_dst(dst), "--source-prefix", self.few, "--dry-run"))
        self.assert_clean(err)
        self.assertEqual(rc, 0, err[-3000:])
        self.assertEqual(self.report(out)["to_copy"]["objects"], 10)
        self.assertFalse(self.bucket_exists(s3, dst))
        # created, copied
        rc, out, err, _, _ = run_measured(self.copy_args(
            binary, self.http_dst(dst), "--source-prefix", self.few))
        self.assert_clean(err)
        self.assertEqual(rc, 0, err[-3000:])
        self.assertEqual(self.report(out)["verified"]["objects"], 10)
        self.assertEqual(s3.list_objects_v2(Bucket=dst)["KeyCount"], 10)
        # refused by the destination: a clear error, nothing copied
        rc, out, err, _, _ = run_measured(self.copy_args(
            binary, self.http_dst("Not_A_Bucket"), "--source-prefix", self.few))
        self.assert_clean(err)
        self.assertEqual(rc, 1)
        self.assertIn("Not_A_Bucket does not exist and cannot be created", err)
        self.assertIn("InvalidBucketName", err)
        self.assertEqual(self.report(out)["status"], "error")

    def test_missing_bucket_dest_data(self):
        binary = os.environ.get("GZY_BIN", self.bin)
        dst_server = h.GzyServer()
        dst_server.bin, dst_server.sanitized = self.bin, False
        dst_server.start()
        try:
            ten = t.Tenancy(dst_server)
            tenant = t.unique_tenant("mscale")
            ten.tenant_add(tenant)
            boss = ten.principal(tenant, "boss", "tenant-admin")
            dst_server.stop()
            dst = h.unique_bucket("new-store")
            store = ["--dest-data", dst_server.data_dir, "--dest-bucket", dst]
            env = {k: v for k, v in os.environ.items() if not k.startswith("GZY_ROOT_")}
            # no root credential: the platform owner cannot be found, said clearly
            rc, out, err, _, _ = run_measured(self.copy_args(
                binary, store, "--source-prefix", self.few), env=env)
            self.assert_clean(err)
            self.assertEqual(rc, 1)
            self.assertIn("does not exist and cannot be created: no root credential", err)
            env.update(GZY_ROOT_ACCESS_KEY=dst_server.access_key,
                       GZY_ROOT_SECRET_KEY=dst_server.secret_key)
            rc, out, err, _, _ = run_measured(self.copy_args(
                binary, store, "--source-prefix", self.few, "--dest-tenant", "no-such-t"),
                env=env)
            self.assert_clean(err)
            self.assertEqual(rc, 1)
            self.assertIn("no such tenant", err)
            rc, out, err, _, _ = run_measured(self.copy_args(
                binary, store, "--source-prefix", self.few), env=env)
            self.assert_clean(err)
            self.assertEqual(rc, 0, err[-3000:])
            self.assertEqual(self.report(out)["verified"]["objects"], 10)
            # --dest-tenant: a bucket of that tenant
            tdst = h.unique_bucket("new-tenant")
            rc, out, err, _, _ = run_measured(self.copy_args(
                binary, ["--dest-data", dst_server.data_dir, "--dest-bucket", tdst],
                "--source-prefix", self.few, "--dest-tenant", tenant), env=env)
            self.assert_clean(err)
            self.assertEqual(rc, 0, err[-3000:])
            # the server sees the bucket as the root's (the platform's), with the objects
            dst_server.start()
            s3 = dst_server.client()
            self.assertIn(dst, [b["Name"] for b in s3.list_buckets()["Buckets"]])
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=dst)["Contents"]]
            self.assertEqual(len(keys), 10)
            self.assertEqual(s3.get_object(Bucket=dst, Key=keys[0])["ContentLength"], 16)
            # and the tenant's bucket as the tenant's: its admin lists it, not the platform's
            bs3 = boss.client()
            self.assertEqual(bs3.list_objects_v2(Bucket=tdst)["KeyCount"], 10)
            self.assertEqual([b["Name"] for b in bs3.list_buckets()["Buckets"]], [tdst])
            with self.assertRaises(bs3.exceptions.ClientError):
                bs3.list_objects_v2(Bucket=dst)
        finally:
            dst_server.close()


if __name__ == "__main__":
    unittest.main()
