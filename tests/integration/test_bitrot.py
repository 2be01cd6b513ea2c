"""Bit rot (issue 6): every body carries block CRC32Cs recorded at write time; GETs verify them
while streaming (a damaged first block is a 500 InternalError; damage further in cuts the
connection, so the client never takes corrupt bytes as good), ranges that avoid the damaged
block still work, the in-server scrub finds and marks damaged objects (GET /admin/v1/scrub
lists them), an overwrite heals them, the offline `gzy scrub` checks the CRCs too, and an
index from before the checksums (schema 2) opens with its objects reported unprotected.
`gzy fsck` and `gzy scrub` check the CRCs of bodies encrypted at rest too.

Damage is done the way bit rot would: a byte flipped in place in an object file under
objects/XY/, in an inline body inside index.db, or in one part file of a multipart object,
while the server runs."""

import json
import os
import sqlite3
import time
import unittest

import botocore.exceptions

import harness as h
import tenancy as t

KiB = 1024
MiB = 1024 * 1024


def index_path(server):
    return os.path.join(server.data_dir, "index.db")


def db_ro(server):
    return sqlite3.connect("file:%s?mode=ro" % index_path(server), uri=True, timeout=30)


def object_file(server, bucket, key, part=None):
    """objects/XY/<hex> path of a simple object's body (or of multipart part N)."""
    with db_ro(server) as db:
        if part is None:
            row = db.execute("SELECT o.file FROM objects o JOIN buckets b ON b.id=o.bucket"
                             " WHERE b.name=? AND o.key=?", (bucket.encode(), key.encode())
                             ).fetchone()
        else:
            row = db.execute("SELECT p.file FROM object_parts p JOIN buckets b ON b.id=p.bucket"
                             " WHERE b.name=? AND p.key=? AND p.num=?",
                             (bucket.encode(), key.encode(), part)).fetchone()
    if row is None or row[0] is None:
        raise AssertionError("no body file for %s/%s part %s" % (bucket, key, part))
    name = bytes(row[0]).hex()
    return os.path.join(server.data_dir, "objects", name[:2], name)


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))
        f.flush()
        os.fsync(f.fileno())


def flip_inline(server, data):
    """Flips a byte of an inline body inside index.db (after moving the WAL into it)."""
    for _ in range(100):
        db = sqlite3.connect(index_path(server), timeout=30)
        try:
            busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            db.close()
        if busy == 0:
            break
        time.sleep(0.05)
    with open(index_path(server), "rb") as f:
        content = f.read()
    # A row this long spills into an overflow page: its tail is stored contiguously there.
    # Free pages may still hold an older copy of the page: flip every copy.
    tail = data[-300:]
    at = content.find(tail)
    if at < 0:
        raise AssertionError("inline body not found in index.db")
    while at >= 0:
        flip(index_path(server), at + 150)
        at = content.find(tail, at + 1)


