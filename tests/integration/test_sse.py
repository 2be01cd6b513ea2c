"""Encryption at rest: SSE-S3 (AES256), SM4, SSE-C and bucket default encryption through boto3
and the aws CLI; range reads across segment boundaries; tampered bytes on disk; the plaintext
never on disk; key rotation."""

import base64
import glob
import hashlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest

import botocore.exceptions

import harness as h
import tenancy as t

SEG = 64 * 1024


def stored_size(n):
    nseg = 1 if n == 0 else (n + SEG - 1) // SEG
    return 16 + n + 16 * nseg


def ssec_args(key, copy_source=False):
    pre = "CopySource" if copy_source else ""
    return {pre + "SSECustomerAlgorithm": "AES256", pre + "SSECustomerKey": key}


# SSE-C keys on plain HTTP are refused unless the server is told otherwise (AWS refuses them
# always); test_tls.py covers SSE-C over TLS with the default.
SSE_C_OVER_HTTP = ["--sse-c-over-http", "on"]


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


def crc32c(data):
    """CRC32C (Castagnoli) as the store records it per 64 KiB block: 4 bytes big-endian."""
    if not _CRC32C:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            _CRC32C.append(c)
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return (c ^ 0xFFFFFFFF).to_bytes(4, "big")


_CRC32C = []


def data_files(data_dir):
    """Every regular file under the data folder (object files, index, WAL)."""
    out = []
    for root, _dirs, files in os.walk(data_dir):
        for f in files:
            out.append(os.path.join(root, f))
    return out


