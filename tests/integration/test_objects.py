"""Object operations through boto3: PutObject (digests, checksums, metadata, standard headers),
GetObject (ranges, conditionals, response overrides), HeadObject, DeleteObject, DeleteObjects,
key limits, and the raw-request errors of PUT."""

import datetime
import hashlib
import unittest

import harness as h

DATA = bytes(range(256)) * 40  # 10240 bytes, every byte value


class PutGetTests(h.ServerTestCase):
    def setUp(self):
        self.b = self.new_bucket()

    def test_roundtrip_etag_and_length(self):
        resp = self.put(self.b, "obj", DATA)
        self.assertEqual(resp["ETag"], '"%s"' % h.md5_hex(DATA))
        got = self.s3.get_object(Bucket=self.b, Key="obj")
        self.assertEqual(got["Body"].read(), DATA)
        self.assertEqual(got["ContentLength"], len(DATA))
        self.assertEqual(got["ETag"], resp["ETag"])
        self.assertEqual(got["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(got["ResponseMetadata"]["HTTPHeaders"].get("accept-ranges"), "bytes")
        self.assertIsInstance(got["LastModified"], datetime.datetime)

    def test_empty_object(self):
        resp = self.put(self.b, "empty", b"")
        self.assertEqual(resp["ETag"], '"d41d8cd98f00b204e9800998ecf8427e"')
        got = self.s3.get_object(Bucket=self.b, Key="empty")
        self.assertEqual(got["Body"].read(), b"")
        self.assertEqual(got["ContentLength"], 0)

    def test_empty_then_small_put_on_one_connection(self):
        """boto3 sends Expect: 100-continue on every PutObject and reuses the connection; an
        empty upload followed by a non-empty one must both complete promptly (aws s3 sync of
        a tree with an empty file does exactly this)."""
        s3 = self.server.client(read_timeout=10)
        for i, body in enumerate((b"", b"x", b"", b"yz" * 1000, b"")):
            r = s3.put_object(Bucket=self.b, Key="seq-%d" % i, Body=body)
            self.assertEqual(r.get("ETag"), '"%s"' % h.md5_hex(body), "PUT #%d" % i)
        for i, body in enumerate((b"", b"x", b"", b"yz" * 1000, b"")):
            self.assertEqual(self.get_bytes(self.b, "seq-%d" % i), body)

    def test_overwrite_replaces(self):
        self.put(self.b, "k", b"first version", Metadata={"v": "1"})
        self.put(self.b, "k", b"second", ContentType="text/x-second")
        got = self.s3.get_object(Bucket=self.b, Key="k")
        self.assertEqual(got["Body"].read(), b"second")
        self.assertEqual(got["Metadata"], {})
        self.assertEqual(got["ContentType"], "text/x-second")

    def test_large_object_8mib(self):
        data = h.random_bytes(8 * h.MiB + 123)
        resp = self.put(self.b, "big", data)
        self.assertEqual(resp["ETag"], '"%s"' % h.md5_hex(data))
        got = self.get_bytes(self.b, "big")
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest())

    def test_odd_keys(self):
        keys = ["dir/sub dir/ü ñ 中文 +=&@$,;:!'()*~.txt", "a%2Fb", "plus+sign", "q?x=1#frag",
                "trailing/", "back\\slash", "tab\tkey", "dots/../x", "./dot"]
        for i, key in enumerate(keys):
            with self.subTest(key=key):
                body = ("body %d" % i).encode()
                self.put(self.b, key, body)
                self.assertEqual(self.get_bytes(self.b, key), body)
                self.s3.head_object(Bucket=self.b, Key=key)
        listed = [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.b)["Contents"]]
        self.assertEqual(sorted(listed, key=lambda k: k.encode()),
                         sorted(keys, key=lambda k: k.encode()))

    def test_key_length_limit(self):
        ok = "k" * 1024
        self.put(self.b, ok, b"long key")
        self.assertEqual(self.get_bytes(self.b, ok), b"long key")
        multi = "é" * 512  # 1024 UTF-8 bytes
        self.put(self.b, multi, b"utf8 key")
        self.assertEqual(self.get_bytes(self.b, multi), b"utf8 key")
        self.assertS3Error("KeyTooLongError", self.put, self.b, "k" * 1025, b"x", status=400)
        self.assertS3Error("KeyTooLongError", self.put, self.b, "é" * 512 + "x", b"x",
                           status=400)

    def test_missing_key_and_bucket(self):
        self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b, Key="nope",
                           status=404)
        self.assertS3Error("404", self.s3.head_object, Bucket=self.b, Key="nope", status=404)
        gone = h.unique_bucket("gone")
        self.assertS3Error("NoSuchBucket", self.s3.get_object, Bucket=gone, Key="k", status=404)
        self.assertS3Error("NoSuchBucket", self.put, gone, "k", b"x", status=404)

    def test_error_response_body(self):
        resp = self.server.request("GET", "/%s/no-such-key" % self.b)
        self.assertRawError(resp, 404, "NoSuchKey")
        self.assertIn("xml", resp.headers.get("content-type", ""))
        root = h.xml_strip_ns(resp.body)
        self.assertEqual(root.tag, "Error")
        self.assertEqual(root.findtext("Key"), "no-such-key")
        self.assertTrue(root.findtext("Message"))
        self.assertTrue(root.findtext("RequestId"))
        self.assertTrue(resp.headers.get("x-amz-request-id"))