class BitRotTests(h.ServerTestCase):
    gzy_only = True
    server_kwargs = {"extra_args": ("--scrub-rate", "200M", "--scrub-interval", "1h")}

    def admin(self, method, path):
        return t.admin_request(self.server, method, path)

    def scrub_now(self):
        deadline = time.monotonic() + 60
        before = self.admin("GET", "/admin/v1/scrub").json
        while before["running"] and time.monotonic() < deadline:  # let a pass under way end
            time.sleep(0.05)
            before = self.admin("GET", "/admin/v1/scrub").json
        r = self.admin("POST", "/admin/v1/scrub")
        self.assertEqual(r.status, 202, r)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            doc = self.admin("GET", "/admin/v1/scrub").json
            if doc["passes"] > before["passes"] and not doc["running"]:
                return doc
            time.sleep(0.1)
        raise AssertionError("the scrub pass did not finish: %r" % doc)

    def corrupt_keys(self, doc):
        return {(c["bucket"], c["key"]): c["what"] for c in doc["corrupt"]}

    def wait_marked(self, bucket, key):
        """The scrub status once (bucket, key) is in its corrupt list (a read's mark is
        committed in the background)."""
        deadline = time.monotonic() + 30
        while True:
            doc = self.admin("GET", "/admin/v1/scrub").json
            if (bucket, key) in self.corrupt_keys(doc) or time.monotonic() > deadline:
                return doc
            time.sleep(0.05)

    def assertGet500(self, bucket, key, **kw):
        err = self.assertS3Error("InternalError", self.s3.get_object, Bucket=bucket, Key=key,
                                 status=500, **kw)
        return err

    def test_file_object_first_block(self):
        b = self.new_bucket()
        data = h.random_bytes(300 * KiB, seed="file1")
        self.put(b, "k", data)
        self.assertEqual(self.get_bytes(b, "k"), data)
        flip(object_file(self.server, b, "k"), 100)
        # Ranges whose blocks avoid the damaged one still work (nothing read it yet)...
        self.assertEqual(self.get_bytes(b, "k", Range="bytes=65536-70000"), data[65536:70001])
        self.assertEqual(self.get_bytes(b, "k", Range="bytes=200000-"), data[200000:])
        # ...one touching it fails, and that read marks the object corrupt, without a scrub.
        self.assertGet500(b, "k", Range="bytes=65535-65600")  # its first byte is in block 0
        self.assertIn("fails its CRC32C", self.server.stderr_text() + self.server.logs())
        doc = self.wait_marked(b, "k")
        self.assertIn("block 0", self.corrupt_keys(doc)[(b, "k")], doc)
        self.assertGreaterEqual(doc["read_failures"], 1)
        # Marked: every read fails now, even ranges away from the damage, until an overwrite.
        self.assertGet500(b, "k", Range="bytes=200000-")
        self.assertGet500(b, "k")
        doc = self.scrub_now()
        self.assertIn((b, "k"), self.corrupt_keys(doc), doc)
        fresh = h.random_bytes(300 * KiB, seed="file1-new")
        self.put(b, "k", fresh)
        self.assertEqual(self.get_bytes(b, "k"), fresh)
        doc = self.admin("GET", "/admin/v1/scrub").json
        self.assertNotIn((b, "k"), self.corrupt_keys(doc))

    def test_file_object_late_block(self):
        b = self.new_bucket()
        data = h.random_bytes(3 * MiB, seed="late")
        self.put(b, "big", data)
        flip(object_file(self.server, b, "big"), 2 * MiB + 12345)
        # Before any read reaches the damage, ranges away from it are served.
        self.assertEqual(self.get_bytes(b, "big", Range="bytes=0-%d" % (2 * MiB - 1)),
                         data[:2 * MiB])
        self.assertEqual(self.get_bytes(b, "big", Range="bytes=%d-" % (2 * MiB + 64 * KiB)),
                         data[2 * MiB + 64 * KiB:])
        # Headers are out before the damage is reached: a raw request sees a 200 and fewer
        # bytes than Content-Length, never the bad block.
        status, headers, body = self.server.get_until_closed(b, "big")
        self.assertEqual(status, 200)
        self.assertEqual(int(headers["content-length"]), len(data))
        self.assertLess(len(body), len(data))
        self.assertEqual(body, data[:len(body)])
        # The first failed read marked it: now every read fails with InternalError.
        doc = self.wait_marked(b, "big")
        self.assertIn("block 32", self.corrupt_keys(doc).get((b, "big"), ""), doc)
        self.assertGet500(b, "big")
        self.assertGet500(b, "big", Range="bytes=0-100")
        self.assertGet500(b, "big", Range="bytes=%d-%d" % (2 * MiB + 100, 2 * MiB + 200))
        doc = self.scrub_now()
        self.assertIn("block 32", self.corrupt_keys(doc).get((b, "big"), ""), doc)
        self.s3.delete_object(Bucket=b, Key="big")
        doc = self.admin("GET", "/admin/v1/scrub").json
        self.assertNotIn((b, "big"), self.corrupt_keys(doc))

    def test_inline_body(self):
        b = self.new_bucket()
        data = h.random_bytes(2000, seed="inline")
        self.put(b, "small", data)
        flip_inline(self.server, data)
        self.assertGet500(b, "small")
        doc = self.wait_marked(b, "small")
        self.assertIn("inline body", self.corrupt_keys(doc).get((b, "small"), ""), doc)
        doc = self.scrub_now()
        self.assertIn((b, "small"), self.corrupt_keys(doc), doc)
        self.put(b, "small", b"healed")
        self.assertEqual(self.get_bytes(b, "small"), b"healed")

    def test_multipart_part(self):
        b = self.new_bucket()
        parts = [h.random_bytes(5 * MiB, seed="mp1"), h.random_bytes(1 * MiB, seed="mp2")]
        up = self.s3.create_multipart_upload(Bucket=b, Key="mp")
        done = []
        for n, p in enumerate(parts, 1):
            r = self.s3.upload_part(Bucket=b, Key="mp", UploadId=up["UploadId"], PartNumber=n,
                                    Body=p)
            done.append({"PartNumber": n, "ETag": r["ETag"]})
        self.s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up["UploadId"],
                                          MultipartUpload={"Parts": done})
        whole = parts[0] + parts[1]
        self.assertEqual(self.get_bytes(b, "mp"), whole)
        flip(object_file(self.server, b, "mp", part=2), 5000)
        self.assertEqual(self.get_bytes(b, "mp", PartNumber=1), parts[0])
        self.assertEqual(self.get_bytes(b, "mp", Range="bytes=%d-" % (5 * MiB + 64 * KiB)),
                         whole[5 * MiB + 64 * KiB:])
        with self.assertRaises((botocore.exceptions.IncompleteReadError,
                                botocore.exceptions.ResponseStreamingError,
                                botocore.exceptions.ConnectionClosedError)):
            self.s3.get_object(Bucket=b, Key="mp")["Body"].read()
        doc = self.wait_marked(b, "mp")
        self.assertIn("(part 2)", self.corrupt_keys(doc).get((b, "mp"), ""), doc)
        self.assertGet500(b, "mp", PartNumber=2)
        self.assertGet500(b, "mp", PartNumber=1)
        doc = self.scrub_now()
        self.assertIn("(part 2)", self.corrupt_keys(doc).get((b, "mp"), ""), doc)

    def test_scrub_status_shape_and_access(self):
        doc = self.admin("GET", "/admin/v1/scrub")
        self.assertEqual(doc.status, 200, doc)
        for f in ("enabled", "running", "passes", "last_full_pass", "progress", "corrupt",
                  "read_failures", "unprotected", "rate", "interval_ms"):
            self.assertIn(f, doc.json)
        self.assertTrue(doc.json["enabled"])
        self.assertEqual(doc.json["rate"], 200 * MiB)
        self.assertEqual(doc.json["interval_ms"], 3600 * 1000)
        ten = t.Tenancy(self.server)
        ten.tenant_add("bitrot-t")
        user = ten.principal("bitrot-t", "ta", "tenant-admin")
        r = user.admin("GET", "/admin/v1/scrub")
        self.assertEqual(r.status, 403, r)

    def test_healthy_objects_pass_scrub(self):
        b = self.new_bucket()
        for i, size in enumerate([0, 1, 65536, 65537, 200000]):
            self.put(b, "ok-%d" % i, h.random_bytes(size, seed="ok%d" % i))
        doc = self.scrub_now()
        keys = self.corrupt_keys(doc)
        for i in range(5):
            self.assertNotIn((b, "ok-%d" % i), keys)
        self.assertGreaterEqual(doc["last_pass"]["objects"], 5)


