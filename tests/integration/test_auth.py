"""Authentication: SigV4 and SigV2 (header and presigned), expiry, wrong keys, anonymous access,
clock skew, malformed Authorization headers, and unsupported methods/subresources."""

import time
import unittest
import urllib.parse

import requests

import harness as h


class PresignedTests(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = h.unique_bucket("presign")
        cls.s3.create_bucket(Bucket=cls.b)
        cls.s3.put_object(Bucket=cls.b, Key="dir/obj file.txt", Body=b"presigned content")

    def presign(self, client, method="get_object", key="dir/obj file.txt", expires=300, **kw):
        params = {"Bucket": self.b, "Key": key}
        params.update(kw)
        return client.generate_presigned_url(method, Params=params, ExpiresIn=expires)

    def test_v4_presigned_get(self):
        url = self.presign(self.s3)
        self.assertIn("X-Amz-Signature=", url)
        r = requests.get(url, timeout=30)
        self.assertEqual(r.status_code, 200, r.text[:500])
        self.assertEqual(r.content, b"presigned content")

    def test_v4_presigned_put(self):
        url = self.presign(self.s3, "put_object", key="uploaded.bin")
        r = requests.put(url, data=b"uploaded via presigned PUT", timeout=30)
        self.assertEqual(r.status_code, 200, r.text[:500])
        self.assertEqual(self.get_bytes(self.b, "uploaded.bin"), b"uploaded via presigned PUT")

    def test_v4_presigned_with_response_override(self):
        url = self.presign(self.s3, ResponseContentType="application/x-presigned")
        r = requests.get(url, timeout=30)
        self.assertEqual(r.status_code, 200, r.text[:500])
        self.assertEqual(r.headers.get("Content-Type"), "application/x-presigned")

    def test_default_presigned_is_v2_and_works(self):
        default = h.boto3.session.Session().client(
            "s3", endpoint_url=self.server.endpoint, region_name=h.REGION,
            aws_access_key_id=self.server.access_key,
            aws_secret_access_key=self.server.secret_key)
        url = self.presign(default)
        self.assertIn("AWSAccessKeyId=", url, "boto3 presigns with SigV2 on custom endpoints")
        r = requests.get(url, timeout=30)
        self.assertEqual(r.status_code, 200, r.text[:500])
        self.assertEqual(r.content, b"presigned content")

    def test_expired_presigned_is_access_denied(self):
        v2 = self.server.client(signature_version="s3")
        urls = [self.presign(self.s3, expires=1), self.presign(v2, expires=1)]
        time.sleep(2.5)
        for url in urls:
            with self.subTest(url=url[:60]):
                r = requests.get(url, timeout=30)
                self.assertEqual(r.status_code, 403, r.text[:500])
                self.assertEqual(h.xml_error_code(r.content), "AccessDenied")

    def test_tampered_presigned_signature(self):
        url = self.presign(self.s3)
        u = urllib.parse.urlsplit(url)
        q = urllib.parse.parse_qsl(u.query)
        q = [(k, ("0" if v[0] != "0" else "1") + v[1:]) if k == "X-Amz-Signature" else (k, v)
             for k, v in q]
        bad = urllib.parse.urlunsplit(u._replace(query=urllib.parse.urlencode(q)))
        r = requests.get(bad, timeout=30)
        self.assertEqual(r.status_code, 403)
        self.assertEqual(h.xml_error_code(r.content), "SignatureDoesNotMatch")
        # A presigned GET URL does not authorize a different key.
        other = url.replace("obj%20file.txt", "other.txt")
        self.assertNotEqual(other, url)
        r = requests.get(other, timeout=30)
        self.assertEqual(r.status_code, 403)
        self.assertEqual(h.xml_error_code(r.content), "SignatureDoesNotMatch")

    def test_presigned_expiry_over_a_week_rejected(self):
        url = self.presign(self.s3, expires=7 * 24 * 3600 + 1)
        r = requests.get(url, timeout=30)
        self.assertIn(r.status_code, (400, 403), r.text[:300])
        self.assertIn(h.xml_error_code(r.content),
                      ("AuthorizationQueryParametersError", "AccessDenied"))


class CredentialTests(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = h.unique_bucket("cred")
        cls.s3.create_bucket(Bucket=cls.b)
        cls.s3.put_object(Bucket=cls.b, Key="k", Body=b"secret data")

    def test_unknown_access_key(self):
        bad = self.server.client(access_key="GZUNKNOWNKEY00000000")
        self.assertS3Error("InvalidAccessKeyId", bad.get_object, Bucket=self.b, Key="k",
                           status=403)
        self.assertS3Error("InvalidAccessKeyId", bad.list_buckets, status=403)

    def test_wrong_secret(self):
        bad = self.server.client(secret_key=self.server.secret_key + "x")
        self.assertS3Error("SignatureDoesNotMatch", bad.get_object, Bucket=self.b, Key="k",
                           status=403)
        self.assertS3Error("SignatureDoesNotMatch", bad.put_object, Bucket=self.b, Key="new",
                           Body=b"x", status=403)
        self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b, Key="new")

    def test_wrong_secret_sigv2(self):
        bad = self.server.client(signature_version="s3",
                                 secret_key=self.server.secret_key + "x")
        self.assertS3Error("SignatureDoesNotMatch", bad.get_object, Bucket=self.b, Key="k",
                           status=403)

    def test_sigv2_header_auth_works(self):
        v2 = self.server.client(signature_version="s3")
        v2.put_object(Bucket=self.b, Key="v2 obj", Body=b"signed with v2",
                      Metadata={"m": "1"}, ContentType="text/plain")
        self.assertEqual(v2.get_object(Bucket=self.b, Key="v2 obj")["Body"].read(),
                         b"signed with v2")
        self.assertIn(self.b, [b["Name"] for b in v2.list_buckets()["Buckets"]])

    def test_anonymous_is_access_denied(self):
        for method, path in (("GET", "/"), ("GET", "/%s" % self.b), ("GET", "/%s/k" % self.b),
                             ("PUT", "/%s/anon" % self.b), ("DELETE", "/%s/k" % self.b)):
            with self.subTest(method=method, path=path):
                r = requests.request(method, self.server.endpoint + path, data=b"", timeout=30)
                self.assertEqual(r.status_code, 403, r.text[:300])
                self.assertEqual(h.xml_error_code(r.content), "AccessDenied")
        self.assertEqual(self.get_bytes(self.b, "k"), b"secret data")

    def test_clock_skew(self):
        for offset in (-20 * 60, 20 * 60):
            with self.subTest(offset=offset):
                resp = self.server.request("GET", "/%s/k" % self.b,
                                           amz_date=h.amz_now(offset))
                self.assertRawError(resp, 403, "RequestTimeTooSkewed")
        # Within the 15 minute window is fine.
        resp = self.server.request("GET", "/%s/k" % self.b, amz_date=h.amz_now(-5 * 60))
        self.assertEqual(resp.status, 200, resp.body[:300])
        self.assertEqual(resp.body, b"secret data")

    def test_raw_signed_request_works(self):
        resp = self.server.request("GET", "/%s/k" % self.b)
        self.assertEqual(resp.status, 200, resp.body[:300])
        self.assertEqual(resp.body, b"secret data")
        self.assertEqual(resp.headers.get("etag"), '"%s"' % h.md5_hex(b"secret data"))

    def test_wrong_region_in_scope(self):
        resp = self.server.request("GET", "/%s/k" % self.b, region="eu-west-1")
        self.assertIn(resp.status, (400, 403), resp.body[:300])
        self.assertIn(resp.error_code, ("AuthorizationHeaderMalformed", "SignatureDoesNotMatch"))

    def test_malformed_authorization_header(self):
        data, _ = self.server.signed_request_bytes("GET", "/%s/k" % self.b)
        head, _, _ = data.partition(b"\r\n\r\n")
        lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"authorization")]
        for auth in (b"AWS4-HMAC-SHA256 garbage", b"AWS4-HMAC-SHA256 Credential=abc",
                     b"Bearer token"):
            with self.subTest(auth=auth):
                req = b"\r\n".join(lines + [b"Authorization: " + auth]) + b"\r\n\r\n"
                with self.server.connect() as conn:
                    conn.send(req)
                    resp = conn.read_response("GET")
                self.assertIn(resp.status, (400, 403), resp.body[:300])
                self.assertIn(resp.error_code, ("AuthorizationHeaderMalformed",
                                                "InvalidArgument", "AccessDenied",
                                                "InvalidRequest"), resp.body[:300])
                self.assertNotEqual(resp.body, b"secret data")

    def test_signed_header_changed_after_signing(self):
        data, _ = self.server.signed_request_bytes("GET", "/%s/k" % self.b,
                                                   headers={"Range": "bytes=0-3"})
        data = data.replace(b"Range: bytes=0-3", b"Range: bytes=0-5")
        with self.server.connect() as conn:
            conn.send(data)
            resp = conn.read_response("GET")
        self.assertRawError(resp, 403, "SignatureDoesNotMatch")