class DigestAndChecksumTests(h.ServerTestCase):
    def setUp(self):
        self.b = self.new_bucket()

    def test_content_md5_good(self):
        resp = self.put(self.b, "md5", DATA, ContentMD5=h.md5_b64(DATA))
        self.assertEqual(resp["ETag"], '"%s"' % h.md5_hex(DATA))

    def test_content_md5_mismatch_is_bad_digest(self):
        self.assertS3Error("BadDigest", self.put, self.b, "md5bad", DATA,
                           ContentMD5=h.md5_b64(DATA + b"x"), status=400)
        self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b, Key="md5bad")

    def test_content_md5_malformed_is_invalid_digest(self):
        for bad in ("not-base64!!", "AAAA", h.md5_b64(DATA)[:-4]):
            with self.subTest(value=bad):
                self.assertS3Error("InvalidDigest", self.put, self.b, "md5inv", DATA,
                                   ContentMD5=bad, status=400)

    def test_default_crc32_checksum(self):
        # boto3 1.43 sends x-amz-checksum-crc32 on PutObject by default.
        resp = self.put(self.b, "c32", DATA)
        self.assertEqual(resp.get("ChecksumCRC32"), h.checksum_b64("crc32", DATA))
        got = self.s3.get_object(Bucket=self.b, Key="c32", ChecksumMode="ENABLED")
        self.assertEqual(got["Body"].read(), DATA)
        self.assertEqual(got.get("ChecksumCRC32"), h.checksum_b64("crc32", DATA))
        head = self.s3.head_object(Bucket=self.b, Key="c32", ChecksumMode="ENABLED")
        self.assertEqual(head.get("ChecksumCRC32"), h.checksum_b64("crc32", DATA))

    def test_checksum_algorithms(self):
        for alg in ("CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"):
            with self.subTest(alg=alg):
                key = "cs-" + alg
                member = "Checksum" + alg
                value = h.checksum_b64(alg, DATA)
                kwargs = {"ChecksumAlgorithm": alg}
                if alg in ("CRC32C", "CRC64NVME"):  # botocore needs awscrt for these
                    kwargs[member] = value
                resp = self.put(self.b, key, DATA, **kwargs)
                self.assertEqual(resp.get(member), value)
                got = self.s3.get_object(Bucket=self.b, Key=key, ChecksumMode="ENABLED")
                self.assertEqual(got["Body"].read(), DATA)
                self.assertEqual(got.get(member), value)
                self.assertEqual(self.s3.head_object(Bucket=self.b, Key=key,
                                                     ChecksumMode="ENABLED").get(member), value)

    def test_checksum_mismatch_is_bad_digest(self):
        for alg in ("CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"):
            with self.subTest(alg=alg):
                wrong = h.checksum_b64(alg, DATA + b"!")
                self.assertS3Error("BadDigest", self.put, self.b, "bad-" + alg, DATA,
                                   **{"Checksum" + alg: wrong}, status=400)
                self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b,
                                   Key="bad-" + alg)

    def test_payload_sha256_mismatch(self):
        resp = self.server.request("PUT", "/%s/shabad" % self.b, body=b"actual body",
                                   payload_hash=hashlib.sha256(b"other").hexdigest())
        self.assertRawError(resp, 400, "XAmzContentSHA256Mismatch")


