"""`gzy migrate copy` beyond the basics, moto_server as the source and gzy as the destination:
include/exclude filters, the bandwidth limit (a lower bound on the time), CRC64-ECMA
verification (a proxy adds x-oss-hash-crc64ecma, right or wrong), archive-class objects
(restore requested, waiting, copied by the next pass; --no-restore), part-level resume of a
large object after kill -9 (the rerun reads only the missing parts from the source), a source
object overwritten mid-copy (412 on the pinned ranged GET: the new version is copied), and
SIGTERM stopping a pass cleanly (resumable)."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import unittest

import harness as h
from motopeer import HookProxy, MOTO_KEY, Moto, MotoServerCase, moto_binary

CRC64_POLY = 0xC96C5795D7870F42
_CRC64_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ CRC64_POLY if _c & 1 else _c >> 1
    _CRC64_TABLE.append(_c)


def crc64_ecma(data):
    """CRC-64/XZ, what OSS and COS send as x-*-hash-crc64ecma (decimal)."""
    crc = 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc = _CRC64_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


@unittest.skipIf(moto_binary() is None, "moto_server is not installed")
class MigrateFeatureTests(MotoServerCase):
    TMP_PREFIX = "gzy-migf-"

    def copy_args(self, src, dst, *extra, source=None):
        return [os.environ.get("GZY_BIN", "build/gzy"), "migrate", "copy",
                "--source-endpoint", source or self.moto.endpoint, "--source-bucket", src,
                "--source-access-key", MOTO_KEY, "--source-secret-key", MOTO_KEY,
                "--dest-endpoint", self.server.endpoint, "--dest-bucket", dst,
                "--dest-access-key", self.server.access_key,
                "--dest-secret-key", self.server.secret_key] + list(extra)

    def run_copy(self, src, dst, *extra, source=None, check=True):
        p = subprocess.run(self.copy_args(src, dst, *extra, source=source),
                           capture_output=True, timeout=600)
        return self.result(p, check)

    def result(self, p, check):
        err = p.stderr.decode(errors="replace") if p.stderr else ""
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)
        out = p.stdout.decode() if isinstance(p.stdout, bytes) else p.stdout
        lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        rep = lines[-1] if lines and lines[-1].get("event") == "report" else None
        if check:
            self.assertEqual(p.returncode, 0, "stdout:\n%s\nstderr:\n%s"
                             % (out[-3000:], err[-3000:]))
        return p, rep, lines

    def keys(self, bucket):
        out = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            out += [o["Key"] for o in page.get("Contents", [])]
        return sorted(out)

    def put_multipart(self, bucket, key, sizes, seed):
        m = self.moto.s3
        up = m.create_multipart_upload(Bucket=bucket, Key=key)
        parts, data = [], b""
        for i, sz in enumerate(sizes):
            body = h.random_bytes(sz, seed=seed + i)
            data += body
            r = m.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                              PartNumber=i + 1, Body=body)
            parts.append({"PartNumber": i + 1, "ETag": r["ETag"]})
        m.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                    MultipartUpload={"Parts": parts})
        return data

    # ---- tests ----

    def test_filters(self):
        src, dst = h.unique_bucket("flsrc"), h.unique_bucket("fldst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        for k in ("keep/a.txt", "keep/deep/b.txt", "keep/c.tmp", "other/d.txt", "top.txt"):
            m.put_object(Bucket=src, Key=k, Body=k.encode())
        self.s3.create_bucket(Bucket=dst)
        self.s3.put_object(Bucket=dst, Key="other/keep-me", Body=b"excluded: not extraneous")
        _, rep, _ = self.run_copy(src, dst, "--include", "keep/**", "--include", "top*",
                                  "--exclude", "**.tmp", "--delete-extraneous")
        self.assertEqual(self.keys(dst), ["keep/a.txt", "keep/deep/b.txt", "other/keep-me",
                                          "top.txt"])
        self.assertEqual(rep["copied"]["objects"], 3)
        self.assertEqual(rep["excluded"], 2)
        self.assertEqual(rep["deleted"], 0)
        p, _, _ = self.run_copy(src, dst, "--bwlimit", "fast", check=False)
        self.assertEqual(p.returncode, 2)

    def test_acl_grants_reported_with_check_acl_and_never_silently(self):
        src, dst = h.unique_bucket("aclsrc"), h.unique_bucket("acldst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        m.put_object(Bucket=src, Key="private.txt", Body=b"p")
        m.put_object(Bucket=src, Key="public.txt", Body=b"q", ACL="public-read")
        self.s3.create_bucket(Bucket=dst)
        _, rep, lines = self.run_copy(src, dst)
        self.assertEqual(rep["acls"], "not examined")
        self.assertEqual(rep["not_carried"], 0)
        dst2 = h.unique_bucket("acldst2")
        self.s3.create_bucket(Bucket=dst2)
        journal = os.path.join(self.server.tmp, "acl-journal.db")
        _, rep, _ = self.run_copy(src, dst2, "--check-acl", "--journal", journal)
        self.assertEqual(rep["acls"], "examined")
        self.assertEqual(rep["copied"]["objects"], 2)
        self.assertEqual(rep["not_carried"], 1, rep)
        with sqlite3.connect(journal) as db:
            rows = dict(db.execute("SELECT key, not_carried FROM src").fetchall())
        self.assertEqual(rows, {"private.txt": None, "public.txt": "acl"})

    def test_bandwidth_limit(self):
        src, dst = h.unique_bucket("bwsrc"), h.unique_bucket("bwdst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        total = 0
        for i in range(6):
            body = h.random_bytes(512 * 1024, seed=i)
            total += len(body)
            m.put_object(Bucket=src, Key="bw/%d" % i, Body=body)
        self.s3.create_bucket(Bucket=dst)
        limit = 1024 * 1024
        start = time.monotonic()
        _, rep, _ = self.run_copy(src, dst, "--bwlimit", "1M", "--concurrency", "4")
        elapsed = time.monotonic() - start
        self.assertEqual(rep["copied"]["objects"], 6)
        self.assertGreaterEqual(elapsed, total / limit * 0.95,
                                "%d bytes at %d B/s took only %.2fs" % (total, limit, elapsed))

    def test_crc64_verification(self):
        src, dst = h.unique_bucket("crsrc"), h.unique_bucket("crdst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        for k in ("crc/good", "crc/bad"):
            m.put_object(Bucket=src, Key=k, Body=h.random_bytes(70000, seed=len(k)))
        self.put_multipart(src, "crc/mp", [5 * h.MiB, 1000], seed=9)
        self.s3.create_bucket(Bucket=dst)

        def after(handler, key, status, headers, data):
            if handler.command == "GET" and key.startswith("crc/") and status in (200, 206):
                whole = m.get_object(Bucket=src, Key=key)["Body"].read()
                crc = crc64_ecma(whole) if len(whole) < 100000 else \
                    int(handler.server.crc_cache.setdefault(key, str(crc64_ecma(whole))))
                if key == "crc/bad":
                    crc ^= 1
                headers["x-oss-hash-crc64ecma"] = str(crc)
            return status, headers, data
        proxy = HookProxy(self.moto.port, after=after)
        proxy.httpd.crc_cache = {}
        try:
            p, rep, lines = self.run_copy(src, dst, source=proxy.endpoint, check=False)
        finally:
            proxy.close()
        self.assertEqual(p.returncode, 1, p.stderr.decode())
        methods = {l["key"]: l.get("method") or l.get("reason") for l in lines
                   if l.get("event") == "object"}
        self.assertEqual(methods["crc/good"], "md5")  # MD5 first, CRC64 checked as well
        self.assertEqual(methods["crc/mp"], "crc64")
        self.assertIn("CRC64", methods["crc/bad"])
        self.assertEqual(rep["verified_by"]["crc64"], 1)
        self.assertEqual([f["key"] for f in rep["failures"]], ["crc/bad"])
        self.assertNotIn("crc/bad", self.keys(dst))

    def test_archive_restore_then_copy(self):
        src, dst = h.unique_bucket("arsrc"), h.unique_bucket("ardst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        m.put_object(Bucket=src, Key="cold/a", Body=b"archived bytes", StorageClass="GLACIER")
        m.put_object(Bucket=src, Key="warm/b", Body=b"standard bytes")
        self.s3.create_bucket(Bucket=dst)
        journal = os.path.join(self.tmp, "archive.journal")
        # --no-restore: waiting, and no restore requested
        _, rep, lines = self.run_copy(src, dst, "--journal", journal, "--no-restore")
        self.assertEqual(rep["waiting"]["objects"], 1)
        self.assertEqual(rep["copied"]["objects"], 1)
        self.assertNotIn("Restore", m.head_object(Bucket=src, Key="cold/a"))
        waiting = [l for l in lines if l.get("event") == "object" and l["state"] == "waiting"]
        self.assertEqual([l["key"] for l in waiting], ["cold/a"])
        # pass 1: restore requested, still waiting (not failed)
        _, rep, _ = self.run_copy(src, dst, "--journal", journal)
        self.assertEqual(rep["waiting"]["objects"], 1)
        self.assertEqual(rep["failed"]["objects"], 0)
        self.assertEqual(rep["copied"]["objects"], 0)
        self.assertIn("Restore", m.head_object(Bucket=src, Key="cold/a"))
        self.assertEqual(self.keys(dst), ["warm/b"])
        with sqlite3.connect(journal) as db:
            self.assertEqual(db.execute("SELECT state FROM src WHERE key='cold/a'").fetchone(),
                             ("waiting",))
        # pass 2: restored (moto restores at once): copied; storage class not carried
        _, rep, _ = self.run_copy(src, dst, "--journal", journal)
        self.assertEqual(rep["waiting"]["objects"], 0)
        self.assertEqual(rep["copied"]["objects"], 1)
        self.assertEqual(rep["not_carried"], 1)
        self.assertEqual(self.get_bytes(dst, "cold/a"), b"archived bytes")
        with sqlite3.connect(journal) as db:
            self.assertEqual(db.execute("SELECT state, not_carried FROM src WHERE key='cold/a'"
                                        ).fetchone(), ("verified", "storage-class"))

    def test_part_resume_after_kill9(self):
        src, dst = h.unique_bucket("prsrc"), h.unique_bucket("prdst")
        self.moto.s3.create_bucket(Bucket=src)
        data = self.put_multipart(src, "huge/obj", [5 * h.MiB] * 8, seed=300)
        self.s3.create_bucket(Bucket=dst)
        journal = os.path.join(self.tmp, "parts.journal")
        proc = subprocess.Popen(self.copy_args(src, dst, "--journal", journal, "--bwlimit", "4M",
                                               "--concurrency", "1"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done = 0
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and done < 3:
            time.sleep(0.1)
            try:
                with sqlite3.connect(journal, timeout=1) as db:
                    done = db.execute("SELECT COUNT(*) FROM parts").fetchone()[0]
            except sqlite3.Error:
                continue
        self.assertIsNone(proc.poll(), "the copy finished before it could be killed")
        proc.kill()
        proc.wait()
        with sqlite3.connect(journal) as db:
            done = db.execute("SELECT COUNT(*) FROM parts WHERE key='huge/obj'").fetchone()[0]
        self.assertGreaterEqual(done, 3)
        self.assertLess(done, 8)
        proxy = HookProxy(self.moto.port)
        try:
            _, rep, lines = self.run_copy(src, dst, "--journal", journal, source=proxy.endpoint)
        finally:
            proxy.close()
        self.assertEqual(rep["copied"]["objects"], 1)
        self.assertEqual(proxy.count("GET", "huge/obj"), 8 - done,
                         "only the missing parts are read from the source")
        methods = [l["method"] for l in lines if l.get("event") == "object"]
        self.assertEqual(methods, ["mpu-md5"])
        self.assertEqual(self.get_bytes(dst, "huge/obj"), data)
        with sqlite3.connect(journal) as db:
            self.assertEqual(db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0], 0)
        # the destination holds no leftover upload
        ups = self.s3.list_multipart_uploads(Bucket=dst).get("Uploads", [])
        self.assertEqual(ups, [])

    def test_source_changed_mid_copy(self):
        src, dst = h.unique_bucket("chsrc"), h.unique_bucket("chdst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        m.put_object(Bucket=src, Key="change/big", Body=h.random_bytes(12 * h.MiB, seed=1))
        new = h.random_bytes(13 * h.MiB + 5, seed=2)
        self.s3.create_bucket(Bucket=dst)
        state = {"changed": False}

        def before(handler, key):
            if (handler.command == "GET" and key == "change/big" and
                    handler.headers.get("If-Match") and not state["changed"]):
                state["changed"] = True
                m.put_object(Bucket=src, Key="change/big", Body=new)
        proxy = HookProxy(self.moto.port, before=before)
        journal = os.path.join(self.tmp, "change.journal")
        try:
            _, rep, _ = self.run_copy(src, dst, "--journal", journal, source=proxy.endpoint)
        finally:
            proxy.close()
        self.assertTrue(state["changed"], "no pinned ranged GET was seen")
        self.assertEqual(rep["copied"]["objects"], 1)
        self.assertEqual(rep["copied"]["bytes"], len(new))
        self.assertGreaterEqual(rep["retries"], 1)
        self.assertEqual(self.get_bytes(dst, "change/big"), new)
        _, rep, _ = self.run_copy(src, dst, "--journal", journal)
        self.assertEqual(rep["copied"]["objects"], 0)
        self.assertEqual(rep["skipped"]["objects"], 1)

    def test_sigterm_stops_resumably(self):
        src, dst = h.unique_bucket("stsrc"), h.unique_bucket("stdst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        for i in range(60):
            m.put_object(Bucket=src, Key="s/%03d" % i, Body=h.random_bytes(64 * 1024, seed=i))
        self.s3.create_bucket(Bucket=dst)
        journal = os.path.join(self.tmp, "stop.journal")
        proc = subprocess.Popen(self.copy_args(src, dst, "--journal", journal, "--bwlimit",
                                               "512K", "--concurrency", "2"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2.5)
        self.assertIsNone(proc.poll(), "finished before SIGTERM")
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        self.assertLess(time.monotonic() - start, 10)
        p = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        _, rep, _ = self.result(p, check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(rep["status"], "stopped")
        self.assertGreater(rep["copied"]["objects"], 0)
        self.assertLess(rep["copied"]["objects"], 60)
        self.assertEqual(rep["failed"]["objects"], 0)
        first = rep["copied"]["objects"]
        _, rep, _ = self.run_copy(src, dst, "--journal", journal)
        self.assertEqual(rep["copied"]["objects"], 60 - first)
        self.assertEqual(len(self.keys(dst)), 60)

    def test_sigterm_mid_object_keeps_parts(self):
        src, dst = h.unique_bucket("smsrc"), h.unique_bucket("smdst")
        self.moto.s3.create_bucket(Bucket=src)
        # 10 parts: the streams finish the (at most 4) parts in flight when stopped
        data = self.put_multipart(src, "huge/stop", [5 * h.MiB] * 10, seed=700)
        self.s3.create_bucket(Bucket=dst)
        journal = os.path.join(self.tmp, "stopmid.journal")
        proc = subprocess.Popen(self.copy_args(src, dst, "--journal", journal, "--bwlimit", "4M"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        done = 0
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and done < 1:
            time.sleep(0.1)
            try:
                with sqlite3.connect(journal, timeout=1) as db:
                    done = db.execute("SELECT COUNT(*) FROM parts").fetchone()[0]
            except sqlite3.Error:
                continue
        self.assertIsNone(proc.poll(), "the copy finished before SIGTERM")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        _, rep, _ = self.result(subprocess.CompletedProcess(proc.args, proc.returncode, out,
                                                            err), check=False)
        self.assertEqual(rep["status"], "stopped")
        self.assertEqual(rep["failed"]["objects"], 0)
        with sqlite3.connect(journal) as db:
            done = db.execute("SELECT COUNT(*) FROM parts WHERE key='huge/stop'").fetchone()[0]
            self.assertEqual(db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0], 1)
        self.assertLess(done, 10)
        proxy = HookProxy(self.moto.port)
        try:
            _, rep, _ = self.run_copy(src, dst, "--journal", journal, source=proxy.endpoint)
        finally:
            proxy.close()
        self.assertEqual(rep["copied"]["objects"], 1)
        self.assertEqual(proxy.count("GET", "huge/stop"), 10 - done)
        self.assertEqual(self.get_bytes(dst, "huge/stop"), data)

    def on_pty(self, args):
        """(exit status, what args printed on a terminal, stderr)."""
        return h.run_on_terminal(args)

    SUMMARY = (r"^(?P<status>ok|partial|stopped|error): (?P<copied>\d+) copied \([\d.]+ [KMG]?i?B"
               r"\), (?P<skipped>\d+) skipped, (?P<verified>\d+) verified \([\d.]+ [KMG]?i?B\), "
               r"(?P<failed>\d+) failed, (?P<waiting>\d+) waiting; (?P<listed>\d+) listed, \d+ "
               r"retries, [\d.]+ s, [\d.]+ [KMG]?i?B/s$")

    def test_progress_bar_on_a_terminal(self):
        """stdout a terminal (a pty): a live one-line bar (objects, bytes, rate, ETA) redrawn
        in place, no JSON object lines, and a last line with the pass's totals for a person
        (not the JSON report); with --json, JSON lines on a terminal too."""
        src, dst = h.unique_bucket("ptsrc"), h.unique_bucket("ptdst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        total = 0
        for i in range(8):
            body = h.random_bytes(256 * 1024, seed=i)
            total += len(body)
            m.put_object(Bucket=src, Key="p/%d" % i, Body=body)
        self.s3.create_bucket(Bucket=dst)
        rc, text, err = self.on_pty(self.copy_args(src, dst, "--bwlimit", "512K",
                                                   "--concurrency", "2"))
        self.assertEqual(rc, 0, err)
        frames = [f for f in re.split(r"\r\x1b\[K", text) if f.strip()]
        bars = [f for f in frames if re.match(
            r"copying +\d+% objects \d+/8  [\d.]+ [KMG]?i?B/[\d.]+ [KMG]?i?B  [\d.]+ [KMG]?i?B/s"
            r"  ETA \d\d:\d\d:\d\d$", f)]
        self.assertGreaterEqual(len(bars), 2, repr(text[-2000:]))  # redrawn, ~once a second
        self.assertTrue(any(re.search(r"ETA 00:00:0[1-9]|ETA 00:00:[1-9]\d", b) for b in bars),
                        bars)
        self.assertTrue(any(not b.endswith("  0.0 B/s  ETA 00:00:00") for b in bars), bars)
        self.assertNotIn('"event":"object"', text)
        self.assertNotIn("{", text)  # no JSON at all: the report is a summary
        last = frames[-1].strip()
        got = re.match(self.SUMMARY, last)
        self.assertIsNotNone(got, repr(last))
        self.assertEqual(got.group("status"), "ok")
        self.assertIn("(2.0 MiB)", last)  # 8 x 256 KiB copied and verified
        self.assertEqual({k: int(v) for k, v in got.groupdict().items() if k != "status"},
                         {"copied": 8, "skipped": 0, "verified": 8, "failed": 0, "waiting": 0,
                          "listed": 8})
        # nothing left to copy: the summary says skipped
        rc, text, err = self.on_pty(self.copy_args(src, dst))
        self.assertEqual(rc, 0, err)
        got = re.match(self.SUMMARY, re.split(r"\r\x1b\[K", text)[-1].strip())
        self.assertIsNotNone(got, repr(text[-500:]))
        self.assertEqual((got.group("copied"), got.group("skipped")), ("0", "8"))
        # --json: the JSON lines and report even on a terminal
        rc, text, err = self.on_pty(self.copy_args(src, dst, "--json"))
        self.assertEqual(rc, 0, err)
        self.assertNotIn("\x1b[K", text)
        rep = json.loads(text.strip().splitlines()[-1])
        self.assertEqual(rep["event"], "report")
        self.assertEqual(rep["status"], "ok")
        self.assertEqual(rep["skipped"], {"objects": 8, "bytes": total})

    def test_terminal_summary_lists_failures(self):
        """On a terminal a failed object is named in the summary with its reason."""
        src, dst = h.unique_bucket("pfsrc"), h.unique_bucket("pfdst")
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        m.put_object(Bucket=src, Key="ok/1", Body=b"fine")
        m.put_object(Bucket=src, Key="denied/1", Body=b"refused by the proxy")
        self.s3.create_bucket(Bucket=dst)

        def before(handler, key):
            if handler.command == "GET" and key == "denied/1":
                return 403, {}, (b"<Error><Code>AccessDenied</Code><Message>no</Message>"
                                 b"</Error>")
            return None

        proxy = HookProxy(self.moto.port, before=before)
        try:
            rc, text, err = self.on_pty(self.copy_args(src, dst, source=proxy.endpoint))
        finally:
            proxy.close()
        self.assertEqual(rc, 1, err)
        lines = [l.strip() for l in re.split(r"\r\x1b\[K", text)[-1].splitlines() if l.strip()]
        got = re.match(self.SUMMARY, lines[0])
        self.assertIsNotNone(got, repr(text[-1000:]))
        self.assertEqual((got.group("status"), got.group("copied"), got.group("failed")),
                         ("partial", "1", "1"))
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(lines[1], r"^failed: denied/1: .*403 AccessDenied")


if __name__ == "__main__":
    unittest.main()
