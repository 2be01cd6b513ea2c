"""`gzy audit verify|export|prune` (src/cli/audit.c) on audit logs a real `gzy serve` wrote
(DATA/audit, src/iam/audit.h): verify passes while the server appends, names the broken entry's
sequence number and file:line after tampering, export filters and quotes CSV, prune leaves a
signed checkpoint that verification starts from (and a tampered checkpoint is caught), and a
server restarted on a cut log records a chain-reset entry that verify reports."""

import csv
import datetime
import glob
import io
import json
import os
import re
import shutil
import stat
import tempfile
import threading
import time
import unittest

import harness as h
import tenancy as t


def gzy(*args, timeout=120):
    """Runs `$GZY_BIN args`; fails on a sanitizer report. Returns (rc, stdout, stderr)."""
    import subprocess
    env = {k: v for k, v in os.environ.items() if not k.startswith("GZY_ROOT")}
    if os.environ.get("GZY_SANITIZED") == "1":
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    cmd = [os.environ.get("GZY_BIN", "build/gzy")] + [str(a) for a in args]
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    for marker in h.SANITIZER_MARKERS:
        if marker in err:
            raise AssertionError("sanitizer report from %s:\n%s" % (" ".join(cmd), err[-6000:]))
    return p.returncode, out, err


def audit_dir(data):
    return os.path.join(data, "audit")


def log_files(data):
    return sorted(glob.glob(os.path.join(audit_dir(data), "audit-*.log")))


def read_entries(data):
    entries = []
    for f in log_files(data):
        with open(f, "rb") as fh:
            for line in fh.read().split(b"\n"):
                if line.strip():
                    entries.append(json.loads(line))
    return entries


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def copy_data(server, test):
    d = tempfile.mkdtemp(prefix="gzy-audit-cli-")
    test.addCleanup(shutil.rmtree, d, True)
    dst = os.path.join(d, "data")
    shutil.copytree(server.data_dir, dst, ignore=shutil.ignore_patterns("*.lock"))
    return dst


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def require_audit(server):
    if not wait_for(lambda: log_files(server.data_dir), 5.0):
        raise unittest.SkipTest("gzy serve does not write DATA/audit yet")


def make_traffic(server, s3, bucket, tag, n=3):
    """Audited actions: admin calls (tenant creation) and S3 writes."""
    ten = t.Tenancy(server)
    names = []
    for i in range(n):
        name = t.unique_tenant("aud%s" % tag)
        ten.tenant_add(name)
        names.append(name)
        s3.put_object(Bucket=bucket, Key="%s-%d" % (tag, i), Body=b"x" * (100 + i))
    return names