class MetadataTests(h.ServerTestCase):
    def setUp(self):
        self.b = self.new_bucket()

    def test_user_metadata_roundtrip(self):
        meta = {"color": "blue", "multi-word": "a value with spaces", "num": "42"}
        self.put(self.b, "m", b"x", Metadata=meta)
        self.assertEqual(self.s3.head_object(Bucket=self.b, Key="m")["Metadata"], meta)
        self.assertEqual(self.s3.get_object(Bucket=self.b, Key="m")["Metadata"], meta)

    def test_metadata_near_limit_ok(self):
        meta = {"a": "v" * 1000, "b": "w" * 990}  # 1992 bytes of names + values
        self.put(self.b, "big-meta", b"x", Metadata=meta)
        self.assertEqual(self.s3.head_object(Bucket=self.b, Key="big-meta")["Metadata"], meta)

    def test_metadata_too_large(self):
        meta = {"a": "v" * 1100, "b": "w" * 1000}
        self.assertS3Error("MetadataTooLarge", self.put, self.b, "too-big", b"x", Metadata=meta,
                           status=400)
        self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b, Key="too-big")

    def test_standard_headers_roundtrip(self):
        expires = datetime.datetime(2031, 5, 17, 10, 20, 30, tzinfo=datetime.timezone.utc)
        self.put(self.b, "hdr", b"payload", ContentType="application/x-gzy-test",
                 CacheControl="max-age=3600, private", ContentDisposition='attachment; '
                 'filename="report.pdf"', ContentEncoding="gzip", ContentLanguage="zh-CN",
                 Expires=expires)
        for fn in (self.s3.head_object, self.s3.get_object):
            with self.subTest(op=fn.__name__):
                r = fn(Bucket=self.b, Key="hdr")
                self.assertEqual(r["ContentType"], "application/x-gzy-test")
                self.assertEqual(r["CacheControl"], "max-age=3600, private")
                self.assertEqual(r["ContentDisposition"], 'attachment; filename="report.pdf"')
                self.assertEqual(r["ContentEncoding"], "gzip")
                self.assertEqual(r["ContentLanguage"], "zh-CN")
                self.assertEqual(r["ResponseMetadata"]["HTTPHeaders"].get("expires"),
                                 "Sat, 17 May 2031 10:20:30 GMT")

    def test_default_content_type(self):
        self.put(self.b, "noct", b"x")
        ct = self.s3.head_object(Bucket=self.b, Key="noct")["ContentType"]
        self.assertIn(ct, ("binary/octet-stream", "application/octet-stream"))


class RangeTests(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = h.unique_bucket("range")
        cls.s3.create_bucket(Bucket=cls.b)
        cls.s3.put_object(Bucket=cls.b, Key="r", Body=DATA)
        cls.s3.put_object(Bucket=cls.b, Key="empty", Body=b"")

    def check_range(self, header, start, end):
        r = self.s3.get_object(Bucket=self.b, Key="r", Range=header)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 206, header)
        self.assertEqual(r["ContentRange"], "bytes %d-%d/%d" % (start, end, len(DATA)), header)
        self.assertEqual(r["ContentLength"], end - start + 1, header)
        self.assertEqual(r["Body"].read(), DATA[start:end + 1], header)

    def test_range_forms(self):
        n = len(DATA)
        cases = [("bytes=0-9", 0, 9), ("bytes=10-19", 10, 19), ("bytes=100-", 100, n - 1),
                 ("bytes=-5", n - 5, n - 1), ("bytes=5-5", 5, 5), ("bytes=0-", 0, n - 1),
                 ("bytes=%d-%d" % (n - 1, n + 1000), n - 1, n - 1),
                 ("bytes=-%d" % (n + 50), 0, n - 1), ("bytes=0-%d" % (n - 1), 0, n - 1)]
        for header, s, e in cases:
            with self.subTest(range=header):
                self.check_range(header, s, e)

    def test_unsatisfiable_range(self):
        n = len(DATA)
        for header in ("bytes=%d-" % n, "bytes=%d-%d" % (n + 10, n + 20)):
            with self.subTest(range=header):
                self.assertS3Error("InvalidRange", self.s3.get_object, Bucket=self.b,
                                   Key="r", Range=header, status=416)
        self.assertS3Error("InvalidRange", self.s3.get_object, Bucket=self.b, Key="empty",
                           Range="bytes=0-0", status=416)

    def test_malformed_range_ignored(self):
        for header in ("bytes=abc", "items=0-5", "bytes=9-3"):
            with self.subTest(range=header):
                r = self.s3.get_object(Bucket=self.b, Key="r", Range=header)
                self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 200)
                self.assertEqual(r["Body"].read(), DATA)

    def test_range_on_head(self):
        r = self.s3.head_object(Bucket=self.b, Key="r", Range="bytes=0-99")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 206)
        self.assertEqual(r["ContentLength"], 100)
        self.assertEqual(r["ContentRange"], "bytes 0-99/%d" % len(DATA))