class SseTests(h.ServerTestCase):
    gzy_only = True

    def setUp(self):
        self.b = self.new_bucket()

    def test_aes256_roundtrip_sizes(self):
        for n in (0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG + 100):
            data = h.random_bytes(n, seed=n)
            key = "o%d" % n
            resp = self.put(self.b, key, data, ServerSideEncryption="AES256")
            self.assertEqual(resp["ServerSideEncryption"], "AES256")
            self.assertEqual(resp["ETag"], '"%s"' % h.md5_hex(data), "ETag is the plaintext MD5")
            got = self.s3.get_object(Bucket=self.b, Key=key)
            self.assertEqual(got["Body"].read(), data, "%d bytes" % n)
            self.assertEqual(got["ContentLength"], n)
            self.assertEqual(got["ServerSideEncryption"], "AES256")
            head = self.s3.head_object(Bucket=self.b, Key=key)
            self.assertEqual(head["ContentLength"], n)
            self.assertEqual(head["ServerSideEncryption"], "AES256")
            self.assertEqual(head["ETag"], resp["ETag"])
        listed = {o["Key"]: o["Size"] for o in
                  self.s3.list_objects_v2(Bucket=self.b)["Contents"]}
        self.assertEqual(listed["o%d" % (SEG + 1)], SEG + 1, "listing shows the plaintext size")
        self.assertEqual(listed["o0"], 0)

    def test_sm4_roundtrip(self):
        data = h.random_bytes(2 * SEG + 5, seed=4)
        resp = self.s3.put_object(Bucket=self.b, Key="sm4", Body=data,
                                  ServerSideEncryption="SM4")
        self.assertEqual(resp["ResponseMetadata"]["HTTPHeaders"]
                         ["x-amz-server-side-encryption"], "SM4")
        got = self.s3.get_object(Bucket=self.b, Key="sm4")
        self.assertEqual(got["Body"].read(), data)
        self.assertEqual(got["ResponseMetadata"]["HTTPHeaders"]
                         ["x-amz-server-side-encryption"], "SM4")
        r = self.s3.get_object(Bucket=self.b, Key="sm4", Range="bytes=%d-%d" % (SEG - 3, SEG + 3))
        self.assertEqual(r["Body"].read(), data[SEG - 3:SEG + 4])

    def test_ranges_at_segment_boundaries(self):
        n = 3 * SEG + 100
        data = h.random_bytes(n, seed=7)
        self.put(self.b, "r", data, ServerSideEncryption="AES256")
        cases = [(0, 0), (0, SEG - 1), (SEG - 1, SEG), (SEG, 2 * SEG - 1), (SEG - 1, 2 * SEG),
                 (100, n - 1), (3 * SEG, n - 1), (n - 1, n - 1), (5, 3 * SEG + 50)]
        for a, b in cases:
            r = self.s3.get_object(Bucket=self.b, Key="r", Range="bytes=%d-%d" % (a, b))
            self.assertEqual(r["Body"].read(), data[a:b + 1], "bytes=%d-%d" % (a, b))
            self.assertEqual(r["ContentRange"], "bytes %d-%d/%d" % (a, b, n))
        r = self.s3.get_object(Bucket=self.b, Key="r", Range="bytes=-70000")
        self.assertEqual(r["Body"].read(), data[-70000:])
        r = self.s3.get_object(Bucket=self.b, Key="r", Range="bytes=%d-" % (2 * SEG))
        self.assertEqual(r["Body"].read(), data[2 * SEG:])
        self.assertS3Error("InvalidRange", self.s3.get_object, Bucket=self.b, Key="r",
                           Range="bytes=%d-" % n, status=416)

    def test_plaintext_never_on_disk(self):
        marker = b"PLAINTEXT-MARKER-" + os.urandom(8).hex().encode()
        small = marker * 10
        big = (marker + h.random_bytes(1000, seed=1)) * 300
        self.put(self.b, "small", small, ServerSideEncryption="AES256")
        self.put(self.b, "big", big, ServerSideEncryption="SM4")
        self.assertEqual(self.get_bytes(self.b, "big"), big)
        # a plain object with the marker proves the scan would see it
        self.put(self.b, "plain", marker)
        seen_plain = False
        for path in data_files(self.server.data_dir):
            try:
                with open(path, "rb") as f:
                    blob = f.read()
            except FileNotFoundError:
                continue  # a temporary file renamed away while walking (audit head, WAL)
            if marker in blob:
                seen_plain = True
                self.assertNotIn(marker * 2, blob, "plaintext of an encrypted object in %s" % path)
        self.assertTrue(seen_plain, "the unencrypted control object's bytes were found")

    def _object_file(self, n):
        want = stored_size(n)
        found = [p for p in glob.glob(os.path.join(self.server.data_dir, "objects", "*", "*"))
                 if os.path.getsize(p) == want]
        self.assertEqual(len(found), 1, "one object file of %d bytes" % want)
        return found[0]

    def _body_file(self, key):
        """objects/XY/<hex> of a simple object's body, from the index."""
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.server.data_dir, "index.db"),
                             uri=True, timeout=30)
        try:
            row = db.execute("SELECT o.file FROM objects o JOIN buckets b ON b.id=o.bucket"
                             " WHERE b.name=? AND o.key=?", (self.b.encode(), key.encode())
                             ).fetchone()
        finally:
            db.close()
        self.assertTrue(row and row[0], "no body file for %s" % key)
        name = bytes(row[0]).hex()
        return os.path.join(self.server.data_dir, "objects", name[:2], name)

    def _scrub_status(self):
        return t.admin_request(self.server, "GET", "/admin/v1/scrub").json

    def _wait_marked(self, key):
        """(scrub status, what) once key is in the corrupt list (a read's mark is committed in
        the background), or after 30 s (what is then None)."""
        deadline = time.monotonic() + 30
        while True:
            doc = self._scrub_status()
            what = {(c["bucket"], c["key"]): c["what"] for c in doc["corrupt"]}.get((self.b, key))
            if what is not None or time.monotonic() > deadline:
                return doc, what
            time.sleep(0.05)

    def _marked_now(self, key):
        doc = self._scrub_status()
        return {(c["bucket"], c["key"]): c["what"] for c in doc["corrupt"]}.get((self.b, key))

    def test_flipped_byte_fails(self):
        # The store's block CRCs cover the stored ciphertext: a damaged block is caught by the
        # same check, counted and marked the same way as for a plaintext object.
        n = 4 * SEG + 12345
        data = h.random_bytes(n, seed=11)
        self.put(self.b, "t", data, ServerSideEncryption="AES256")
        path = self._body_file("t")
        failures = self._scrub_status()["read_failures"]
        flip(path, 16 + 100)  # the first segment, CRC block 0
        # before any header goes out: 500 InternalError, not a cut-off 200
        self.assertS3Error("InternalError", self.s3.get_object, Bucket=self.b, Key="t",
                           status=500)
        doc, what = self._wait_marked("t")
        self.assertIn("block 0", what or "", doc)
        self.assertGreater(doc["read_failures"], failures, doc)
        # marked: every read fails now, ranges away from the damage too, until an overwrite
        self.assertS3Error("InternalError", self.s3.get_object, Bucket=self.b, Key="t",
                           Range="bytes=%d-%d" % (SEG, SEG + 9), status=500)
        self.put(self.b, "t", data, ServerSideEncryption="AES256")
        self.assertEqual(self.get_bytes(self.b, "t"), data)
        self.assertIsNone(self._marked_now("t"))
        # truncating the file is detected too
        with open(self._body_file("t"), "r+b") as f:
            f.truncate(16 + 2 * (SEG + 16))
        self.assertS3Error("InternalError", self.s3.get_object, Bucket=self.b, Key="t",
                           Range="bytes=%d-%d" % (3 * SEG, 3 * SEG + 1), status=500)
        doc, what = self._wait_marked("t")
        self.assertIsNotNone(what, doc)
        self.assertIn("fails its block CRC or does not authenticate", self.server_log())

    def test_flipped_byte_mid_object(self):
        n = 5 * SEG + 999
        data = h.random_bytes(n, seed=12)
        self.put(self.b, "m", data, ServerSideEncryption="SM4")
        path = self._body_file("m")
        failures = self._scrub_status()["read_failures"]
        flip(path, 16 + 2 * (SEG + 16) + 7)  # segment 2, CRC block 2
        # nothing has read the damaged block yet: a range before it is served
        self.assertEqual(self.get_bytes(self.b, "m", Range="bytes=0-100"), data[:101])
        # the headers are out before segment 2 is read: the body is cut short (raw request:
        # a 200 and fewer bytes than Content-Length), never served as good
        status, headers, body = self.server.get_until_closed(self.b, "m")
        self.assertEqual(status, 200)
        self.assertEqual(int(headers["content-length"]), n)
        self.assertLess(len(body), n)
        self.assertEqual(body, data[:len(body)])
        # that read counted the failure and marked the object: now even bytes=0-100 fails
        doc, what = self._wait_marked("m")
        self.assertIn("block 2", what or "", doc)
        self.assertGreater(doc["read_failures"], failures, doc)
        self.assertS3Error("InternalError", self.s3.get_object, Bucket=self.b, Key="m",
                           Range="bytes=0-100", status=500)
        self.s3.delete_object(Bucket=self.b, Key="m")
        self.assertIsNone(self._marked_now("m"))

    def _tamper_with_crc(self, key, data):
        """Changes a byte of segment 1 of key's body together with its block CRC in the index
        (not bit rot: tampering), so the store's check passes and only the AEAD tag refuses it.
        Returns the body file's path."""
        path = self._body_file(key)
        db = sqlite3.connect(os.path.join(self.server.data_dir, "index.db"), timeout=30)
        try:
            fid = bytes.fromhex(os.path.basename(path))
            crcs = bytearray(db.execute("SELECT crc FROM files WHERE id=?", (fid,)).fetchone()[0])
            with open(path, "rb") as f:
                stored = bytearray(f.read())
            self.assertEqual(bytes(crcs[4:8]), crc32c(stored[SEG:2 * SEG]), "CRC model")
            stored[SEG + 50] ^= 0x5A  # segment 1 (stored 65552..), CRC block 1
            crcs[4:8] = crc32c(stored[SEG:2 * SEG])
            with open(path, "r+b") as f:
                f.seek(SEG + 50)
                f.write(stored[SEG + 50:SEG + 51])
            db.execute("UPDATE files SET crc=? WHERE id=?", (bytes(crcs), fid))
            db.commit()
        finally:
            db.close()
        # nothing has read segment 1 yet: segment 0 is still served
        self.assertEqual(self.get_bytes(self.b, key, Range="bytes=0-99"), data[:100])
        return path

    def _assert_marked_by_tag(self, key, failures, found_by):
        """key is listed corrupt by GET /admin/v1/scrub for its tag, read_failures went up,
        and every later read fails, a small range of good blocks too."""
        doc, what = self._wait_marked(key)
        self.assertIn("does not authenticate (found by a %s)" % found_by, what or "", doc)
        self.assertGreater(doc["read_failures"], failures, doc)
        self.assertGreaterEqual(doc["corrupt_count"], 1, doc)
        self.assertS3Error("InternalError", self.s3.get_object, Bucket=self.b, Key=key,
                           Range="bytes=0-9", status=500)
        self.assertS3Error("InternalError", self.s3.get_object, Bucket=self.b, Key=key,
                           status=500)

    def test_tampered_with_crc_refused_by_tag(self):
        n = 3 * SEG
        data = h.random_bytes(n, seed=13)
        self.put(self.b, "x", data, ServerSideEncryption="AES256")
        path = self._tamper_with_crc("x", data)
        failures = self._scrub_status()["read_failures"]
        self.assertS3Error("InternalError", self.s3.get_object, Bucket=self.b, Key="x",
                           Range="bytes=%d-%d" % (SEG + 10, SEG + 20), status=500)
        self.assertIn("fails its block CRC or does not authenticate", self.server_log())
        self.assertNotIn("objects/%s/%s: block 1" % (path[-32:][:2], path[-32:]),
                         self.server_log(), "the CRC passed: the tag refused it")
        self._assert_marked_by_tag("x", failures, "read")
        self.put(self.b, "x", data, ServerSideEncryption="AES256")
        self.assertEqual(self.get_bytes(self.b, "x"), data, "an overwrite clears the mark")
        self.assertIsNone(self._marked_now("x"))

    def test_tampered_copy_source_marked(self):
        # CopyObject and UploadPartCopy of a source whose tag fails mark it as a GET does.
        data = h.random_bytes(3 * SEG, seed=14)
        for src, how in (("cs", "copy_object"), ("ps", "upload_part_copy")):
            self.put(self.b, src, data, ServerSideEncryption="SM4")
            self._tamper_with_crc(src, data)
            failures = self._scrub_status()["read_failures"]
            source = {"Bucket": self.b, "Key": src}
            if how == "copy_object":
                with self.assertRaises(botocore.exceptions.ClientError, msg=how):
                    self.s3.copy_object(Bucket=self.b, Key=src + "-dst", CopySource=source,
                                        ServerSideEncryption="AES256")
                self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b,
                                   Key=src + "-dst", status=404)
            else:
                uid = self.s3.create_multipart_upload(Bucket=self.b, Key=src + "-dst")["UploadId"]
                with self.assertRaises(botocore.exceptions.ClientError, msg=how):
                    self.s3.upload_part_copy(Bucket=self.b, Key=src + "-dst", UploadId=uid,
                                             PartNumber=1, CopySource=source)
                parts = self.s3.list_parts(Bucket=self.b, Key=src + "-dst", UploadId=uid)
                self.assertEqual(parts.get("Parts", []), [], "no part from a failed copy")
                self.s3.abort_multipart_upload(Bucket=self.b, Key=src + "-dst", UploadId=uid)
            self._assert_marked_by_tag(src, failures, "copy")

    def server_log(self):
        return self.server.stderr_text()

    def test_unsupported_values(self):
        self.assertS3Error("NotImplemented", self.s3.put_object, Bucket=self.b, Key="k",
                           Body=b"x", ServerSideEncryption="aws:kms", status=501)
        raw = self.server.request("PUT", "/%s/k2" % self.b, body=b"x",
                                  headers={"x-amz-server-side-encryption": "DES"})
        self.assertRawError(raw, 400, "InvalidArgument")

    def test_bucket_default(self):
        self.assertS3Error("ServerSideEncryptionConfigurationNotFoundError",
                           self.s3.get_bucket_encryption, Bucket=self.b, status=404)
        cfg = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
        self.s3.put_bucket_encryption(Bucket=self.b, ServerSideEncryptionConfiguration=cfg)
        got = self.s3.get_bucket_encryption(Bucket=self.b)
        rule = got["ServerSideEncryptionConfiguration"]["Rules"][0]
        self.assertEqual(rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256")
        resp = self.put(self.b, "d", b"default encrypted")
        self.assertEqual(resp.get("ServerSideEncryption"), "AES256")
        self.assertEqual(self.s3.head_object(Bucket=self.b, Key="d")["ServerSideEncryption"],
                         "AES256")
        self.assertEqual(self.get_bytes(self.b, "d"), b"default encrypted")
        sm4 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "SM4"}}]}
        self.s3.put_bucket_encryption(Bucket=self.b, ServerSideEncryptionConfiguration=sm4)
        resp = self.put(self.b, "s", b"sm4 by default")
        self.assertEqual(resp["ResponseMetadata"]["HTTPHeaders"]
                         ["x-amz-server-side-encryption"], "SM4")
        kms = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}
        self.assertS3Error("NotImplemented", self.s3.put_bucket_encryption, Bucket=self.b,
                           ServerSideEncryptionConfiguration=kms)
        self.s3.delete_bucket_encryption(Bucket=self.b)
        self.assertS3Error("ServerSideEncryptionConfigurationNotFoundError",
                           self.s3.get_bucket_encryption, Bucket=self.b)
        resp = self.put(self.b, "p", b"plain again")
        self.assertNotIn("ServerSideEncryption", resp)
        self.assertEqual(self.get_bytes(self.b, "s"), b"sm4 by default")

    def test_key_file(self):
        self.put(self.b, "k", b"x", ServerSideEncryption="AES256")
        path = os.path.join(self.server.data_dir, "sse.keys")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)


