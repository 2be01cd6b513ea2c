"""Large single-stream PUTs whose digests run on the hasher pool (payload.c, util/hashpipe.c):
bodies past 1 MiB are MD5/SHA-256/checksum-hashed on another core while the loop thread writes
the file. Every verification must behave exactly as when hashing inline: ETags, BadDigest,
XAmzContentSHA256Mismatch, declared checksums, aws-chunked, UploadPart; and the pipeline must
survive clients that vanish mid-body, many uploads at once (more than the pool's ring budget)
and SIGTERM during an upload. Under the ASan build the class fails on any leak or report."""

import base64
import concurrent.futures
import hashlib
import socket
import threading
import time
import unittest

import harness as h

MiB = h.MiB
BIG = h.random_bytes(64 * MiB, seed="put-stream-64")
MID = BIG[:9 * MiB + 12345]  # not a multiple of the ring's 1 MiB blocks


def b64md5(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


class PutStreamTests(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = h.unique_bucket("pstream")
        cls.s3.create_bucket(Bucket=cls.b)

    def assertStored(self, key, data):
        got = self.s3.get_object(Bucket=self.b, Key=key)
        body = got["Body"].read()
        self.assertEqual(len(body), len(data), key)
        self.assertTrue(body == data, "stored bytes of %s differ" % key)
        self.assertEqual(got["ETag"], '"%s"' % h.md5_hex(data))

    def raw_put(self, key, body, headers=None, payload_hash=None):
        return self.server.request("PUT", "/%s/%s" % (self.b, key), headers=headers or {},
                                   body=body, payload_hash=payload_hash)

    def test_64mib_etag_is_md5(self):
        resp = self.s3.put_object(Bucket=self.b, Key="big64", Body=BIG)
        self.assertEqual(resp["ETag"], '"%s"' % h.md5_hex(BIG))
        self.assertStored("big64", BIG)

    def test_literal_sha256_and_content_md5(self):
        resp = self.raw_put("lit", MID, headers={"Content-MD5": b64md5(MID)})
        self.assertEqual(resp.status, 200, resp.body[:300])
        self.assertEqual(resp.headers.get("etag"), '"%s"' % h.md5_hex(MID))
        self.assertStored("lit", MID)

    def test_unsigned_payload(self):
        resp = self.raw_put("unsigned", MID, payload_hash="UNSIGNED-PAYLOAD",
                            headers={"Content-MD5": b64md5(MID)})
        self.assertEqual(resp.status, 200, resp.body[:300])
        self.assertStored("unsigned", MID)

    def test_unknown_length_body(self):
        # Transfer-Encoding: chunked: hashed inline until the body passes 1 MiB, then offloaded
        body = bytearray()
        for i in range(0, len(MID), 300 * 1024):
            piece = MID[i:i + 300 * 1024]
            body += b"%x\r\n" % len(piece) + piece + b"\r\n"
        body += b"0\r\n\r\n"
        for key, md5 in (("te-good", b64md5(MID)), ("te-bad", b64md5(MID[1:]))):
            data, _ = self.server.signed_request_bytes(
                "PUT", "/%s/%s" % (self.b, key), payload_hash="UNSIGNED-PAYLOAD",
                headers={"Transfer-Encoding": "chunked", "Content-MD5": md5}, omit_length=True)
            with self.server.connect() as conn:
                conn.send(data + bytes(body))
                resp = conn.read_response("PUT")
            if key == "te-good":
                self.assertEqual(resp.status, 200, resp.body[:300])
                self.assertStored(key, MID)
            else:
                self.assertEqual(resp.error_code, "BadDigest", resp.body[:300])

    def test_declared_checksums(self):
        for alg in ("sha256", "crc32c", "sha1", "crc64nvme"):
            with self.subTest(alg=alg):
                key = "ck-" + alg
                hdr = {"x-amz-checksum-" + alg: h.checksum_b64(alg, MID)}
                resp = self.raw_put(key, MID, headers=hdr)
                self.assertEqual(resp.status, 200, resp.body[:300])
                self.assertEqual(resp.headers.get("x-amz-checksum-" + alg), hdr[
                    "x-amz-checksum-" + alg])
                hdr = {"x-amz-checksum-" + alg: h.checksum_b64(alg, MID + b"x")}
                resp = self.raw_put(key + "-bad", MID, headers=hdr)
                self.assertEqual((resp.status, resp.error_code), (400, "BadDigest"))
                self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b,
                                   Key=key + "-bad")

    def test_wrong_content_md5_keeps_old_object(self):
        self.s3.put_object(Bucket=self.b, Key="keep-md5", Body=b"old object")
        resp = self.raw_put("keep-md5", MID, headers={"Content-MD5": b64md5(MID + b"!")})
        self.assertEqual((resp.status, resp.error_code), (400, "BadDigest"), resp.body[:300])
        self.assertEqual(self.get_bytes(self.b, "keep-md5"), b"old object")
        resp = self.raw_put("new-md5", MID, headers={"Content-MD5": b64md5(b"other")})
        self.assertEqual(resp.error_code, "BadDigest")
        self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b, Key="new-md5")

    def test_wrong_content_sha256_keeps_old_object(self):
        self.s3.put_object(Bucket=self.b, Key="keep-sha", Body=b"old object")
        resp = self.raw_put("keep-sha", MID, payload_hash=hashlib.sha256(MID[:-1]).hexdigest())
        self.assertEqual((resp.status, resp.error_code), (400, "XAmzContentSHA256Mismatch"),
                         resp.body[:300])
        self.assertEqual(self.get_bytes(self.b, "keep-sha"), b"old object")

    def test_aws_chunked_large(self):
        resp = self.server.streaming_put(self.b, "chunked", MID, h.STREAM_SIGNED_TRAILER,
                                         checksum_alg="crc32c", chunk_size=1 * MiB + 7)
        self.assertEqual(resp.status, 200, resp.body[:300])
        self.assertEqual(resp.headers.get("etag"), '"%s"' % h.md5_hex(MID))
        self.assertStored("chunked", MID)
        resp = self.server.streaming_put(self.b, "chunked-u", MID, h.STREAM_UNSIGNED_TRAILER,
                                         checksum_alg="sha256", chunk_size=256 * 1024)
        self.assertEqual(resp.status, 200, resp.body[:300])
        self.assertStored("chunked-u", MID)
        resp = self.server.streaming_put(self.b, "chunked-bad", MID, h.STREAM_SIGNED_TRAILER,
                                         checksum_alg="crc32", bad_checksum=True)
        self.assertEqual((resp.status, resp.error_code), (400, "BadDigest"), resp.body[:300])
        self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b, Key="chunked-bad")

    def tampered_put(self, key, data, tamper):
        """An aws-chunked PUT with chunk tamper corrupted; the server answers before the body
        ends, so the body is sent from a thread while this one reads the answer."""
        mode, chunk = h.STREAM_SIGNED, 512 * 1024
        dummy = h.SigV4Context(b"k" * 32, h.amz_now(), "x", "0" * 64)
        hdrs = {"Host": self.server.host_header(), "Content-Encoding": "aws-chunked",
                "x-amz-decoded-content-length": str(len(data)),
                "Content-Length": str(len(h.aws_chunked_body(data, mode, dummy, chunk)))}
        path = h.uri_encode("/%s/%s" % (self.b, key), encode_slash=False)
        ctx = h.sigv4_sign("PUT", path, [], hdrs, mode, self.server.access_key,
                           self.server.secret_key)
        body = h.aws_chunked_body(data, mode, ctx, chunk, tamper_chunk=tamper)
        with self.server.connect(timeout=60) as conn:
            def send():
                try:
                    conn.send(h.build_request("PUT", path, hdrs, body))
                except OSError:
                    pass  # the server stopped reading after its answer
            t = threading.Thread(target=send)
            t.start()
            try:
                return conn.read_response("PUT")
            finally:
                t.join()

    def test_bad_chunk_signature_mid_body(self):
        # the error comes while blocks are in the hasher's ring: it must be cancelled and the
        # reply must wait for it; the old object stays and the server goes on serving
        self.s3.put_object(Bucket=self.b, Key="tampered", Body=b"old object")
        for tamper in (3, 9, 16):
            resp = self.tampered_put("tampered", MID, tamper)
            self.assertEqual((resp.status, resp.error_code), (403, "SignatureDoesNotMatch"),
                             resp.body[:300])
        self.assertEqual(self.get_bytes(self.b, "tampered"), b"old object")
        resp = self.server.streaming_put(self.b, "tampered", MID, h.STREAM_SIGNED,
                                         chunk_size=512 * 1024)
        self.assertEqual(resp.status, 200, resp.body[:300])
        self.assertStored("tampered", MID)

    def test_upload_part_large(self):
        up = self.s3.create_multipart_upload(Bucket=self.b, Key="mpu")["UploadId"]
        part1, part2 = BIG[:6 * MiB], BIG[6 * MiB:8 * MiB + 99]
        q = [("partNumber", "1"), ("uploadId", up)]
        resp = self.server.request("PUT", "/%s/mpu" % self.b, query=q, body=part1,
                                   headers={"Content-MD5": b64md5(part1 + b"x")})
        self.assertEqual((resp.status, resp.error_code), (400, "BadDigest"), resp.body[:300])
        e1 = self.s3.upload_part(Bucket=self.b, Key="mpu", UploadId=up, PartNumber=1,
                                 Body=part1, ContentMD5=b64md5(part1))["ETag"]
        e2 = self.s3.upload_part(Bucket=self.b, Key="mpu", UploadId=up, PartNumber=2,
                                 Body=part2)["ETag"]
        self.assertEqual((e1, e2), ('"%s"' % h.md5_hex(part1), '"%s"' % h.md5_hex(part2)))
        self.s3.complete_multipart_upload(
            Bucket=self.b, Key="mpu", UploadId=up,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                       {"PartNumber": 2, "ETag": e2}]})
        self.assertEqual(self.get_bytes(self.b, "mpu"), part1 + part2)

    def test_small_puts_unchanged(self):
        for n in (0, 1, 4096, MiB - 1, MiB, MiB + 1):
            with self.subTest(n=n):
                data = MID[:n]
                resp = self.raw_put("small-%d" % n, data, headers={"Content-MD5": b64md5(data)})
                self.assertEqual(resp.status, 200, resp.body[:300])
                self.assertStored("small-%d" % n, data)
                bad = self.raw_put("small-bad-%d" % n, data,
                                   headers={"Content-MD5": b64md5(data + b"x")})
                self.assertEqual(bad.error_code, "BadDigest")

    def _abandon(self, key, declared, sent, rst):
        data, _ = self.server.signed_request_bytes(
            "PUT", "/%s/%s" % (self.b, key), headers={"Content-Length": str(declared)},
            payload_hash="UNSIGNED-PAYLOAD", omit_length=True)
        s = socket.create_connection((self.server.host, self.server.port))
        try:
            s.sendall(data)
            s.sendall(BIG[:sent])
        finally:
            if rst:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            s.close()

    def test_client_vanishes_mid_body(self):
        self.s3.put_object(Bucket=self.b, Key="gone", Body=b"before")
        for i, (sent, rst) in enumerate(((20 * MiB, True), (5 * MiB + 3, False),
                                         (2 * MiB, True), (64 * MiB - 1, False))):
            self._abandon("gone", 64 * MiB, sent, rst)
            self._abandon("gone-new-%d" % i, 64 * MiB, sent, rst)
        time.sleep(0.5)
        self.assertEqual(self.get_bytes(self.b, "gone"), b"before")
        for i in range(4):
            self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b,
                               Key="gone-new-%d" % i)
        # still serving large bodies afterwards (the pool's budget came back)
        resp = self.raw_put("after-gone", MID)
        self.assertEqual(resp.status, 200, resp.body[:300])
        self.assertStored("after-gone", MID)

    def test_many_at_once(self):
        # 12 x 9 MiB: more pipes than the pool's ring budget (4 x 2 MiB; the rest hash inline)
        def one(i):
            data = BIG[i * MiB:i * MiB + len(MID)]
            client = self.server.client()
            etag = client.put_object(Bucket=self.b, Key="many-%d" % i, Body=data)["ETag"]
            return etag == '"%s"' % h.md5_hex(data)
        with concurrent.futures.ThreadPoolExecutor(12) as ex:
            results = list(ex.map(one, range(12)))
        self.assertEqual(results, [True] * 12)
        for i in (0, 11):
            self.assertStored("many-%d" % i, BIG[i * MiB:i * MiB + len(MID)])