class ConditionalTests(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = h.unique_bucket("cond")
        cls.s3.create_bucket(Bucket=cls.b)
        cls.etag = cls.s3.put_object(Bucket=cls.b, Key="c", Body=DATA)["ETag"]
        cls.mtime = cls.s3.head_object(Bucket=cls.b, Key="c")["LastModified"]
        cls.past = cls.mtime - datetime.timedelta(days=1)
        cls.future = cls.mtime + datetime.timedelta(days=1)

    def get(self, **kw):
        return self.s3.get_object(Bucket=self.b, Key="c", **kw)

    def status_of(self, fn, **kw):
        try:
            r = fn(Bucket=self.b, Key="c", **kw)
            if "Body" in r:
                self.assertEqual(r["Body"].read(), DATA)
            return r["ResponseMetadata"]["HTTPStatusCode"]
        except h.botocore.exceptions.ClientError as e:
            return e.response["ResponseMetadata"]["HTTPStatusCode"]

    def test_if_match(self):
        self.assertEqual(self.status_of(self.s3.get_object, IfMatch=self.etag), 200)
        self.assertS3Error("PreconditionFailed", self.get, IfMatch='"0123456789abcdef"',
                           status=412)
        self.assertEqual(self.status_of(self.s3.head_object, IfMatch='"nope"'), 412)

    def test_if_none_match(self):
        resp = self.assertS3Error("304", self.get, IfNoneMatch=self.etag, status=304)
        self.assertEqual(resp["ResponseMetadata"]["HTTPHeaders"].get("etag"), self.etag)
        self.assertEqual(self.status_of(self.s3.get_object, IfNoneMatch='"other"'), 200)
        self.assertEqual(self.status_of(self.s3.head_object, IfNoneMatch=self.etag), 304)

    def test_if_modified_since(self):
        self.assertEqual(self.status_of(self.s3.get_object, IfModifiedSince=self.past), 200)
        self.assertEqual(self.status_of(self.s3.get_object, IfModifiedSince=self.future), 304)
        self.assertEqual(self.status_of(self.s3.get_object, IfModifiedSince=self.mtime), 304)

    def test_if_unmodified_since(self):
        self.assertEqual(self.status_of(self.s3.get_object, IfUnmodifiedSince=self.future), 200)
        self.assertEqual(self.status_of(self.s3.get_object, IfUnmodifiedSince=self.mtime), 200)
        self.assertS3Error("PreconditionFailed", self.get, IfUnmodifiedSince=self.past,
                           status=412)

    def test_precedence(self):
        # If-Match true wins over If-Unmodified-Since false; If-None-Match false wins over
        # If-Modified-Since true (RFC 7232 section 6, as S3 documents for GetObject).
        self.assertEqual(self.status_of(self.s3.get_object, IfMatch=self.etag,
                                        IfUnmodifiedSince=self.past), 200)
        self.assertEqual(self.status_of(self.s3.get_object, IfNoneMatch=self.etag,
                                        IfModifiedSince=self.past), 304)

    def test_conditional_with_range(self):
        r = self.get(IfMatch=self.etag, Range="bytes=0-3")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 206)
        self.assertEqual(r["Body"].read(), DATA[:4])