class SseCopyTests(h.ServerTestCase):
    gzy_only = True
    server_kwargs = {"extra_args": SSE_C_OVER_HTTP}  # these tests send SSE-C keys over http

    def setUp(self):
        self.b = self.new_bucket()

    def _src(self, key, n, **kw):
        data = h.random_bytes(n, seed=n)
        self.put(self.b, key, data, **kw)
        return data

    def test_plain_to_encrypted_and_back(self):
        data = self._src("plain", 2 * SEG + 9)
        r = self.s3.copy_object(Bucket=self.b, Key="enc", ServerSideEncryption="AES256",
                                CopySource={"Bucket": self.b, "Key": "plain"})
        self.assertEqual(r["ServerSideEncryption"], "AES256")
        self.assertEqual(r["CopyObjectResult"]["ETag"], '"%s"' % h.md5_hex(data))
        head = self.s3.head_object(Bucket=self.b, Key="enc")
        self.assertEqual(head["ServerSideEncryption"], "AES256")
        self.assertEqual(head["ContentLength"], len(data))
        self.assertEqual(self.get_bytes(self.b, "enc"), data)
        r = self.s3.copy_object(Bucket=self.b, Key="back",
                                CopySource={"Bucket": self.b, "Key": "enc"})
        self.assertNotIn("ServerSideEncryption", r)
        head = self.s3.head_object(Bucket=self.b, Key="back")
        self.assertNotIn("ServerSideEncryption", head)
        self.assertEqual(head["ContentLength"], len(data))
        self.assertEqual(self.get_bytes(self.b, "back"), data)
        # in place: SM4 re-encryption of the same key is a legal change
        r = self.s3.copy_object(Bucket=self.b, Key="enc", ServerSideEncryption="SM4",
                                CopySource={"Bucket": self.b, "Key": "enc"})
        self.assertEqual(r["ResponseMetadata"]["HTTPHeaders"]
                         ["x-amz-server-side-encryption"], "SM4")
        self.assertEqual(self.get_bytes(self.b, "enc"), data)

    def test_metadata_survives(self):
        data = self._src("m", 1000, ServerSideEncryption="AES256", ContentType="text/x-a",
                         Metadata={"color": "blue"})
        self.s3.copy_object(Bucket=self.b, Key="m2", CopySource={"Bucket": self.b, "Key": "m"},
                            ServerSideEncryption="AES256")
        head = self.s3.head_object(Bucket=self.b, Key="m2")
        self.assertEqual(head["ContentType"], "text/x-a")
        self.assertEqual(head["Metadata"], {"color": "blue"})
        self.assertEqual(self.get_bytes(self.b, "m2"), data)

    def test_ssec_copy(self):
        k1, k2 = os.urandom(32), os.urandom(32)
        data = self._src("c", SEG + 1, **ssec_args(k1))
        self.assertS3Error("InvalidRequest", self.s3.copy_object, Bucket=self.b, Key="d",
                           CopySource={"Bucket": self.b, "Key": "c"}, status=400)
        self.assertS3Error("AccessDenied", self.s3.copy_object, Bucket=self.b, Key="d",
                           CopySource={"Bucket": self.b, "Key": "c"}, status=403,
                           **ssec_args(k2, copy_source=True))
        r = self.s3.copy_object(Bucket=self.b, Key="d", CopySource={"Bucket": self.b, "Key": "c"},
                                **ssec_args(k1, copy_source=True), **ssec_args(k2))
        self.assertEqual(r["SSECustomerKeyMD5"],
                         base64.b64encode(hashlib.md5(k2).digest()).decode())
        self.assertEqual(self.get_bytes(self.b, "d", **ssec_args(k2)), data)
        self.assertS3Error("AccessDenied", self.s3.get_object, Bucket=self.b, Key="d",
                           **ssec_args(k1))
        r = self.s3.copy_object(Bucket=self.b, Key="p", CopySource={"Bucket": self.b, "Key": "d"},
                                **ssec_args(k2, copy_source=True))
        self.assertEqual(self.get_bytes(self.b, "p"), data)

    def test_bucket_default_applies_to_copy(self):
        data = self._src("s", 5000)
        dst = self.new_bucket("dflt")
        cfg = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "SM4"}}]}
        self.s3.put_bucket_encryption(Bucket=dst, ServerSideEncryptionConfiguration=cfg)
        self.s3.copy_object(Bucket=dst, Key="s", CopySource={"Bucket": self.b, "Key": "s"})
        head = self.s3.head_object(Bucket=dst, Key="s")
        self.assertEqual(head["ResponseMetadata"]["HTTPHeaders"]
                         ["x-amz-server-side-encryption"], "SM4")
        self.assertEqual(self.get_bytes(dst, "s"), data)
        self.assertEqual(self.s3.list_objects_v2(Bucket=dst)["Contents"][0]["Size"], len(data))