class PutStreamShutdownTests(unittest.TestCase):
    """SIGTERM while large bodies stream in: the drain cuts them off and the exit is clean.
    Also: the hasher pool starts with the first large body, never for small ones."""

    def test_pool_only_for_large_bodies(self):
        if h.external_endpoint():
            self.skipTest("needs the real gzy")
        server = h.GzyServer().start()
        try:
            def threads():
                import os
                return len(os.listdir("/proc/%d/task" % server.proc.pid))
            s3 = server.client()
            s3.create_bucket(Bucket="pool")
            s3.put_object(Bucket="pool", Key="warm", Body=b"x")
            before = threads()
            for i in range(20):
                s3.put_object(Bucket="pool", Key="small%d" % i, Body=MID[:4096 * (i + 1)])
            self.assertEqual(threads(), before, "small PUTs started threads")
            s3.put_object(Bucket="pool", Key="large", Body=MID[:2 * MiB])
            self.assertGreater(threads(), before, "a 2 MiB PUT did not start the hasher pool")
            self.assertEqual(s3.get_object(Bucket="pool", Key="large")["Body"].read(),
                             MID[:2 * MiB])
        finally:
            server.close()

    def test_sigterm_during_large_put(self):
        if h.external_endpoint():
            self.skipTest("needs the real gzy")
        server = h.GzyServer(extra_args=["--drain-ms", "1500"]).start()
        socks = []
        try:
            s3 = server.client()
            s3.create_bucket(Bucket="drain")
            for i, sent in enumerate((12 * MiB, 3 * MiB)):
                data, _ = server.signed_request_bytes(
                    "PUT", "/drain/k%d" % i, headers={"Content-Length": str(64 * MiB)},
                    payload_hash="UNSIGNED-PAYLOAD", omit_length=True)
                s = socket.create_connection((server.host, server.port))
                s.sendall(data)
                s.sendall(BIG[:sent])
                socks.append(s)
            time.sleep(0.3)
            t0 = time.monotonic()
            server.stop()  # SIGTERM; a hang or a non-zero exit is recorded as a problem
            self.assertLess(time.monotonic() - t0, 8.0)
            self.assertEqual(server.problems, [])
        finally:
            for s in socks:
                s.close()
            server.close()  # raises on a sanitizer report or a stop problem


if __name__ == "__main__":
    unittest.main()
