"""Raw aws-chunked uploads signed by hand (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, ...-TRAILER,
STREAMING-UNSIGNED-PAYLOAD-TRAILER) with every trailing checksum, their failure modes, and
HTTP/1.1 connection behaviour on a raw socket: Expect: 100-continue, keep-alive, pipelining."""

import hashlib
import socket
import unittest

import harness as h

ALGS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
PAYLOAD = h.random_bytes(200 * 1024 + 333, seed="stream")


class StreamingTests(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = h.unique_bucket("stream")
        cls.s3.create_bucket(Bucket=cls.b)

    def assertStored(self, key, data, alg=None):
        got = self.s3.get_object(Bucket=self.b, Key=key, ChecksumMode="ENABLED")
        self.assertEqual(hashlib.sha256(got["Body"].read()).hexdigest(),
                         hashlib.sha256(data).hexdigest(), "stored bytes of %s" % key)
        self.assertEqual(got["ETag"], '"%s"' % h.md5_hex(data))
        if alg:
            self.assertEqual(got.get("Checksum" + alg.upper()), h.checksum_b64(alg, data))

    def assertAbsent(self, key):
        self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b, Key=key)

    def test_signed_payload(self):
        resp = self.server.streaming_put(self.b, "signed", PAYLOAD, h.STREAM_SIGNED)
        self.assertEqual(resp.status, 200, resp.body[:500])
        self.assertEqual(resp.headers.get("etag"), '"%s"' % h.md5_hex(PAYLOAD))
        self.assertStored("signed", PAYLOAD)

    def test_signed_payload_small_and_empty(self):
        for key, data in (("one-chunk", b"tiny"), ("zero", b"")):
            with self.subTest(key=key):
                resp = self.server.streaming_put(self.b, key, data, h.STREAM_SIGNED)
                self.assertEqual(resp.status, 200, resp.body[:500])
                self.assertStored(key, data)

    def test_signed_payload_odd_chunk_sizes(self):
        resp = self.server.streaming_put(self.b, "odd-chunks", PAYLOAD, h.STREAM_SIGNED,
                                         chunk_size=8192 + 7)
        self.assertEqual(resp.status, 200, resp.body[:500])
        self.assertStored("odd-chunks", PAYLOAD)

    def test_signed_trailer_each_checksum(self):
        for alg in ALGS:
            with self.subTest(alg=alg):
                key = "st-" + alg
                resp = self.server.streaming_put(self.b, key, PAYLOAD, h.STREAM_SIGNED_TRAILER,
                                                 checksum_alg=alg)
                self.assertEqual(resp.status, 200, resp.body[:500])
                self.assertEqual(resp.headers.get("x-amz-checksum-" + alg),
                                 h.checksum_b64(alg, PAYLOAD))
                self.assertStored(key, PAYLOAD, alg)

    def test_unsigned_trailer_each_checksum(self):
        for alg in ALGS:
            with self.subTest(alg=alg):
                key = "ut-" + alg
                resp = self.server.streaming_put(self.b, key, PAYLOAD,
                                                 h.STREAM_UNSIGNED_TRAILER, checksum_alg=alg)
                self.assertEqual(resp.status, 200, resp.body[:500])
                self.assertStored(key, PAYLOAD, alg)

    def test_tampered_chunk_is_rejected(self):
        for mode, alg in ((h.STREAM_SIGNED, None), (h.STREAM_SIGNED_TRAILER, "crc32")):
            with self.subTest(mode=mode):
                key = "tampered-" + mode[-7:]
                resp = self.server.streaming_put(self.b, key, PAYLOAD, mode, checksum_alg=alg,
                                                 tamper_chunk=1)
                self.assertRawError(resp, 403, "SignatureDoesNotMatch")
                self.assertAbsent(key)

    def test_tampered_chunk_does_not_replace_existing(self):
        self.put(self.b, "keep", b"old verified value")
        resp = self.server.streaming_put(self.b, "keep", PAYLOAD, h.STREAM_SIGNED,
                                         tamper_chunk=2)
        self.assertRawError(resp, 403, "SignatureDoesNotMatch")
        self.assertEqual(self.get_bytes(self.b, "keep"), b"old verified value")

    def test_bad_trailer_signature(self):
        resp = self.server.streaming_put(self.b, "bad-trailer-sig", PAYLOAD,
                                         h.STREAM_SIGNED_TRAILER, checksum_alg="sha256",
                                         bad_trailer_signature=True)
        self.assertRawError(resp, 403, "SignatureDoesNotMatch")
        self.assertAbsent("bad-trailer-sig")

    def test_wrong_trailer_checksum_is_bad_digest(self):
        for mode in (h.STREAM_SIGNED_TRAILER, h.STREAM_UNSIGNED_TRAILER):
            for alg in ALGS:
                with self.subTest(mode=mode, alg=alg):
                    key = "badsum-%s-%s" % (mode[-20:-8], alg)
                    resp = self.server.streaming_put(self.b, key, PAYLOAD, mode,
                                                     checksum_alg=alg, bad_checksum=True)
                    self.assertRawError(resp, 400, "BadDigest")
                    self.assertAbsent(key)

    def test_decoded_length_mismatch(self):
        resp = self.server.streaming_put(self.b, "short", PAYLOAD, h.STREAM_SIGNED,
                                         decoded_length=len(PAYLOAD) + 10)
        self.assertGreaterEqual(resp.status, 400, resp.body[:300])
        self.assertLess(resp.status, 500, resp.body[:300])
        self.assertAbsent("short")

    def test_streaming_upload_part(self):
        up = self.s3.create_multipart_upload(Bucket=self.b, Key="mp-stream")
        uid = up["UploadId"]
        part = h.random_bytes(5 * h.MiB, seed="sp")
        headers = {"Content-Encoding": "aws-chunked",
                   "x-amz-decoded-content-length": str(len(part))}
        dummy = h.SigV4Context(b"k" * 32, h.amz_now(), "x", "0" * 64)
        headers["Content-Length"] = str(len(h.aws_chunked_body(part, h.STREAM_SIGNED, dummy)))
        query = [("partNumber", "1"), ("uploadId", uid)]
        path = "/%s/mp-stream" % self.b
        hd = {"Host": self.server.host_header()}
        hd.update(headers)
        ctx = h.sigv4_sign("PUT", path, query, hd, h.STREAM_SIGNED, self.server.access_key,
                           self.server.secret_key)
        body = h.aws_chunked_body(part, h.STREAM_SIGNED, ctx)
        with self.server.connect(timeout=60) as conn:
            conn.send(h.build_request("PUT", path + "?" + h.wire_query(query), hd, body))
            resp = conn.read_response("PUT")
        self.assertEqual(resp.status, 200, resp.body[:500])
        self.assertEqual(resp.headers.get("etag"), '"%s"' % h.md5_hex(part))
        self.s3.complete_multipart_upload(Bucket=self.b, Key="mp-stream", UploadId=uid,
                                          MultipartUpload={"Parts": [
                                              {"PartNumber": 1, "ETag": resp.headers["etag"]}]})
        self.assertEqual(self.get_bytes(self.b, "mp-stream"), part)