class VerifyOffTests(h.ServerTestCase):
    """--verify-reads off: file bodies go out by sendfile unchecked (the scrub still finds
    the damage); inline bodies are still checked."""
    gzy_only = True
    server_kwargs = {"extra_args": ("--verify-reads", "off", "--scrub-rate", "0")}

    def test_unverified_file_read_and_disabled_scrub(self):
        b = self.new_bucket()
        data = h.random_bytes(200 * KiB, seed="off")
        self.put(b, "k", data)
        flip(object_file(self.server, b, "k"), 10)
        # (a raw request: boto3 would catch it by the CRC32 it sent with the PUT)
        got = self.server.request("GET", "/%s/k" % b)
        self.assertEqual(got.status, 200)
        self.assertEqual(len(got.body), len(data))
        self.assertNotEqual(got.body, data)  # the documented cost of turning verification off
        small = h.random_bytes(3000, seed="off-inline")
        self.put(b, "small", small)
        self.assertEqual(self.get_bytes(b, "small"), small)
        r = t.admin_request(self.server, "POST", "/admin/v1/scrub")
        self.assertEqual(r.status, 409, r)
        self.assertFalse(t.admin_request(self.server, "GET", "/admin/v1/scrub").json["enabled"])
        self.assertIn("--verify-reads off: file bodies are sent unchecked",
                      self.server.stderr_text())


