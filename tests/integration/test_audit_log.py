"""The audit log (issue 3, src/iam/audit.h): after a mix of requests (puts, deletes, a denied GET,
admin actions allowed and denied, failed logins with a wrong secret and an unknown key),
`gzy audit export --data DIR --format jsonl` holds an entry of each kind with the right
principal, tenant, action and outcome; `gzy audit verify --data DIR` passes on the untouched log
and, after one entry is edited, deleted, or two are swapped (server stopped, files edited), fails
naming that entry's sequence number."""

import csv
import datetime
import glob
import io
import json
import os
import re
import shutil
import tempfile
import time
import unittest

import requests

import harness as h
import tenancy as t


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


class AuditTests(t.TenancyMixin, h.ServerTestCase):
    gzy_only = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t0 = time.time()
        srv = cls.server
        ten = t.Tenancy(srv)
        cls.ta, cls.tb = t.unique_tenant("acme"), t.unique_tenant("globex")
        ten.tenant_add(cls.ta)
        ten.tenant_add(cls.tb)
        cls.alice = ten.principal(cls.ta, "alice", "tenant-admin")
        cls.bob = ten.principal(cls.tb, "bob", "tenant-admin")
        cls.ab, cls.bb = h.unique_bucket("audit-a"), h.unique_bucket("audit-b")
        cls.alice.s3.create_bucket(Bucket=cls.ab)
        cls.bob.s3.create_bucket(Bucket=cls.bb)
        cls.bob.s3.put_object(Bucket=cls.bb, Key="secret.txt", Body=b"B only")
        cls.put_body = b"audited bytes " * 10
        cls.alice.s3.put_object(Bucket=cls.ab, Key="kept.txt", Body=cls.put_body)
        cls.alice.s3.put_object(Bucket=cls.ab, Key="gone.txt", Body=b"to be deleted")
        cls.alice.s3.delete_object(Bucket=cls.ab, Key="gone.txt")
        # More state-changing requests of every kind.
        s3 = cls.alice.s3
        up = s3.create_multipart_upload(Bucket=cls.ab, Key="mp.bin")["UploadId"]
        part = s3.upload_part(Bucket=cls.ab, Key="mp.bin", UploadId=up, PartNumber=1,
                              Body=b"part one")
        s3.complete_multipart_upload(Bucket=cls.ab, Key="mp.bin", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        s3.copy_object(Bucket=cls.ab, Key="copy.txt", CopySource={"Bucket": cls.ab,
                                                                  "Key": "kept.txt"})
        s3.delete_objects(Bucket=cls.ab, Delete={"Objects": [{"Key": "copy.txt"}]})
        s3.put_bucket_acl(Bucket=cls.ab, ACL="private")
        cls.tmp_bucket = h.unique_bucket("audit-tmp")
        s3.create_bucket(Bucket=cls.tmp_bucket)
        s3.delete_bucket(Bucket=cls.tmp_bucket)
        # Anonymous, denied.
        cls.anon_status = requests.get("%s/%s/kept.txt" % (srv.endpoint, cls.ab),
                                         timeout=30).status_code
        # A denied cross-tenant GET.
        status, code, _ = t.client_error(cls.alice.s3.get_object, Bucket=cls.bb,
                                         Key="secret.txt")
        assert (status, code) == (403, "AccessDenied"), (status, code)
        # Failed logins: a known key with a wrong secret, and an unknown key.
        cls.unknown_key = "NOSUCHKEY" + t.secrets.token_hex(4).upper()
        wrong = srv.client(access_key=cls.alice.access_key, secret_key="wrong-secret-123456")
        status, code, _ = t.client_error(wrong.list_objects_v2, Bucket=cls.ab)
        assert (status, code) == (403, "SignatureDoesNotMatch"), (status, code)
        unknown = srv.client(access_key=cls.unknown_key, secret_key="whatever-secret-1")
        status, code, _ = t.client_error(unknown.list_buckets)
        assert (status, code) == (403, "InvalidAccessKeyId"), (status, code)
        # Admin actions: allowed (suspend/resume by root) and denied (alice creating a tenant).
        ten.admin("tenant", "suspend", cls.tb)
        ten.admin("tenant", "resume", cls.tb)
        r = cls.alice.admin("POST", "/admin/v1/tenants", {"name": "sneaky",
                                                          "uscc": t.make_uscc()})
        assert r.status == 403, r
        # Export is safe while the server appends.
        t.run_gzy("audit", "export", "--data", srv.data_dir, "--format", "jsonl")
        # Stop the server so everything is on disk and the files can be edited.
        srv.stop()
        cls.t1 = time.time()
        cls.entries = t.audit_export(srv.data_dir)

    # ---- helpers ----

    def find(self, label, **want):
        """Entries whose fields match want (callables are predicates); fails if none."""
        def ok(e):
            for k, v in want.items():
                if callable(v):
                    if not v(e.get(k)):
                        return False
                elif e.get(k) != v:
                    return False
            return True
        found = [e for e in self.entries if ok(e)]
        self.assertTrue(found, "no audit entry for %s (%s); actions seen: %s" % (
            label, want, sorted({(e.get("action"), e.get("outcome")) for e in self.entries})))
        return found

    def is_alice(self, v):
        return v in (self.alice.access_key, self.alice.user_id) and v is not None

    def assertNamesSeq(self, out, seqs, label):
        pat = r"(?i)(?:seq\w*|entry|#|number|no\.?)\s*[:=#]?\s*(%s)(?![0-9])" % "|".join(
            str(s) for s in seqs)
        self.assertRegex(out, pat, "%s: `gzy audit verify` should name sequence number %s"
                         % (label, " or ".join(map(str, seqs))))

    def tampered_copy(self):
        d = tempfile.mkdtemp(prefix="gzy-audit-")
        self.addCleanup(shutil.rmtree, d, True)
        dst = os.path.join(d, "data")
        shutil.copytree(self.server.data_dir, dst)
        files = sorted(glob.glob(os.path.join(dst, "audit", "*.log")))
        self.assertTrue(files, "no audit files in %s/audit" % dst)
        lines = []  # (file, index, text, entry)
        for f in files:
            with open(f, encoding="utf-8") as fh:
                for i, line in enumerate(fh.read().splitlines(True)):
                    if line.strip():
                        lines.append((f, i, line, json.loads(line)))
        return dst, lines

    def rewrite(self, path, fn):
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines(True)
        lines = fn(lines)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("".join(lines))

    def verify_fails(self, data_dir, seqs, label):
        p = t.audit_verify(data_dir)
        out = p.stdout + p.stderr
        self.assertNotEqual(p.returncode, 0, "%s: verify passed on a tampered log:\n%s"
                            % (label, out))
        self.assertNamesSeq(out, seqs, label)

    # ---- entries ----

    def test_chain_fields(self):
        self.assertGreater(len(self.entries), 10)
        seqs = [e.get("seq") for e in self.entries]
        self.assertTrue(all(isinstance(s, int) for s in seqs), seqs[:5])
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "consecutive seq")
        for prev, cur in zip(self.entries, self.entries[1:]):
            self.assertEqual(cur.get("prev"), prev.get("hash"), "chain at seq %s" % cur["seq"])
        self.assertEqual({e.get("alg") for e in self.entries}, {"SM3"})
        self.assertTrue(all(re.fullmatch(r"[0-9a-f]{64}", e.get("hash", ""))
                            for e in self.entries))

    def test_s3_writes(self):
        puts = self.find("PutObject kept.txt", action="s3:PutObject", outcome="allow",
                         resource=lambda r: r and self.ab in r and r.endswith("kept.txt"))
        e = puts[0]
        self.assertTrue(self.is_alice(e.get("principal")), e)
        self.assertEqual(e.get("tenant"), self.ta, e)
        self.assertEqual(e.get("status"), 200, e)
        self.assertGreaterEqual(e.get("bytes", 0), len(self.put_body), e)
        self.assertTrue(str(e.get("source", "")).startswith("127.0.0.1"), e)
        self.assertTrue(e.get("request_id"), e)
        self.find("DeleteObject gone.txt", action="s3:DeleteObject", outcome="allow",
                  tenant=self.ta, principal=self.is_alice,
                  resource=lambda r: r and r.endswith("gone.txt"))
        self.find("CreateBucket", action="s3:CreateBucket", outcome="allow", tenant=self.ta,
                  principal=self.is_alice, resource=lambda r: r and self.ab in r)
        self.find("B's PutObject", action="s3:PutObject", outcome="allow", tenant=self.tb,
                  resource=lambda r: r and r.endswith("secret.txt"))

    def test_every_write_recorded(self):
        def entries_for(resource):
            return [e for e in self.entries if e.get("resource") == resource
                    and e.get("outcome") == "allow" and self.is_alice(e.get("principal"))]
        mp = entries_for("%s/mp.bin" % self.ab)
        self.assertEqual(len(mp), 3, "create, upload part, complete: %s" % mp)
        self.assertTrue(all(e["action"].startswith("s3:") for e in mp), mp)
        self.assertEqual(len(entries_for("%s/copy.txt" % self.ab)), 1, "CopyObject")
        bucket_level = [e["action"] for e in entries_for(self.ab)]
        self.assertIn("s3:DeleteObject", bucket_level, "DeleteObjects: %s" % bucket_level)
        self.assertIn("s3:PutBucketAcl", bucket_level)
        self.assertIn("s3:CreateBucket", bucket_level)
        tmp = [e["action"] for e in entries_for(self.tmp_bucket)]
        self.assertEqual(tmp, ["s3:CreateBucket", "s3:DeleteBucket"])

    def test_anonymous_denied(self):
        self.assertEqual(self.anon_status, 403)
        e = self.find("anonymous GET", principal="anonymous", outcome="deny",
                      resource="%s/kept.txt" % self.ab)[0]
        self.assertEqual((e.get("status"), e.get("action")), (403, "s3:GetObject"), e)

    def test_denied_get(self):
        e = self.find("denied cross-tenant GET", action="s3:GetObject", outcome="deny",
                      resource=lambda r: r and self.bb in r and r.endswith("secret.txt"))[0]
        self.assertTrue(self.is_alice(e.get("principal")), e)
        self.assertEqual(e.get("tenant"), self.ta, "the caller's tenant: %s" % e)
        self.assertEqual(e.get("status"), 403, e)
        self.assertEqual(e.get("error_code"), "AccessDenied", e)

    def test_failed_logins(self):
        e = self.find("wrong secret", outcome="deny",
                      principal=lambda p: p in (self.alice.access_key, self.alice.user_id),
                      error_code="SignatureDoesNotMatch")[0]
        self.assertEqual(e.get("status"), 403, e)
        e = self.find("unknown access key", outcome="deny",
                      principal=lambda p: p and self.unknown_key in p)[0]
        self.assertEqual(e.get("error_code"), "InvalidAccessKeyId", e)

    def test_admin_actions(self):
        root = lambda e: (e.get("principal") == self.server.access_key  # noqa: E731
                          or e.get("user") == "root")
        for action_re, resource in ((r"admin:\w*Tenant\w*", self.ta),
                                    (r"admin:\w*Suspend\w*", self.tb),
                                    (r"admin:\w*Resume\w*", self.tb),
                                    (r"admin:\w*User\w*", "alice"),
                                    (r"admin:\w*Key\w*", None)):
            with self.subTest(action=action_re):
                found = self.find(action_re, outcome="allow",
                                  action=lambda a, r=action_re: bool(a and re.fullmatch(r, a)))
                if resource:
                    found = [e for e in found if resource in (e.get("resource") or "")]
                    self.assertTrue(found, "no %s entry naming %s" % (action_re, resource))
                self.assertTrue(any(root(e) for e in found), found[:3])
        e = self.find("denied admin call", outcome="deny",
                      action=lambda a: bool(a and a.startswith("admin:")),
                      principal=self.is_alice)[0]
        self.assertEqual(e.get("status"), 403, e)
        self.assertEqual(e.get("tenant"), self.ta, e)
        self.assertFalse([x for x in self.entries if x.get("outcome") == "allow"
                          and "sneaky" in (x.get("resource") or "")])

    def test_no_secrets_in_the_log(self):
        raw = "\n".join(json.dumps(e) for e in self.entries)
        for secret in (self.alice.secret_key, self.bob.secret_key, self.server.secret_key):
            self.assertNotIn(secret, raw)

    def test_export_filters_and_csv(self):
        only_a = t.audit_export(self.server.data_dir, "--tenant", self.ta)
        self.assertTrue(only_a)
        self.assertEqual({e.get("tenant") for e in only_a}, {self.ta})
        self.assertLess(len(only_a), len(self.entries))
        before = t.audit_export(self.server.data_dir, "--to", iso(self.t0 - 3600))
        self.assertEqual(before, [])
        window = t.audit_export(self.server.data_dir, "--from", iso(self.t0 - 5),
                                "--to", iso(self.t1 + 5))
        self.assertEqual(len(window), len(self.entries))
        text = t.audit_export(self.server.data_dir, fmt="csv")
        rows = list(csv.DictReader(io.StringIO(text)))
        self.assertEqual(len(rows), len(self.entries))
        self.assertIn("action", rows[0])
        self.assertEqual([r["action"] for r in rows], [e["action"] for e in self.entries])

    # ---- verification and tampering ----

    def test_verify_untouched(self):
        p = t.audit_verify(self.server.data_dir)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        dst, _ = self.tampered_copy()  # a byte-identical copy verifies too
        p = t.audit_verify(dst)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_verify_detects_edit(self):
        dst, lines = self.tampered_copy()
        target = [x for x in lines if x[3].get("outcome") == "deny"
                  and x[3].get("action") == "s3:GetObject"][0]
        path, idx, line, entry = target
        edited = re.sub(r'("outcome"\s*:\s*")deny(")', r"\1allow\2", line, count=1)
        self.assertNotEqual(edited, line)
        self.rewrite(path, lambda ls: ls[:idx] + [edited] + ls[idx + 1:])
        self.verify_fails(dst, [entry["seq"]], "edited entry")

    def test_verify_detects_edit_of_last_entry(self):
        dst, lines = self.tampered_copy()
        path, idx, line, entry = lines[-1]
        edited = re.sub(r'("status"\s*:\s*)(\d+)', lambda m: m.group(1) + str(
            int(m.group(2)) + 1), line, count=1)
        self.assertNotEqual(edited, line)
        self.rewrite(path, lambda ls: ls[:idx] + [edited] + ls[idx + 1:])
        self.verify_fails(dst, [entry["seq"]], "edited last entry")

    def test_verify_detects_deletion(self):
        dst, lines = self.tampered_copy()
        path, idx, line, entry = lines[len(lines) // 2]
        self.rewrite(path, lambda ls: ls[:idx] + ls[idx + 1:])
        # The deleted entry is missing: the verifier may name it or its successor, whose
        # `prev` no longer matches.
        self.verify_fails(dst, [entry["seq"], entry["seq"] + 1], "deleted entry")

    def test_verify_detects_swap(self):
        dst, lines = self.tampered_copy()
        i = len(lines) // 2
        (p1, i1, l1, e1), (p2, i2, l2, e2) = lines[i], lines[i + 1]
        if p1 == p2:
            self.rewrite(p1, lambda ls: ls[:i1] + [l2, l1] + ls[i2 + 1:])
        else:  # across a day boundary: swap between the two files
            self.rewrite(p1, lambda ls: ls[:i1] + [l2] + ls[i1 + 1:])
            self.rewrite(p2, lambda ls: ls[:i2] + [l1] + ls[i2 + 1:])
        self.verify_fails(dst, [e1["seq"], e2["seq"]], "swapped entries")

    def test_verify_detects_truncation(self):
        """Dropping the newest entry is caught too (head.json names the last durable one)."""
        dst, lines = self.tampered_copy()
        path, idx, line, entry = lines[-1]
        self.rewrite(path, lambda ls: ls[:idx] + ls[idx + 1:])
        self.verify_fails(dst, [entry["seq"], entry["seq"] - 1], "truncated log")


if __name__ == "__main__":
    unittest.main()