class UnsupportedTests(h.ServerTestCase):
    def test_unimplemented_subresources(self):
        b = self.new_bucket()
        self.put(b, "k", b"x")
        for method, path, query in (("GET", "/" + b, [("replication", None)]),
                                    ("GET", "/" + b, [("inventory", None), ("id", "x")]),
                                    ("GET", "/%s/k" % b, [("torrent", None)])):
            with self.subTest(query=query[0][0]):
                resp = self.server.request(method, path, query=query)
                self.assertRawError(resp, 501, "NotImplemented")

    def test_transfer_encoding_chunked_not_implemented_or_ok(self):
        """A plain chunked PUT (no aws-chunked) is either stored correctly or refused with a
        clean S3 error; never silently truncated."""
        b = self.new_bucket()
        body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        data, _ = self.server.signed_request_bytes(
            "PUT", "/%s/te" % b, headers={"Transfer-Encoding": "chunked"}, omit_length=True,
            payload_hash="UNSIGNED-PAYLOAD")
        with self.server.connect() as conn:
            conn.send(data + body)
            resp = conn.read_response("PUT")
        if resp.status == 200:
            self.assertEqual(self.get_bytes(b, "te"), b"hello world")
        else:
            self.assertIn(resp.status, (400, 411, 501), resp.body[:300])
            self.assertIn(resp.error_code, ("NotImplemented", "MissingContentLength",
                                            "InvalidRequest"))
            self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=b, Key="te")


if __name__ == "__main__":
    unittest.main()