class SseRotateTests(h.ServerTestCase):
    gzy_only = True
    server_kwargs = {"extra_args": SSE_C_OVER_HTTP}  # these tests send SSE-C keys over http

    def rotate(self):
        return subprocess.run([self.server.bin, "sse", "rotate", "--data", self.server.data_dir],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=120)

    def object_files(self):
        out = {}
        for p in glob.glob(os.path.join(self.server.data_dir, "objects", "*", "*")):
            with open(p, "rb") as f:
                out[p] = hashlib.sha256(f.read()).hexdigest()
        return out

    def test_rotate(self):
        b = self.new_bucket()
        ck = os.urandom(32)
        objs = {
            "aes": (h.random_bytes(3 * SEG + 1, seed=1), {"ServerSideEncryption": "AES256"}),
            "sm4": (h.random_bytes(SEG * 2, seed=2), {"ServerSideEncryption": "SM4"}),
            "small": (b"tiny inline object", {"ServerSideEncryption": "AES256"}),
            "ssec": (h.random_bytes(SEG + 3, seed=3), ssec_args(ck)),
            "plain": (h.random_bytes(SEG + 5, seed=4), {}),
        }
        for k, (data, kw) in objs.items():
            self.put(b, k, data, **kw)
        mtimes = {k: self.s3.head_object(Bucket=b, Key=k, **(kw if k == "ssec" else {}))
                  ["LastModified"] for k, (data, kw) in objs.items()}
        p = self.rotate()
        self.assertEqual(p.returncode, 2, "refuses while the server runs: %s" % p.stderr)
        self.assertIn("stop it first", p.stderr)
        files_before = self.object_files()
        self.server.stop()
        p = self.rotate()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("3 object(s) re-wrapped", p.stdout)
        with open(os.path.join(self.server.data_dir, "sse.keys")) as f:
            ids = [ln.split()[0] for ln in f if ln.strip() and not ln.startswith("#")]
        self.assertEqual(ids, ["1", "2"])
        self.assertEqual(self.object_files(), files_before, "bodies are not rewritten")
        p = self.rotate()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.server.start(port=self.server.port)
        for k, (data, kw) in objs.items():
            extra = kw if k == "ssec" else {}
            self.assertEqual(self.get_bytes(b, k, **extra), data, k)
            self.assertEqual(self.s3.head_object(Bucket=b, Key=k, **extra)["LastModified"],
                             mtimes[k], "rotation keeps Last-Modified of " + k)
        # a new object uses the newest key; and dropping the old keys proves the old
        # objects no longer need them
        self.put(b, "new", b"after rotation", ServerSideEncryption="AES256")
        self.server.stop()
        path = os.path.join(self.server.data_dir, "sse.keys")
        with open(path) as f:
            lines = [ln for ln in f if ln.strip()]
        with open(path, "w") as f:
            f.writelines([ln for ln in lines if ln.startswith("#") or ln.startswith("3 ")])
        self.server.start(port=self.server.port)
        for k, (data, kw) in objs.items():
            extra = kw if k == "ssec" else {}
            self.assertEqual(self.get_bytes(b, k, **extra), data, k + " with only key 3")
        self.assertEqual(self.get_bytes(b, "new"), b"after rotation")


