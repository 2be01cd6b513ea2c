"""Self-tests of the fixture layer: the checksums and the hand-rolled SigV4 signer that the raw
tests rely on are checked against published vectors and against botocore, so a failure in a
raw streaming test points at the server, not at the test's own encoder."""

import re
import unittest

import botocore.auth
import botocore.awsrequest
import botocore.credentials

import harness as h

# The AWS documentation's chunked-upload example ("Example: PUT Object", sigv4-streaming).
EX_ACCESS = "AKIAIOSFODNN7EXAMPLE"
EX_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class ChecksumVectors(unittest.TestCase):
    def test_crc_check_values(self):
        self.assertEqual(h.crc64nvme(b"123456789"), 0xAE8B14860A799888)
        self.assertEqual(h.crc32c(b"123456789"), 0xE3069283)
        self.assertEqual(h.checksum_b64("crc32", b"123456789"), "y/Q5Jg==")  # 0xCBF43926

    def test_multipart_etag(self):
        parts = [b"a" * 10, b"b" * 3]
        self.assertRegex(h.multipart_etag(parts), r'^"[0-9a-f]{32}-2"$')

    def test_random_bytes(self):
        self.assertEqual(len(h.random_bytes(100000)), 100000)
        self.assertEqual(h.random_bytes(5000, seed=1), h.random_bytes(5000, seed=1))
        self.assertNotEqual(h.random_bytes(5000, seed=1), h.random_bytes(5000, seed=2))


class SignerVectors(unittest.TestCase):
    def test_aws_streaming_example(self):
        headers = {
            "Host": "s3.amazonaws.com",
            "x-amz-date": "20130524T000000Z",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": "66560",
            "Content-Length": "66824",
        }
        ctx = h.sigv4_sign("PUT", "/examplebucket/chunkObject.txt", [], headers,
                           h.STREAM_SIGNED, EX_ACCESS, EX_SECRET, amz_date="20130524T000000Z")
        self.assertEqual(ctx.seed_signature,
                         "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
        body = h.aws_chunked_body(b"a" * 66560, h.STREAM_SIGNED, ctx, 65536)
        self.assertEqual(len(body), 66824)
        self.assertEqual(re.findall(rb"chunk-signature=([0-9a-f]{64})", body), [
            b"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            b"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            b"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ])

    def test_matches_botocore(self):
        """Our signer and botocore's S3SigV4Auth agree on a request with an odd key, a query
        and extra headers."""
        creds = botocore.credentials.Credentials("AKIDEXAMPLE", "secret/with+chars")
        key = "dir/a b+c%d~e_ü.txt"
        path = "/bucket-1/" + h.uri_encode(key, encode_slash=False)
        query = [("uploadId", "a/b=c"), ("partNumber", "3")]
        url = "http://127.0.0.1:9000" + path + "?" + h.wire_query(query)
        body = b"hello"
        payload = __import__("hashlib").sha256(body).hexdigest()
        req = botocore.awsrequest.AWSRequest(method="PUT", url=url, data=body, headers={
            "Content-Type": "text/plain", "x-amz-meta-x": "  a   b ",
            "x-amz-content-sha256": payload})
        botocore.auth.S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
        theirs = req.headers["Authorization"]
        amz_date = req.headers["X-Amz-Date"]
        mine = {"Host": "127.0.0.1:9000", "Content-Type": "text/plain",
                "x-amz-meta-x": "  a   b "}
        h.sigv4_sign("PUT", path, query, mine, payload, "AKIDEXAMPLE", "secret/with+chars",
                     amz_date=amz_date)
        self.assertEqual(mine["Authorization"], theirs)

    def test_trailer_signature_shape(self):
        ctx = h.SigV4Context(b"k" * 32, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
                             "0" * 64)
        body = h.aws_chunked_body(b"x" * 10, h.STREAM_SIGNED_TRAILER, ctx, 64,
                                  ("x-amz-checksum-crc32", h.checksum_b64("crc32", b"x" * 10)))
        self.assertRegex(body, rb"^a;chunk-signature=[0-9a-f]{64}\r\nxxxxxxxxxx\r\n"
                               rb"0;chunk-signature=[0-9a-f]{64}\r\n"
                               rb"x-amz-checksum-crc32:[A-Za-z0-9+/=]+\r\n"
                               rb"x-amz-trailer-signature:[0-9a-f]{64}\r\n\r\n$")
        unsigned = h.aws_chunked_body(b"x" * 10, h.STREAM_UNSIGNED_TRAILER, None, 64,
                                      ("x-amz-checksum-crc32", "AAAAAA=="))
        self.assertEqual(unsigned, b"a\r\nxxxxxxxxxx\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n")


if __name__ == "__main__":
    unittest.main()