class OfflineAndUpgradeTests(unittest.TestCase):
    """The offline `gzy scrub` finds a CRC failure; a schema 2 index upgrades and reports
    its objects unprotected."""

    def setUp(self):
        if h.external_endpoint():
            raise unittest.SkipTest("needs the real gzy binary")
        self.server = h.GzyServer(extra_args=("--scrub-rate", "0"))
        self.server.start()
        self.s3 = self.server.client()

    def tearDown(self):
        self.server.close()

    def test_offline_scrub_reports_crc(self):
        b = h.unique_bucket("off")
        self.s3.create_bucket(Bucket=b)
        data = h.random_bytes(500 * KiB, seed="offline")
        self.s3.put_object(Bucket=b, Key="k", Body=data)
        path = object_file(self.server, b, "k")
        self.server.stop()
        flip(path, 400 * KiB)
        p = t.run_gzy("scrub", "--data", self.server.data_dir, "--rate", "0", check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("block 6", p.stdout)
        self.assertIn("CRC32C", p.stdout)

    def test_offline_fsck_checks_encrypted_crcs(self):
        """Bodies encrypted at rest: their ETag is the plaintext's MD5, so fsck cannot check it,
        but their block CRCs (over the stored ciphertext) are checked like any other."""
        b = h.unique_bucket("offenc")
        self.s3.create_bucket(Bucket=b)
        self.s3.put_object(Bucket=b, Key="sm4", Body=h.random_bytes(500 * KiB, seed="sm4"),
                           ServerSideEncryption="SM4")
        self.s3.put_object(Bucket=b, Key="aes", Body=h.random_bytes(100 * KiB, seed="aes"),
                           ServerSideEncryption="AES256")
        path = object_file(self.server, b, "sm4")
        self.server.stop()
        data = self.server.data_dir
        p = t.run_gzy("fsck", "--data", data, "--json", check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        st = json.loads(p.stdout)["stats"]
        self.assertEqual((st["verified"], st["unverified"], st["crc_checked"]), (0, 2, 2), st)
        self.assertGreater(st["bytes_read"], 600 * KiB, st)
        flip(path, 300000)
        for cmd in (("fsck", "--data", data), ("scrub", "--data", data, "--rate", "0")):
            p = t.run_gzy(*cmd, check=False)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("content   %s/sm4" % b, p.stdout)
            self.assertIn("block 4 (bytes 262144..) fails its CRC32C", p.stdout)
        p = t.run_gzy("fsck", "--data", data, "--repair", "--json", check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual([(x["kind"], x["key"], x["repaired"])
                          for x in json.loads(p.stdout)["problems"]], [("content", "sm4", False)])

    def test_schema2_store_upgrades_unprotected(self):
        b = h.unique_bucket("old")
        self.s3.create_bucket(Bucket=b)
        objs = {"inline": h.random_bytes(1000, seed="o1"),
                "file": h.random_bytes(300 * KiB, seed="o2")}
        for k, v in objs.items():
            self.s3.put_object(Bucket=b, Key=k, Body=v)
        file_path = object_file(self.server, b, "file")
        self.server.stop()
        db = sqlite3.connect(index_path(self.server))
        db.executescript("BEGIN; ALTER TABLE objects ADD COLUMN data BLOB;"
                         "UPDATE objects SET data=(SELECT data FROM inline_bodies"
                         " WHERE id=objects.body) WHERE body IS NOT NULL;"
                         "ALTER TABLE objects DROP COLUMN body; DROP TABLE inline_bodies;"
                         "DROP INDEX objects_bad;"
                         "ALTER TABLE objects DROP COLUMN bad;"
                         "ALTER TABLE files DROP COLUMN crc;"
                         "UPDATE meta SET v=2 WHERE k='schema'; PRAGMA user_version=2; COMMIT;")
        db.close()
        self.server.start()
        self.s3 = self.server.client()
        self.assertIn("unprotected", self.server.logs())
        for k, v in objs.items():
            self.assertEqual(self.s3.get_object(Bucket=b, Key=k)["Body"].read(), v)
        doc = t.admin_request(self.server, "GET", "/admin/v1/scrub").json
        self.assertEqual(doc["unprotected"], 2, doc)
        # Unprotected bodies are served unchecked (nothing to check them against) ...
        flip(file_path, 10)
        got = self.server.request("GET", "/%s/file" % b)  # raw: boto3 checks its CRC32
        self.assertEqual(got.status, 200)
        self.assertEqual(len(got.body), 300 * KiB)
        self.assertNotEqual(got.body, objs["file"])
        # ... and a rewrite protects them.
        self.s3.put_object(Bucket=b, Key="file", Body=objs["file"])
        self.s3.put_object(Bucket=b, Key="inline", Body=objs["inline"])
        doc = t.admin_request(self.server, "GET", "/admin/v1/scrub").json
        self.assertEqual(doc["unprotected"], 0, doc)
        with db_ro(self.server) as ro:
            self.assertEqual(ro.execute("PRAGMA user_version").fetchone()[0], 4)
            self.assertEqual(ro.execute("SELECT count(*) FROM inline_bodies").fetchone()[0], 1)


if __name__ == "__main__":
    unittest.main()