class SseMultipartTests(h.ServerTestCase):
    gzy_only = True
    server_kwargs = {"extra_args": SSE_C_OVER_HTTP}  # these tests send SSE-C keys over http

    def setUp(self):
        self.b = self.new_bucket()

    def _mpu(self, key, parts, create_kw=None, part_kw=None):
        create_kw = create_kw or {}
        part_kw = part_kw or {}
        up = self.s3.create_multipart_upload(Bucket=self.b, Key=key, **create_kw)
        etags = []
        for i, data in enumerate(parts, 1):
            r = self.s3.upload_part(Bucket=self.b, Key=key, UploadId=up["UploadId"],
                                    PartNumber=i, Body=data, **part_kw)
            etags.append({"PartNumber": i, "ETag": r["ETag"]})
        done = self.s3.complete_multipart_upload(Bucket=self.b, Key=key,
                                                 UploadId=up["UploadId"],
                                                 MultipartUpload={"Parts": etags})
        return up, done

    def test_sse_s3_multipart(self):
        p1 = h.random_bytes(5 * h.MiB, seed=31)
        p2 = h.random_bytes(SEG + 77, seed=32)
        data = p1 + p2
        up, done = self._mpu("m", [p1, p2], {"ServerSideEncryption": "AES256"})
        self.assertEqual(up["ServerSideEncryption"], "AES256")
        self.assertEqual(done["ServerSideEncryption"], "AES256")
        self.assertEqual(done["ETag"], h.multipart_etag([p1, p2]))
        head = self.s3.head_object(Bucket=self.b, Key="m")
        self.assertEqual(head["ContentLength"], len(data))
        self.assertEqual(head["ServerSideEncryption"], "AES256")
        self.assertEqual(self.get_bytes(self.b, "m"), data)
        edge = len(p1)
        for a, b in [(edge - 5, edge + 5), (edge, edge), (edge - SEG, edge + SEG),
                     (0, len(data) - 1), (edge + SEG, len(data) - 1)]:
            r = self.s3.get_object(Bucket=self.b, Key="m", Range="bytes=%d-%d" % (a, b))
            self.assertEqual(r["Body"].read(), data[a:b + 1], "bytes=%d-%d" % (a, b))
        part2 = self.s3.get_object(Bucket=self.b, Key="m", PartNumber=2)
        self.assertEqual(part2["Body"].read(), p2)
        self.assertEqual(part2["ContentRange"],
                         "bytes %d-%d/%d" % (edge, len(data) - 1, len(data)))
        self.assertEqual(self.s3.list_objects_v2(Bucket=self.b)["Contents"][0]["Size"],
                         len(data))
        # copy the encrypted multipart object to a plain one and back into SM4
        self.s3.copy_object(Bucket=self.b, Key="plain", CopySource={"Bucket": self.b,
                                                                     "Key": "m"})
        self.assertEqual(self.get_bytes(self.b, "plain"), data)
        self.s3.copy_object(Bucket=self.b, Key="sm4", ServerSideEncryption="SM4",
                            CopySource={"Bucket": self.b, "Key": "plain"})
        self.assertEqual(self.get_bytes(self.b, "sm4"), data)

    def test_small_part_checked_in_plaintext(self):
        """A part of 5 MiB - 100 plaintext bytes is too small even though its sealed body is
        larger than 5 MiB."""
        up = self.s3.create_multipart_upload(Bucket=self.b, Key="sm",
                                             ServerSideEncryption="AES256")
        uid = up["UploadId"]
        parts = []
        for i, n in ((1, 5 * h.MiB - 100), (2, 10)):
            r = self.s3.upload_part(Bucket=self.b, Key="sm", UploadId=uid, PartNumber=i,
                                    Body=b"s" * n)
            parts.append({"PartNumber": i, "ETag": r["ETag"]})
        self.assertS3Error("EntityTooSmall", self.s3.complete_multipart_upload, Bucket=self.b,
                           Key="sm", UploadId=uid, MultipartUpload={"Parts": parts})
        self.s3.abort_multipart_upload(Bucket=self.b, Key="sm", UploadId=uid)

    def test_list_parts_plaintext_sizes(self):
        up = self.s3.create_multipart_upload(Bucket=self.b, Key="lp", ServerSideEncryption="SM4")
        self.s3.upload_part(Bucket=self.b, Key="lp", UploadId=up["UploadId"], PartNumber=1,
                            Body=b"z" * 1000)
        parts = self.s3.list_parts(Bucket=self.b, Key="lp", UploadId=up["UploadId"])["Parts"]
        self.assertEqual(parts[0]["Size"], 1000)
        self.s3.abort_multipart_upload(Bucket=self.b, Key="lp", UploadId=up["UploadId"])

    def test_ssec_multipart(self):
        k, other = os.urandom(32), os.urandom(32)
        p1 = h.random_bytes(5 * h.MiB, seed=41)
        p2 = h.random_bytes(1234, seed=42)
        up = self.s3.create_multipart_upload(Bucket=self.b, Key="c", **ssec_args(k))
        self.assertEqual(up["SSECustomerAlgorithm"], "AES256")
        uid = up["UploadId"]
        self.assertS3Error("InvalidRequest", self.s3.upload_part, Bucket=self.b, Key="c",
                           UploadId=uid, PartNumber=1, Body=p1)
        self.assertS3Error("AccessDenied", self.s3.upload_part, Bucket=self.b, Key="c",
                           UploadId=uid, PartNumber=1, Body=p1, **ssec_args(other))
        e1 = self.s3.upload_part(Bucket=self.b, Key="c", UploadId=uid, PartNumber=1, Body=p1,
                                 **ssec_args(k))["ETag"]
        e2 = self.s3.upload_part(Bucket=self.b, Key="c", UploadId=uid, PartNumber=2, Body=p2,
                                 **ssec_args(k))["ETag"]
        self.s3.complete_multipart_upload(
            Bucket=self.b, Key="c", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                       {"PartNumber": 2, "ETag": e2}]})
        self.assertS3Error("InvalidRequest", self.s3.get_object, Bucket=self.b, Key="c")
        self.assertEqual(self.get_bytes(self.b, "c", **ssec_args(k)), p1 + p2)
        r = self.s3.get_object(Bucket=self.b, Key="c", Range="bytes=%d-%d" % (len(p1) - 2,
                                                                              len(p1) + 2),
                               **ssec_args(k))
        self.assertEqual(r["Body"].read(), (p1 + p2)[len(p1) - 2:len(p1) + 3])

    def test_upload_part_copy(self):
        src = h.random_bytes(5 * h.MiB + 10, seed=51)
        self.put(self.b, "src", src, ServerSideEncryption="AES256")
        for dst_kw in ({"ServerSideEncryption": "SM4"}, {}):
            up = self.s3.create_multipart_upload(Bucket=self.b, Key="pc", **dst_kw)
            uid = up["UploadId"]
            r1 = self.s3.upload_part_copy(Bucket=self.b, Key="pc", UploadId=uid, PartNumber=1,
                                          CopySource={"Bucket": self.b, "Key": "src"})
            r2 = self.s3.upload_part_copy(Bucket=self.b, Key="pc", UploadId=uid, PartNumber=2,
                                          CopySource={"Bucket": self.b, "Key": "src"},
                                          CopySourceRange="bytes=%d-%d" % (SEG - 1, SEG + 99))
            self.assertEqual(r1["CopyPartResult"]["ETag"], '"%s"' % h.md5_hex(src))
            self.s3.complete_multipart_upload(
                Bucket=self.b, Key="pc", UploadId=uid,
                MultipartUpload={"Parts": [
                    {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
                    {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
            want = src + src[SEG - 1:SEG + 100]
            self.assertEqual(self.get_bytes(self.b, "pc"), want, str(dst_kw))
            head = self.s3.head_object(Bucket=self.b, Key="pc")
            self.assertEqual(head["ContentLength"], len(want))
            self.assertEqual(head.get("ServerSideEncryption"), dst_kw.get("ServerSideEncryption"))

    def test_awscli_large(self):
        src = os.path.join(self.server.tmp, "big.bin")
        dst = os.path.join(self.server.tmp, "big.out")
        data = h.random_bytes(9 * h.MiB + 3, seed=61)
        with open(src, "wb") as f:
            f.write(data)
        self.server.aws("s3", "cp", src, "s3://%s/big" % self.b, "--sse", "AES256")
        self.server.aws("s3", "cp", "s3://%s/big" % self.b, dst)
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), data)
        ckey = "c" * 32
        self.server.aws("s3", "cp", src, "s3://%s/bigc" % self.b, "--sse-c", "AES256",
                        "--sse-c-key", ckey)
        self.server.aws("s3", "cp", "s3://%s/bigc" % self.b, dst, "--sse-c", "AES256",
                        "--sse-c-key", ckey)
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), data)
        head = self.s3.head_object(Bucket=self.b, Key="big")
        self.assertEqual(head["ContentLength"], len(data))
        self.assertTrue(head["ETag"].endswith('-2"'), "uploaded in parts: %s" % head["ETag"])


class SseCustomerTests(h.ServerTestCase):
    gzy_only = True
    server_kwargs = {"extra_args": SSE_C_OVER_HTTP}  # these tests send SSE-C keys over http

    def setUp(self):
        self.b = self.new_bucket()
        self.key = os.urandom(32)
        self.other = os.urandom(32)

    def test_roundtrip_and_errors(self):
        data = h.random_bytes(SEG * 2 + 77, seed=21)
        resp = self.put(self.b, "c", data, **ssec_args(self.key))
        md5 = base64.b64encode(hashlib.md5(self.key).digest()).decode()
        self.assertEqual(resp["SSECustomerAlgorithm"], "AES256")
        self.assertEqual(resp["SSECustomerKeyMD5"], md5)
        self.assertNotIn("ServerSideEncryption", resp)
        # as on AWS, an SSE-C ETag is not the MD5 of the data (listing must not reveal it)
        self.assertNotEqual(resp["ETag"], '"%s"' % h.md5_hex(data))
        self.assertRegex(resp["ETag"], r'^"[0-9a-f]{32}"$')
        again = self.put(self.b, "c2", data, **ssec_args(self.key))
        self.assertNotEqual(again["ETag"], resp["ETag"], "not linkable across objects")
        listed = {o["Key"]: o for o in self.s3.list_objects_v2(Bucket=self.b)["Contents"]}
        self.assertEqual(listed["c"]["ETag"], resp["ETag"])
        self.assertEqual(listed["c"]["Size"], len(data))
        got = self.s3.get_object(Bucket=self.b, Key="c", **ssec_args(self.key))
        self.assertEqual(got["ETag"], resp["ETag"])
        self.assertEqual(got["Body"].read(), data)
        self.assertEqual(got["SSECustomerKeyMD5"], md5)
        self.assertEqual(got["ContentLength"], len(data))
        r = self.s3.get_object(Bucket=self.b, Key="c", Range="bytes=%d-%d" % (SEG - 1, SEG),
                               **ssec_args(self.key))
        self.assertEqual(r["Body"].read(), data[SEG - 1:SEG + 1])
        head = self.s3.head_object(Bucket=self.b, Key="c", **ssec_args(self.key))
        self.assertEqual(head["ContentLength"], len(data))
        self.assertEqual(head["SSECustomerAlgorithm"], "AES256")
        self.assertS3Error("InvalidRequest", self.s3.get_object, Bucket=self.b, Key="c",
                           status=400)
        self.assertS3Error("AccessDenied", self.s3.get_object, Bucket=self.b, Key="c",
                           status=403, **ssec_args(self.other))
        self.assertS3Error("400", self.s3.head_object, Bucket=self.b, Key="c")
        self.assertS3Error("403", self.s3.head_object, Bucket=self.b, Key="c",
                           **ssec_args(self.other))
        self.put(self.b, "plain", b"p")
        self.assertS3Error("InvalidRequest", self.s3.get_object, Bucket=self.b, Key="plain",
                           status=400, **ssec_args(self.key))
        # the key is never stored, in any form
        b64 = base64.b64encode(self.key)
        for path in data_files(self.server.data_dir):
            try:
                with open(path, "rb") as f:
                    blob = f.read()
            except FileNotFoundError:
                continue  # a temporary file renamed away while walking (audit head, WAL)
            self.assertNotIn(self.key, blob, path)
            self.assertNotIn(b64, blob, path)

    def test_header_errors(self):
        k = base64.b64encode(self.key).decode()
        md5 = base64.b64encode(hashlib.md5(self.key).digest()).decode()
        bad_md5 = base64.b64encode(hashlib.md5(self.other).digest()).decode()
        short = base64.b64encode(self.key[:16]).decode()
        cases = [
            ({"x-amz-server-side-encryption-customer-algorithm": "AES256",
              "x-amz-server-side-encryption-customer-key": k,
              "x-amz-server-side-encryption-customer-key-MD5": bad_md5}, 400, "InvalidArgument"),
            ({"x-amz-server-side-encryption-customer-algorithm": "AES256",
              "x-amz-server-side-encryption-customer-key": short,
              "x-amz-server-side-encryption-customer-key-MD5": md5}, 400, "InvalidArgument"),
            ({"x-amz-server-side-encryption-customer-algorithm": "AES256",
              "x-amz-server-side-encryption-customer-key": k}, 400, "InvalidArgument"),
            ({"x-amz-server-side-encryption-customer-algorithm": "AES128",
              "x-amz-server-side-encryption-customer-key": k,
              "x-amz-server-side-encryption-customer-key-MD5": md5}, 400,
             "InvalidEncryptionAlgorithmError"),
            ({"x-amz-server-side-encryption": "AES256",
              "x-amz-server-side-encryption-customer-algorithm": "AES256",
              "x-amz-server-side-encryption-customer-key": k,
              "x-amz-server-side-encryption-customer-key-MD5": md5}, 400, "InvalidArgument"),
        ]
        for headers, status, code in cases:
            raw = self.server.request("PUT", "/%s/e" % self.b, body=b"x", headers=headers)
            self.assertRawError(raw, status, code)
        self.assertS3Error("404", self.s3.head_object, Bucket=self.b, Key="e")

    def test_awscli(self):
        src = os.path.join(self.server.tmp, "cli-src.bin")
        dst = os.path.join(self.server.tmp, "cli-dst.bin")
        data = h.random_bytes(3 * SEG + 3, seed=5)
        with open(src, "wb") as f:
            f.write(data)
        self.server.aws("s3", "cp", src, "s3://%s/sse" % self.b, "--sse", "AES256")
        head = self.s3.head_object(Bucket=self.b, Key="sse")
        self.assertEqual(head["ServerSideEncryption"], "AES256")
        self.assertEqual(head["ContentLength"], len(data))
        ckey = "k" * 32
        self.server.aws("s3", "cp", src, "s3://%s/ssec" % self.b, "--sse-c", "AES256",
                        "--sse-c-key", ckey)
        self.server.aws("s3", "cp", "s3://%s/ssec" % self.b, dst, "--sse-c", "AES256",
                        "--sse-c-key", ckey)
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), data)
        p = self.server.aws("s3", "cp", "s3://%s/ssec" % self.b, dst + ".2", check=False)
        self.assertNotEqual(p.returncode, 0, "no key: the download fails")
        ls = self.server.aws("s3", "ls", "s3://%s/" % self.b).stdout
        self.assertIn(str(len(data)), ls)


