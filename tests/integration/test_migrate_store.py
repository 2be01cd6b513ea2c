"""`gzy migrate copy --dest-data DIR`: the migration engine writing through the store (the
path `gzy serve` jobs use), offline into a data folder. moto_server is the source; gzy serve
then starts on that folder and boto3 reads the objects back: bytes, metadata, and the
source's own ETag and Last-Modified. A rerun copies nothing; a locked folder (server
running) is refused; a missing bucket is a clear error."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import harness as h
from motopeer import MOTO_KEY, Moto, moto_binary
from test_migrate_copy import META


def gzy_bin():
    return os.environ.get("GZY_BIN", "build/gzy")


@unittest.skipIf(moto_binary() is None, "moto_server is not installed")
@unittest.skipIf(h.external_endpoint(), "needs the real gzy and its data folder")
class MigrateStoreTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.moto = Moto()
        cls.tmp = tempfile.mkdtemp(prefix="gzy-migst-")

    @classmethod
    def tearDownClass(cls):
        cls.moto.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.server = h.GzyServer()
        self.server.start()

    def tearDown(self):
        self.server.close()

    def run_copy(self, src, dst, *extra, check=True):
        args = [gzy_bin(), "migrate", "copy", "--source-endpoint", self.moto.endpoint,
                "--source-bucket", src, "--source-access-key", MOTO_KEY,
                "--source-secret-key", MOTO_KEY, "--dest-data", self.server.data_dir,
                "--dest-bucket", dst, "--concurrency", "4"] + list(extra)
        p = subprocess.run(args, capture_output=True, timeout=600)
        err = p.stderr.decode(errors="replace")
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)
        lines = [json.loads(l) for l in p.stdout.decode().splitlines() if l.startswith("{")]
        rep = lines[-1] if lines and lines[-1].get("event") == "report" else None
        if check:
            self.assertEqual(p.returncode, 0, "stdout:\n%s\nstderr:\n%s"
                             % (p.stdout.decode()[-3000:], err[-3000:]))
        return p, rep, lines

    def populate(self, bucket):
        m = self.moto.s3
        m.create_bucket(Bucket=bucket)
        for i in range(30):
            m.put_object(Bucket=bucket, Key="small/%02d" % i,
                         Body=h.random_bytes(i * 997, seed=i), ContentType="text/x-%d" % i)
        m.put_object(Bucket=bucket, Key="inline-and-file", Body=h.random_bytes(200 * 1024, seed=7))
        m.put_object(Bucket=bucket, Key="meta/full", Body=b"metadata object",
                     ContentType="application/x-gzy", CacheControl="max-age=60",
                     ContentDisposition='attachment; filename="f.txt"',
                     ContentLanguage="zh-CN", Expires="Wed, 21 Oct 2037 07:28:00 GMT",
                     Metadata=META)
        m.put_object(Bucket=bucket, Key="empty", Body=b"")
        up = m.create_multipart_upload(Bucket=bucket, Key="big/mp", ContentType="video/x-big",
                                       Metadata={"part": "yes"})
        parts = []
        for i, sz in enumerate([5 * h.MiB, 5 * h.MiB, 5 * h.MiB, 123457]):
            r = m.upload_part(Bucket=bucket, Key="big/mp", UploadId=up["UploadId"],
                              PartNumber=i + 1, Body=h.random_bytes(sz, seed=50 + i))
            parts.append({"PartNumber": i + 1, "ETag": r["ETag"]})
        m.complete_multipart_upload(Bucket=bucket, Key="big/mp", UploadId=up["UploadId"],
                                    MultipartUpload={"Parts": parts})
        return 30 + 4

    def test_dest_data_round_trip(self):
        src, dst = h.unique_bucket("sdsrc"), h.unique_bucket("sddst")
        n = self.populate(src)
        self.server.client().create_bucket(Bucket=dst)
        # a running server holds the folder's lock: refused, clearly
        p, rep, _ = self.run_copy(src, dst, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot open the store", p.stderr.decode())
        self.server.stop()
        # a missing bucket is refused too
        p, rep, _ = self.run_copy(src, "no-such-bucket-here", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("does not exist", p.stderr.decode())

        journal = os.path.join(self.tmp, "store.journal")
        p, rep, lines = self.run_copy(src, dst, "--journal", journal)
        self.assertEqual(rep["copied"]["objects"], n, rep)
        self.assertEqual(rep["verified_by"]["mpu-md5"], 1)
        self.assertEqual(rep["verified_by"]["md5"], n - 1)
        self.assertEqual(rep["not_carried"], 0)

        self.server.start()
        s3 = self.server.client()
        want = {o["Key"]: o for pg in self.moto.s3.get_paginator("list_objects_v2").paginate(
            Bucket=src) for o in pg.get("Contents", [])}
        got = {o["Key"]: o for pg in s3.get_paginator("list_objects_v2").paginate(
            Bucket=dst) for o in pg.get("Contents", [])}
        self.assertEqual(sorted(want), sorted(got))
        for key, o in want.items():
            self.assertEqual(got[key]["ETag"], o["ETag"], key)
            self.assertEqual(got[key]["Size"], o["Size"], key)
            self.assertEqual(got[key]["LastModified"], o["LastModified"], key)
            a = self.moto.s3.get_object(Bucket=src, Key=key)
            b = s3.get_object(Bucket=dst, Key=key)
            self.assertEqual(hashlib.sha256(a["Body"].read()).hexdigest(),
                             hashlib.sha256(b["Body"].read()).hexdigest(), key)
            self.assertEqual(b["ETag"], a["ETag"], key)
            self.assertEqual(b["LastModified"], a["LastModified"], key)
            for f in ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding",
                      "ContentLanguage", "Metadata"):
                self.assertEqual(a.get(f), b.get(f), "%s of %s" % (f, key))
            self.assertEqual(a.get("ExpiresString"), b.get("ExpiresString"), key)
        # the multipart object keeps the source's part layout: ?partNumber works
        head = s3.head_object(Bucket=dst, Key="big/mp", PartNumber=2)
        self.assertEqual(head["ContentLength"], 5 * h.MiB)
        self.assertEqual(head.get("PartsCount"), 4)
        self.server.stop()

        # rerun: nothing to copy, with the journal and without one
        _, rep, _ = self.run_copy(src, dst, "--journal", journal)
        self.assertEqual(rep["copied"]["objects"], 0)
        self.assertEqual(rep["skipped"]["objects"], n)
        _, rep, _ = self.run_copy(src, dst)
        self.assertEqual(rep["copied"]["objects"], 0)
        self.assertEqual(rep["skipped"]["objects"], n)
        # a change is copied, an extraneous key deleted
        self.moto.s3.put_object(Bucket=src, Key="small/03", Body=b"changed")
        self.moto.s3.delete_object(Bucket=src, Key="small/04")
        _, rep, _ = self.run_copy(src, dst, "--delete-extraneous", "--journal", journal)
        self.assertEqual(rep["copied"]["objects"], 1)
        self.assertEqual(rep["deleted"], 1)
        self.server.start()
        s3 = self.server.client()
        self.assertEqual(s3.get_object(Bucket=dst, Key="small/03")["Body"].read(), b"changed")
        with self.assertRaises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket=dst, Key="small/04")

    def data_holds(self, marker):
        """Does any file of the server's data folder contain marker?"""
        for root, _, files in os.walk(self.server.data_dir):
            for name in files:
                try:
                    with open(os.path.join(root, name), "rb") as f:
                        if marker in f.read():
                            return True
                except FileNotFoundError:
                    pass  # renamed away meanwhile
        return False

    def test_dest_data_into_an_encrypting_bucket_seals(self):
        """Offline, the copy seals objects for a bucket with default encryption exactly as
        a PUT would (docs/encryption.md): no plaintext in the folder, plain bytes and sizes
        through S3, the encryption header on HEAD; a plain bucket beside it stays plain."""
        src, enc, plain = (h.unique_bucket("sesrc"), h.unique_bucket("seenc"),
                           h.unique_bucket("seplain"))
        marker = b"GZY-OFFLINE-SEAL-" + os.urandom(6).hex().encode()
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        bodies = {"a": marker * 3, "dir/b": marker + h.random_bytes(300 * 1024, seed=3) + marker,
                  "empty": b""}
        for key, body in bodies.items():
            m.put_object(Bucket=src, Key=key, Body=body, ContentType="text/x-seal")
        up = m.create_multipart_upload(Bucket=src, Key="mp")
        parts, mp = [], b""
        for i, sz in enumerate([5 * h.MiB, 70000]):
            part = marker + h.random_bytes(sz - len(marker), seed=90 + i)
            r = m.upload_part(Bucket=src, Key="mp", UploadId=up["UploadId"], PartNumber=i + 1,
                              Body=part)
            parts.append({"PartNumber": i + 1, "ETag": r["ETag"]})
            mp += part
        m.complete_multipart_upload(Bucket=src, Key="mp", UploadId=up["UploadId"],
                                    MultipartUpload={"Parts": parts})
        bodies["mp"] = mp
        s3 = self.server.client()
        s3.create_bucket(Bucket=enc)
        s3.put_bucket_encryption(Bucket=enc, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        s3.create_bucket(Bucket=plain)
        self.server.stop()
        _, rep, _ = self.run_copy(src, enc)
        self.assertEqual(rep["copied"]["objects"], len(bodies), rep)
        self.assertFalse(self.data_holds(marker), "plaintext stored in an encrypting bucket")
        _, rep, _ = self.run_copy(src, plain)
        self.assertTrue(self.data_holds(marker), "the scan cannot see plaintext")
        _, rep, _ = self.run_copy(src, enc)  # sizes listed as the client sees them
        self.assertEqual(rep["copied"]["objects"], 0, rep)

        self.server.start()
        s3 = self.server.client()
        sizes = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=enc)["Contents"]}
        self.assertEqual(sizes, {k: len(v) for k, v in bodies.items()})
        for key, body in bodies.items():
            got = s3.get_object(Bucket=enc, Key=key)
            self.assertEqual(got["Body"].read(), body, key)
            self.assertEqual(got.get("ServerSideEncryption"), "AES256", key)
            self.assertEqual(got["ETag"], m.head_object(Bucket=src, Key=key)["ETag"], key)
        rng = s3.get_object(Bucket=enc, Key="mp", Range="bytes=%d-%d" % (5 * h.MiB - 10,
                                                                         5 * h.MiB + 9))
        self.assertEqual(rng["Body"].read(), mp[5 * h.MiB - 10:5 * h.MiB + 10])
        self.assertNotIn("ServerSideEncryption", s3.head_object(Bucket=plain, Key="a"))


if __name__ == "__main__":
    unittest.main()