class ConnectionTests(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = h.unique_bucket("conn")
        cls.s3.create_bucket(Bucket=cls.b)

    def test_expect_100_continue(self):
        body = b"body sent after 100 Continue" * 100
        data, _ = self.server.signed_request_bytes("PUT", "/%s/expect" % self.b, body=body,
                                                   headers={"Expect": "100-continue"})
        head = data[:len(data) - len(body)]
        with self.server.connect(timeout=10) as conn:
            conn.send(head)
            status, _, _ = conn.read_head()
            self.assertEqual(status, 100, "no interim 100 Continue before the body")
            conn.send(body)
            resp = conn.read_response("PUT")
        self.assertEqual(resp.status, 200, resp.body[:300])
        self.assertEqual(self.get_bytes(self.b, "expect"), body)

    def test_expect_100_continue_rejected_early(self):
        """A request that fails authentication may be answered before its body is sent; the
        client then does not have to send the body at all."""
        data, _ = self.server.signed_request_bytes("PUT", "/%s/expect-bad" % self.b,
                                                   body=b"x" * 1000,
                                                   headers={"Expect": "100-continue"},
                                                   secret_key="wrong-secret")
        head = data[:-1000]
        with self.server.connect(timeout=10) as conn:
            conn.send(head)
            status, _, headers = conn.read_head()
            if status == 100:
                conn.send(b"x" * 1000)
                resp = conn.read_response("PUT")
            else:
                n = int(headers.get("content-length", "0"))
                resp = h.RawResponse(status, "", headers, conn._read_exact(n))
        self.assertRawError(resp, 403, "SignatureDoesNotMatch")
        self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b, Key="expect-bad")

    def test_keep_alive_sequential(self):
        with self.server.connect() as conn:
            for i in range(5):
                body = ("keepalive %d" % i).encode()
                data, _ = self.server.signed_request_bytes("PUT", "/%s/ka%d" % (self.b, i),
                                                           body=body)
                conn.send(data)
                resp = conn.read_response("PUT")
                self.assertEqual(resp.status, 200, resp.body[:300])
                data, _ = self.server.signed_request_bytes("GET", "/%s/ka%d" % (self.b, i))
                conn.send(data)
                resp = conn.read_response("GET")
                self.assertEqual(resp.status, 200)
                self.assertEqual(resp.body, body)

    def test_pipelined_requests(self):
        reqs = []
        put_body = b"pipelined body"
        reqs.append(("PUT", self.server.signed_request_bytes("PUT", "/%s/pipe" % self.b,
                                                             body=put_body)[0]))
        reqs.append(("GET", self.server.signed_request_bytes("GET", "/%s/pipe" % self.b)[0]))
        reqs.append(("HEAD", self.server.signed_request_bytes("HEAD", "/%s/pipe" % self.b)[0]))
        reqs.append(("GET", self.server.signed_request_bytes("GET", "/%s/missing" % self.b)[0]))
        reqs.append(("GET", self.server.signed_request_bytes(
            "GET", "/%s/pipe" % self.b, headers={"Range": "bytes=0-3"})[0]))
        reqs.append(("DELETE", self.server.signed_request_bytes("DELETE",
                                                                "/%s/pipe" % self.b)[0]))
        with self.server.connect() as conn:
            conn.send(b"".join(r for _, r in reqs))
            resps = [conn.read_response(m) for m, _ in reqs]
        self.assertEqual([r.status for r in resps], [200, 200, 200, 404, 206, 204])
        self.assertEqual(resps[1].body, put_body)
        self.assertEqual(resps[2].headers.get("content-length"), str(len(put_body)))
        self.assertEqual(resps[2].body, b"")
        self.assertEqual(resps[3].error_code, "NoSuchKey")
        self.assertEqual(resps[4].body, b"pipe")

    def test_connection_close_honoured(self):
        data, _ = self.server.signed_request_bytes("GET", "/%s" % self.b,
                                                   headers={"Connection": "close"})
        with self.server.connect() as conn:
            conn.send(data)
            resp = conn.read_response("GET")
            self.assertEqual(resp.status, 200)
            conn.sock.settimeout(5)
            try:
                rest = conn.sock.recv(1)
            except socket.timeout:
                self.fail("server kept the connection open after Connection: close")
            self.assertEqual(rest, b"")

    def test_garbage_request_gets_400_and_server_survives(self):
        with self.server.connect(timeout=10) as conn:
            conn.send(b"THIS IS NOT HTTP\r\n\r\n")
            try:
                status, _, _ = conn.read_head()
                self.assertEqual(status, 400)
            except (ConnectionError, ValueError):
                pass  # closing the connection is also acceptable
        self.assertEqual(self.s3.head_bucket(Bucket=self.b)["ResponseMetadata"]
                         ["HTTPStatusCode"], 200)

    def test_huge_header_rejected_and_server_survives(self):
        data, _ = self.server.signed_request_bytes("GET", "/%s" % self.b,
                                                   headers={"x-amz-meta-big": "v" * 200000})
        with self.server.connect(timeout=10) as conn:
            try:
                conn.send(data)
                status, _, _ = conn.read_head()
                self.assertGreaterEqual(status, 400)
                self.assertLess(status, 500)
            except (ConnectionError, ValueError, BrokenPipeError, ConnectionResetError):
                pass
        self.assertEqual(self.s3.head_bucket(Bucket=self.b)["ResponseMetadata"]
                         ["HTTPStatusCode"], 200)


if __name__ == "__main__":
    unittest.main()