if __name__ == "__main__":
    unittest.main()


class SseCustomerPlainHttpTests(h.ServerTestCase):
    """Without --sse-c-over-http, every request carrying a customer key on plain HTTP is
    refused with 400 InvalidRequest before anything is stored or read (like AWS)."""
    gzy_only = True

    def test_customer_keys_refused_on_plain_http(self):
        b = self.new_bucket()
        key = os.urandom(32)
        self.put(b, "o", b"kept")
        self.assertS3Error("InvalidRequest", self.put, b, "o", b"replaced", status=400,
                           **ssec_args(key))
        self.assertS3Error("InvalidRequest", self.put, b, "new", b"x", status=400,
                           **ssec_args(key))
        self.assertEqual(self.get_bytes(b, "o"), b"kept")
        self.assertS3Error("404", self.s3.head_object, Bucket=b, Key="new", status=404)
        keys = [o["Key"] for o in self.s3.list_objects_v2(Bucket=b).get("Contents", [])]
        self.assertEqual(keys, ["o"])
        self.assertS3Error("InvalidRequest", self.s3.get_object, Bucket=b, Key="o",
                           status=400, **ssec_args(key))
        self.assertS3Error("InvalidRequest", self.s3.copy_object, Bucket=b, Key="c",
                           CopySource={"Bucket": b, "Key": "o"}, status=400,
                           **ssec_args(key, copy_source=True))
        self.assertS3Error("InvalidRequest", self.s3.create_multipart_upload, Bucket=b,
                           Key="m", status=400, **ssec_args(key))
        self.assertEqual(self.s3.list_multipart_uploads(Bucket=b).get("Uploads", []), [])
        # SSE-S3 on the same connection is fine: the refusal is about customer keys only
        self.put(b, "s", b"sse-s3", ServerSideEncryption="AES256")
        self.assertEqual(self.get_bytes(b, "s"), b"sse-s3")


def _key_hexes(path):
    with open(path) as f:
        return [ln.split()[1] for ln in f if ln.strip() and not ln.startswith("#")]


def _key_ids(path):
    with open(path) as f:
        return [ln.split()[0] for ln in f if ln.strip() and not ln.startswith("#")]