class AuditCliTests(h.ServerTestCase):
    gzy_only = True
    server_kwargs = t.server_kwargs()
    ODD_KEY = 'dir/\u00fc \u7a7a\u683c,"q" +x.txt'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t0 = time.time()
        cls.bucket = h.unique_bucket("audit-cli")
        cls.s3.create_bucket(Bucket=cls.bucket)
        cls.tenants = make_traffic(cls.server, cls.s3, cls.bucket, "c", 4)
        cls.s3.put_object(Bucket=cls.bucket, Key="obj-0", Body=b"zero")
        cls.s3.put_object(Bucket=cls.bucket, Key=cls.ODD_KEY, Body=b"odd")
        cls.s3.delete_object(Bucket=cls.bucket, Key="obj-0")
        bad = cls.server.client(access_key="NOSUCHKEY0123", secret_key="whatever-secret-1")
        try:
            bad.list_buckets()
        except Exception:
            pass
        cls.s3_audited = wait_for(lambda: any(cls.ODD_KEY in (e.get("resource") or "")
                                              for e in read_entries(cls.server.data_dir)), 3.0)

    def setUp(self):
        if self._testMethodName != "test_usage_errors":
            require_audit(self.server)

    def export(self, *args, data=None):
        rc, out, err = gzy("audit", "export", "--data", data or self.server.data_dir, *args)
        self.assertEqual(rc, 0, err)
        return out

    def test_verify_while_serving(self):
        stop = threading.Event()
        errors = []
        s3 = self.server.client()

        def writer():
            i = 0
            while not stop.is_set():
                try:
                    make_traffic(self.server, s3, self.bucket, "live%d" % i, 1)
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)
                    return
                i += 1

        t = threading.Thread(target=writer)
        t.start()
        try:
            for _ in range(5):
                rc, out, err = gzy("audit", "verify", "--data", self.server.data_dir)
                self.assertEqual(rc, 0, out + err)
                self.assertIn("OK", out)
        finally:
            stop.set()
            t.join()
        self.assertEqual(errors, [])

    def test_files_private(self):
        self.assertEqual(stat.S_IMODE(os.stat(audit_dir(self.server.data_dir)).st_mode), 0o700)
        for f in log_files(self.server.data_dir):
            self.assertEqual(stat.S_IMODE(os.stat(f).st_mode), 0o600, f)

    def test_export_jsonl_is_the_log(self):
        out = self.export("--format", "jsonl")
        lines = [ln for ln in out.split("\n") if ln]
        entries = [json.loads(ln) for ln in lines]
        self.assertGreaterEqual(len(entries), 4)
        seqs = [e["seq"] for e in entries]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))
        self.assertEqual({e["alg"] for e in entries}, {"SM3"})
        if self.s3_audited:
            odd = [e for e in entries if self.ODD_KEY in (e.get("resource") or "")]
            self.assertTrue(odd, "the odd key round-trips through JSON escaping")
        # Exported lines are the log's bytes: hashes still check out.
        self.assertTrue(all(re.fullmatch(r"[0-9a-f]{64}", e["hash"]) for e in entries))

    def test_export_csv_to_file(self):
        d = tempfile.mkdtemp(prefix="gzy-audit-csv-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "out.csv")
        out = self.export("--format", "csv", "--output", path)
        self.assertEqual(out, "")
        with open(path, newline="", encoding="utf-8") as f:
            text = f.read()
        self.assertTrue(text.startswith("seq,time,request_id,principal,"), text[:200])
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        entries = [json.loads(ln) for ln in self.export().split("\n") if ln]
        self.assertGreaterEqual(len(rows), len(entries))
        by_seq = {int(r["seq"]): r for r in rows}
        for e in entries:
            r = by_seq[e["seq"]]
            self.assertEqual(r["resource"], e["resource"])
            self.assertEqual(r["action"], e["action"])
            self.assertEqual(r["hash"], e["hash"])
        if self.s3_audited:
            self.assertIn(self.ODD_KEY.replace('"', '""'), text, "quotes doubled in the field")

    def test_export_filters(self):
        now = time.time()
        self.assertEqual(self.export("--from", iso(now + 86400)), "")
        self.assertEqual(self.export("--to", "2000-01-01"), "")
        self.assertEqual(self.export("--tenant", "no-such-tenant"), "")
        everything = self.export()
        window = self.export("--from", iso(self.t0 - 60), "--to", iso(now + 60))
        self.assertEqual(window, everything, "every entry was written after t0")
        # Offsets are honoured: the same instant in UTC+8.
        t8 = datetime.datetime.fromtimestamp(self.t0 - 60, datetime.timezone(
            datetime.timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M:%S+08:00")
        self.assertEqual(self.export("--from", t8, "--to", iso(now + 60)), window)
        tenants = {json.loads(ln).get("tenant") for ln in everything.split("\n") if ln}
        for tenant in tenants:
            only = [json.loads(ln) for ln in self.export("--tenant", tenant).split("\n") if ln]
            self.assertTrue(only)
            self.assertEqual({e["tenant"] for e in only}, {tenant})

    def test_usage_errors(self):
        data = self.server.data_dir
        for args in (("audit",), ("audit", "bogus", "--data", data),
                     ("audit", "export", "--data", data, "--format", "xml"),
                     ("audit", "export", "--data", data, "--from", "yesterday"),
                     ("audit", "export", "--data", data, "--to", "2024-13-01"),
                     ("audit", "prune", "--data", data, "--retention-days", "0"),
                     ("audit", "verify", "--data"),
                     ("audit", "verify", "--data", data, "--what", "x")):
            rc, out, err = gzy(*args)
            self.assertEqual(rc, 2, "%s -> %d %s %s" % (args, rc, out, err))
        rc, out, _ = gzy("audit", "--help")
        self.assertEqual(rc, 0)
        self.assertIn("verify", out)
        empty = tempfile.mkdtemp(prefix="gzy-audit-empty-")
        self.addCleanup(shutil.rmtree, empty, True)
        rc, out, err = gzy("audit", "verify", "--data", empty)
        self.assertEqual(rc, 2, "a folder without an audit log is an error: " + out + err)

    def test_tamper_names_seq_and_line(self):
        dst = copy_data(self.server, self)
        files = log_files(dst)
        with open(files[-1], "rb") as f:
            lines = f.read().split(b"\n")
        idx = len([ln for ln in lines if ln]) // 2
        entry = json.loads(lines[idx])
        lines[idx] = lines[idx].replace(b'"status":', b'"status":1', 1)
        with open(files[-1], "wb") as f:
            f.write(b"\n".join(lines))
        rc, out, err = gzy("audit", "verify", "--data", dst)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("BROKEN at seq %d" % entry["seq"], out)
        self.assertIn("%s:%d" % (os.path.basename(files[-1]), idx + 1), out)

    def test_prune_and_checkpoint(self):
        dst = copy_data(self.server, self)
        if not os.path.exists(os.path.join(dst, "master.key")):
            self.skipTest("no DATA/master.key yet (iam core): prune cannot sign")
        # Make two day files out of the log (chain order kept): "yesterday" and "today".
        files = log_files(dst)
        with open(files[-1], "rb") as f:
            lines = [ln for ln in f.read().split(b"\n") if ln]
        self.assertGreaterEqual(len(lines), 2)
        today = datetime.datetime.strptime(os.path.basename(files[-1])[6:14], "%Y%m%d")
        yday = today - datetime.timedelta(days=1)
        old = os.path.join(audit_dir(dst), "audit-%s.log" % yday.strftime("%Y%m%d"))
        if len(files) > 1:
            self.skipTest("the log already spans days")
        cut = len(lines) // 2
        with open(old, "wb") as f:
            f.write(b"\n".join(lines[:cut]) + b"\n")
        with open(files[-1], "wb") as f:
            f.write(b"\n".join(lines[cut:]) + b"\n")
        rc, out, err = gzy("audit", "verify", "--data", dst)
        self.assertEqual(rc, 0, out + err)
        now = (today + datetime.timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rc, out, err = gzy("audit", "prune", "--data", dst, "--retention-days", "1",
                           "--now", now)
        self.assertEqual(rc, 0, out + err)
        self.assertFalse(os.path.exists(old), "yesterday's file pruned")
        self.assertTrue(os.path.exists(files[-1]), "the newest file is never pruned")
        with open(os.path.join(audit_dir(dst), "checkpoint.json")) as f:
            cp = json.load(f)
        self.assertEqual(cp["seq"], json.loads(lines[cut - 1])["seq"])
        self.assertIn("mac", cp)
        rc, out, err = gzy("audit", "verify", "--data", dst)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("checkpoint seq %d" % cp["seq"], out)
        # A forged checkpoint (to hide a deleted head of the log) fails its signature.
        cp["seq"] += 1
        with open(os.path.join(audit_dir(dst), "checkpoint.json"), "w") as f:
            json.dump(cp, f)
        rc, out, err = gzy("audit", "verify", "--data", dst)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("checkpoint", out)


class AuditRecoveryTests(h.ServerTestCase):
    """A server restarted on a damaged log keeps serving and records what it found."""
    gzy_only = True
    server_kwargs = t.server_kwargs()

    def setUp(self):
        if self.server.proc is None:
            self.server.start()

    def put_some(self, n, tag):
        b = getattr(self, "bucket", None)
        if b is None:
            b = self.__class__.bucket = h.unique_bucket("audit-rec")
            self.s3.create_bucket(Bucket=b)
        make_traffic(self.server, self.server.client(), b, tag, n)
        require_audit(self.server)

    def test_a_torn_tail_is_cut(self):
        self.put_some(3, "a")
        self.server.stop()
        files = log_files(self.server.data_dir)
        with open(files[-1], "rb") as f:
            last = [ln for ln in f.read().split(b"\n") if ln][-1]
        with open(files[-1], "ab") as f:
            f.write(last[:len(last) // 2])  # a crash in the middle of a write
        self.server.start()
        self.put_some(2, "a2")
        self.server.stop()
        rc, out, err = gzy("audit", "verify", "--data", self.server.data_dir)
        self.assertEqual(rc, 0, out + err + self.server.logs())
        self.server.start()

    def test_b_cut_log_is_recorded(self):
        self.put_some(4, "b")
        self.server.stop()
        files = log_files(self.server.data_dir)
        with open(files[-1], "rb") as f:
            lines = [ln for ln in f.read().split(b"\n") if ln]
        gone = [json.loads(ln)["seq"] for ln in lines[-2:]]
        with open(files[-1], "wb") as f:
            f.write(b"\n".join(lines[:-2]) + b"\n")
        self.server.start()
        self.put_some(1, "b2")
        self.server.stop()
        self.assertIn("chain broken", self.server.stderr_text())
        entries = read_entries(self.server.data_dir)
        resets = [e for e in entries if e.get("action") == "audit:ChainReset"]
        self.assertEqual(len(resets), 1, resets)
        self.assertEqual(resets[0]["reset"]["reason"], "TruncatedTail")
        self.assertEqual(resets[0]["reset"]["last_good_seq"], gone[0] - 1)
        self.assertGreater(resets[0]["seq"], gone[-1])
        rc, out, err = gzy("audit", "verify", "--data", self.server.data_dir)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("BROKEN at seq %d" % gone[0], out)
        self.assertIn("reset", out)
        self.server.start()


if __name__ == "__main__":
    unittest.main()