class ResponseOverrideTests(h.ServerTestCase):
    def test_response_header_overrides(self):
        b = self.new_bucket()
        self.put(b, "o", b"override me", ContentType="text/plain")
        r = self.s3.get_object(
            Bucket=b, Key="o", ResponseContentType="application/x-override",
            ResponseContentDisposition='attachment; filename="x.bin"',
            ResponseCacheControl="no-cache", ResponseContentLanguage="fr",
            ResponseContentEncoding="identity",
            ResponseExpires=datetime.datetime(2030, 1, 2, 3, 4, 5,
                                              tzinfo=datetime.timezone.utc))
        self.assertEqual(r["Body"].read(), b"override me")
        hdrs = r["ResponseMetadata"]["HTTPHeaders"]
        self.assertEqual(hdrs.get("content-type"), "application/x-override")
        self.assertEqual(hdrs.get("content-disposition"), 'attachment; filename="x.bin"')
        self.assertEqual(hdrs.get("cache-control"), "no-cache")
        self.assertEqual(hdrs.get("content-language"), "fr")
        self.assertEqual(hdrs.get("content-encoding"), "identity")
        self.assertEqual(hdrs.get("expires"), "Wed, 02 Jan 2030 03:04:05 GMT")
        # The stored object is unchanged.
        self.assertEqual(self.s3.head_object(Bucket=b, Key="o")["ContentType"], "text/plain")


class DeleteTests(h.ServerTestCase):
    def setUp(self):
        self.b = self.new_bucket()

    def test_delete_object_is_204_and_idempotent(self):
        self.put(self.b, "d", b"x")
        r = self.s3.delete_object(Bucket=self.b, Key="d")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b, Key="d")
        r = self.s3.delete_object(Bucket=self.b, Key="d")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        r = self.s3.delete_object(Bucket=self.b, Key="never-existed")
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertS3Error("NoSuchBucket", self.s3.delete_object, Bucket=h.unique_bucket("g"),
                           Key="d")

    def test_delete_objects_verbose(self):
        for k in ("a", "b", "dir/c"):
            self.put(self.b, k, k.encode())
        r = self.s3.delete_objects(Bucket=self.b, Delete={"Objects": [
            {"Key": "a"}, {"Key": "dir/c"}, {"Key": "missing"}]})
        self.assertEqual(sorted(d["Key"] for d in r.get("Deleted", [])),
                         ["a", "dir/c", "missing"])
        self.assertEqual(r.get("Errors", []), [])
        left = [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.b).get("Contents", [])]
        self.assertEqual(left, ["b"])

    def test_delete_objects_quiet(self):
        for k in ("q1", "q2"):
            self.put(self.b, k, b"x")
        r = self.s3.delete_objects(Bucket=self.b, Delete={"Quiet": True, "Objects": [
            {"Key": "q1"}, {"Key": "q2"}]})
        self.assertEqual(r.get("Deleted", []), [])
        self.assertEqual(r.get("Errors", []), [])
        self.assertEqual(self.s3.list_objects_v2(Bucket=self.b)["KeyCount"], 0)

    def test_delete_objects_many(self):
        keys = ["many/%04d" % i for i in range(120)]
        for k in keys:
            self.put(self.b, k, b"")
        r = self.s3.delete_objects(Bucket=self.b, Delete={"Objects": [{"Key": k} for k in keys]})
        self.assertEqual(len(r["Deleted"]), 120)
        self.assertEqual(self.s3.list_objects_v2(Bucket=self.b)["KeyCount"], 0)

    def test_delete_objects_too_many_keys(self):
        objs = [{"Key": "k%d" % i} for i in range(1001)]
        self.assertS3Error("MalformedXML", self.s3.delete_objects, Bucket=self.b,
                           Delete={"Objects": objs}, status=400)

    def test_delete_objects_malformed_xml(self):
        body = b"<Delete><Object><Key>a</Key></Object"
        resp = self.server.request("POST", "/" + self.b, query=[("delete", None)], body=body,
                                   headers={"Content-MD5": h.md5_b64(body),
                                            "Content-Type": "application/xml"})
        self.assertRawError(resp, 400, "MalformedXML")


class RawPutErrorTests(h.ServerTestCase):
    def test_missing_content_length(self):
        b = self.new_bucket()
        data, _ = self.server.signed_request_bytes("PUT", "/%s/nolen" % b, omit_length=True,
                                                   payload_hash="UNSIGNED-PAYLOAD")
        self.assertNotIn(b"Content-Length", data)
        with self.server.connect() as conn:
            conn.send(data)
            resp = conn.read_response("PUT")
        self.assertRawError(resp, 411, "MissingContentLength")

    def test_method_not_allowed(self):
        b = self.new_bucket()
        self.put(b, "k", b"x")
        resp = self.server.request("POST", "/%s/k" % b, body=b"")
        self.assertRawError(resp, 405, "MethodNotAllowed")
        self.assertEqual(self.get_bytes(b, "k"), b"x")


if __name__ == "__main__":
    unittest.main()