class SseKeyFileTests(unittest.TestCase):
    """--sse-key-file / GZY_SSE_KEY_FILE: the master keys outside the data folder; a server
    that cannot open its folder's encrypted objects refuses to start; rotation with the
    option; the warning for a key file inside the data folder."""

    def setUp(self):
        if h.external_endpoint():
            raise unittest.SkipTest("needs the real gzy binary")
        self.keydir = tempfile.mkdtemp(prefix="gzy-keys-")
        self.addCleanup(shutil.rmtree, self.keydir, True)
        self.keyfile = os.path.join(self.keydir, "master.keys")

    def server(self, *args):
        srv = h.GzyServer(extra_args=list(args))
        self.addCleanup(srv.close)
        return srv.start()

    def refused(self, srv, *args):
        """Starts srv with args (instead of its own) and returns its stderr: it must fail."""
        saved, srv.extra_args = srv.extra_args, list(args)
        port = srv.port
        try:
            offset = len(srv.stderr_text())
            with self.assertRaises(AssertionError, msg="gzy started with %s" % (args,)):
                srv.start(port=srv.port)
            self.assertEqual(srv.proc.returncode, 1)
            srv.proc = None  # it exited as it should: nothing for close() to report
            return srv.stderr_text()[offset:]
        finally:
            srv.extra_args, srv.port = saved, port

    def fill(self, srv):
        s3 = srv.client()
        b = h.unique_bucket("kf")
        s3.create_bucket(Bucket=b)
        objs = {"aes": (h.random_bytes(3 * SEG + 7, seed=11), "AES256"),
                "sm4": (h.random_bytes(SEG + 1, seed=12), "SM4"),
                "plain": (b"plain object", None)}
        for k, (data, alg) in objs.items():
            kw = {"ServerSideEncryption": alg} if alg else {}
            s3.put_object(Bucket=b, Key=k, Body=data, **kw)
        return b, objs

    def check(self, srv, b, objs):
        s3 = srv.client()
        for k, (data, _alg) in objs.items():
            self.assertEqual(s3.get_object(Bucket=b, Key=k)["Body"].read(), data, k)
        r = s3.get_object(Bucket=b, Key="aes", Range="bytes=%d-%d" % (SEG - 3, 2 * SEG + 2))
        self.assertEqual(r["Body"].read(), objs["aes"][0][SEG - 3:2 * SEG + 3])

    def test_key_file_outside_the_data_folder(self):
        srv = self.server("--sse-key-file", self.keyfile)
        b, objs = self.fill(srv)
        self.check(srv, b, objs)
        # the console's download (admin API, as the tenant's admin) decrypts with the same file
        ten = t.Tenancy(srv)
        name = t.unique_tenant("kf")
        ten.tenant_add(name)
        ten.admin("bucket", "owner", b, name)
        who = ten.principal(name, "admin1", "tenant-admin")
        r = who.admin("GET", "/admin/v1/buckets/%s/object" % b, query=[("key", "aes")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.raw, objs["aes"][0])
        self.assertEqual(os.stat(self.keyfile).st_mode & 0o777, 0o600)
        self.assertFalse(os.path.exists(os.path.join(srv.data_dir, "sse.keys")))
        # the data folder alone holds no key: neither as hex nor as raw bytes, anywhere
        keys = _key_hexes(self.keyfile)
        self.assertEqual(len(keys), 1)
        needles = [k.encode() for k in keys] + [bytes.fromhex(k) for k in keys]
        srv.stop()
        for path in data_files(srv.data_dir):
            with open(path, "rb") as f:
                blob = f.read()
            for n in needles:
                self.assertNotIn(n, blob, "a master key in " + path)
        self.assertNotIn("inside the data folder", srv.stderr_text())
        # without the key file the server refuses to start, and creates no other key file
        err = self.refused(srv)
        self.assertIn("is missing", err)
        self.assertIn("--sse-key-file", err)
        self.assertFalse(os.path.exists(os.path.join(srv.data_dir, "sse.keys")))
        # the environment variable names it as well as the option
        os.environ["GZY_SSE_KEY_FILE"] = self.keyfile
        try:
            srv.start(port=srv.port)
        finally:
            del os.environ["GZY_SSE_KEY_FILE"]
        self.check(srv, b, objs)

    def test_wrong_or_exposed_key_file_is_refused(self):
        srv = self.server("--sse-key-file", self.keyfile)
        b, objs = self.fill(srv)
        srv.stop()
        # another key file with a key 1 of its own (another folder's, or a fresh one)
        other = os.path.join(self.keydir, "other.keys")
        fd = os.open(other, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, ("1 %s\n" % os.urandom(32).hex()).encode())
        os.close(fd)
        err = self.refused(srv, "--sse-key-file", other)
        self.assertIn("is not the key 1", err)
        # group- or world-accessible: refused like ssh refuses such a private key
        os.chmod(self.keyfile, 0o644)
        err = self.refused(srv, "--sse-key-file", self.keyfile)
        self.assertIn("chmod 600", err)
        os.chmod(self.keyfile, 0o600)
        srv.start(port=srv.port)
        self.check(srv, b, objs)

    def test_rotate_with_the_option(self):
        srv = self.server("--sse-key-file", self.keyfile)
        b, objs = self.fill(srv)
        srv.stop()
        env = dict(os.environ)
        env.pop("GZY_SSE_KEY_FILE", None)
        p = subprocess.run([srv.bin, "sse", "rotate", "--data", srv.data_dir, "--sse-key-file",
                            self.keyfile], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("2 object(s) re-wrapped", p.stdout)
        self.assertIn(self.keyfile, p.stdout)
        self.assertEqual(_key_ids(self.keyfile), ["1", "2"])
        self.assertEqual(os.stat(self.keyfile).st_mode & 0o777, 0o600)
        self.assertFalse(os.path.exists(os.path.join(srv.data_dir, "sse.keys")))
        # rotation without the key file refuses (it would otherwise start a new one)
        p = subprocess.run([srv.bin, "sse", "rotate", "--data", srv.data_dir],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=120, env=env)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertFalse(os.path.exists(os.path.join(srv.data_dir, "sse.keys")))
        # after a complete rotation the old key may go; the current one may not
        with open(self.keyfile) as f:
            lines = f.readlines()
        with open(self.keyfile, "w") as f:
            f.writelines(ln for ln in lines if not ln.startswith("1 "))
        srv.start(port=srv.port)
        self.check(srv, b, objs)
        srv.stop()
        with open(self.keyfile, "w") as f:
            f.writelines(ln for ln in lines if not ln.startswith("2 "))
        err = self.refused(srv)
        self.assertIn("is missing", err)
        err = self.refused(srv, "--sse-key-file", self.keyfile)
        self.assertIn("lacks key 2", err)

    def test_migrate_copy_dest_data_with_the_option(self):
        """`gzy migrate copy --dest-data DIR --sse-key-file PATH` seals objects for a bucket
        with default encryption under PATH's keys; without the option it seals nothing and
        creates no key file in DIR."""
        src = self.server()
        sb = h.unique_bucket("msrc")
        src.client().create_bucket(Bucket=sb)
        bodies = {"a": h.random_bytes(SEG + 5, seed=21), "b/c": b"small object"}
        for k, v in bodies.items():
            src.client().put_object(Bucket=sb, Key=k, Body=v)
        dst = self.server("--sse-key-file", self.keyfile)
        db = h.unique_bucket("mdst")
        s3 = dst.client()
        s3.create_bucket(Bucket=db)
        s3.put_bucket_encryption(Bucket=db, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        s3.put_object(Bucket=db, Key="first", Body=b"sealed by the server")
        dst.stop()
        env = dict(os.environ)
        env.pop("GZY_SSE_KEY_FILE", None)

        def copy(*extra):
            return subprocess.run(
                [src.bin, "migrate", "copy", "--source-endpoint", src.endpoint,
                 "--source-bucket", sb, "--source-access-key", src.access_key,
                 "--source-secret-key", src.secret_key, "--dest-data", dst.data_dir,
                 "--dest-bucket", db] + list(extra),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300, env=env)
        p = copy()
        self.assertNotEqual(p.returncode, 0, "sealed without the key file: " + p.stdout[-2000:])
        self.assertIn("--sse-key-file", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(dst.data_dir, "sse.keys")))
        p = copy("--sse-key-file", self.keyfile)
        self.assertEqual(p.returncode, 0, p.stdout[-2000:] + p.stderr[-2000:])
        self.assertFalse(os.path.exists(os.path.join(dst.data_dir, "sse.keys")))
        self.assertEqual(_key_ids(self.keyfile), ["1"])
        dst.start(port=dst.port)
        s3 = dst.client()
        for k, v in bodies.items():
            got = s3.get_object(Bucket=db, Key=k)
            self.assertEqual(got["Body"].read(), v, k)
            self.assertEqual(got.get("ServerSideEncryption"), "AES256", k)

    def test_key_file_folder_must_exist(self):
        srv = h.GzyServer(extra_args=["--sse-key-file", os.path.join(self.keydir, "no", "k")])
        self.addCleanup(srv.close)
        with self.assertRaises(AssertionError):
            srv.start()
        srv.proc = None
        self.assertIn("does not exist", srv.stderr_text())

    def test_default_location_warns_only_when_encrypting(self):
        srv = self.server()
        s3 = srv.client()
        b = h.unique_bucket("kw")
        s3.create_bucket(Bucket=b)
        s3.put_object(Bucket=b, Key="p", Body=b"plain")
        srv.restart()
        self.assertNotIn("inside the data folder", srv.stderr_text(), "no noise")
        s3.put_object(Bucket=b, Key="e", Body=b"secret", ServerSideEncryption="AES256")
        self.assertIn("inside the data folder", srv.stderr_text(), "warned at creation")
        offset = len(srv.stderr_text())
        srv.restart()
        self.assertIn("inside the data folder", srv.stderr_text()[offset:], "warned at start")
        self.assertEqual(srv.client().get_object(Bucket=b, Key="e")["Body"].read(), b"secret")
        # a folder from before the check file, whose key file went missing: refused too
        srv.stop()
        os.unlink(os.path.join(srv.data_dir, "sse.keycheck"))
        os.unlink(os.path.join(srv.data_dir, "sse.keys"))
        err = self.refused(srv)
        self.assertIn("is missing", err)


def _vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for pid %d" % pid)


class SseStreamingMemoryTests(unittest.TestCase):
    """Encrypted bodies stream: PUT, full GET and ranged GETs of a 96 MiB object, plain,
    AES256, SM4 and SSE-C (over http here: --sse-c-over-http), keep the server's peak RSS
    (VmHWM) far below the object's size. Run against the release build (GZY_RELEASE_BIN) even
    when the suite runs ASan: ASan's quarantine keeps up to 256 MiB of freed buffers resident,
    so a sanitized server's RSS grows with the bytes that pass through it whether or not it
    buffers, and says nothing about buffering."""

    SIZE = 96 * 1024 * 1024
    BOUND_KIB = 48 * 1024  # peak RSS; the object alone is 96 MiB, ciphertext a little more

    @classmethod
    def setUpClass(cls):
        if h.external_endpoint():
            raise unittest.SkipTest("needs the real gzy binary")
        release = os.environ.get("GZY_RELEASE_BIN")
        if not release and os.environ.get("GZY_SANITIZED") != "1":
            release = os.environ.get("GZY_BIN", "build/gzy")
        if not release or not os.path.isfile(release):
            raise unittest.SkipTest("no release build to measure")
        cls.server = h.GzyServer(threads=2, extra_args=SSE_C_OVER_HTTP)
        cls.server.bin, cls.server.sanitized = release, False
        cls.server.start()
        cls.s3 = cls.server.client(read_timeout=300)
        cls.body = os.path.join(cls.server.tmp, "body")
        block = os.urandom(1024 * 1024)
        with open(cls.body, "wb") as f:
            for i in range(cls.SIZE // len(block)):
                f.write(i.to_bytes(4, "big") + block[4:])

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def expected(self, start, end):
        d = hashlib.sha256()
        with open(self.body, "rb") as f:
            f.seek(start)
            left = end - start + 1
            while left:
                chunk = f.read(min(left, 1 << 20))
                d.update(chunk)
                left -= len(chunk)
        return d.hexdigest()

    def streamed(self, b, key, rng=None, **kw):
        if rng:
            kw["Range"] = "bytes=%d-%d" % rng
        r = self.s3.get_object(Bucket=b, Key=key, **kw)
        d, n = hashlib.sha256(), 0
        for chunk in r["Body"].iter_chunks(1 << 20):
            d.update(chunk)
            n += len(chunk)
        return n, d.hexdigest()

    def test_peak_rss_stays_flat(self):
        b = h.unique_bucket("rss")
        self.s3.create_bucket(Bucket=b)
        self.s3.put_object(Bucket=b, Key="warm", Body=b"x" * 1000, ServerSideEncryption="AES256")
        base = _vm_hwm_kib(self.server.proc.pid)
        ranges = [(0, self.SIZE - 1), (12345, 12345 + 80 * 1024 * 1024),
                  (SEG - 1, self.SIZE - SEG - 2), (self.SIZE - 100, self.SIZE - 1)]
        ssec = ssec_args(os.urandom(32))
        for key, kw in (("plain", {}), ("aes", {"ServerSideEncryption": "AES256"}),
                        ("sm4", {"ServerSideEncryption": "SM4"}), ("ssec", ssec)):
            with open(self.body, "rb") as f:
                self.s3.put_object(Bucket=b, Key=key, Body=f, **kw)
            rkw = ssec if key == "ssec" else {}
            head = self.s3.head_object(Bucket=b, Key=key, **rkw)
            self.assertEqual(head["ContentLength"], self.SIZE)
            if key == "ssec":
                self.assertEqual(head["SSECustomerAlgorithm"], "AES256")
            else:
                self.assertEqual(head["ResponseMetadata"]["HTTPHeaders"].get(
                    "x-amz-server-side-encryption"), kw.get("ServerSideEncryption"))
            for rng in [None] + ranges:
                start, end = rng or (0, self.SIZE - 1)
                n, digest = self.streamed(b, key, rng, **rkw)
                self.assertEqual(n, end - start + 1, (key, rng))
                self.assertEqual(digest, self.expected(start, end), (key, rng))
        peak = _vm_hwm_kib(self.server.proc.pid)
        self.assertLess(peak, self.BOUND_KIB,
                        "server peak RSS %d KiB (at start %d KiB) after moving %d MiB objects"
                        % (peak, base, self.SIZE >> 20))
