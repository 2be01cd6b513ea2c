"""`gzy bench` transport and signing modes against a live gzy: https endpoints (a test CA made
with openssl; a wrong CA fails setup naming the certificate problem; --insecure says so),
virtual-hosted addressing (Host: bucket.localhost, connecting to the endpoint's address), and
aws-chunked uploads (--payload-hash streaming with chained chunk signatures,
streaming-unsigned-trailer with a CRC32C trailer) for put and multipart-put. Every run must
report N successful operations and no errors, and the objects must then exist with the right
sizes and the bench's exact bytes (read back with boto3)."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import harness as h
from test_tls import make_ca, openssl

TIMEOUT_S = 180
VBUCKET = "bench-vhost"   # the name is in the test certificate (no wildcard for *.localhost)


def make_leaf(d, name, dns_names):
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,%s\nextendedKeyUsage=serverAuth\n"
                "basicConstraints=CA:FALSE\n" % ",".join("DNS:" + n for n in dns_names))
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=gzy bench", cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext",
            cwd=d)


def bench_bytes(n, part_size=None):
    """What gzy bench uploads as an object of n bytes: the first n bytes of its shared body
    (xorshift64* words from seed 0x1234567, little endian; the tests keep the largest size a
    multiple of 8), or for multipart-put, each part the first bytes of that body."""
    if part_size and n > part_size:
        return b"".join(bench_bytes(min(part_size, n - off)) for off in range(0, n, part_size))
    mask = (1 << 64) - 1
    x, out = 0x1234567, bytearray()
    for _ in range((n + 7) // 8):
        x ^= x >> 12
        x ^= (x << 25) & mask
        x ^= x >> 27
        out += ((x * 0x2545F4914F6CDD1D) & mask).to_bytes(8, "little")
    return bytes(out[:n])


class BenchModeMixin:
    server = None

    def bench(self, endpoint, *args, secret=None, env_extra=None):
        binary = os.environ.get("GZY_BIN", "build/gzy")
        env = {k: v for k, v in os.environ.items()
               if k not in ("GZY_CA_BUNDLE", "AWS_CA_BUNDLE")}
        env.update(AWS_ACCESS_KEY_ID=self.server.access_key,
                   AWS_SECRET_ACCESS_KEY=secret or self.server.secret_key)
        env.update(env_extra or {})
        proc = subprocess.run([binary, "bench", "--endpoint", endpoint, *args], env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, proc.stderr)
        return proc

    def bench_json(self, endpoint, *args, **kw):
        proc = self.bench(endpoint, *args, "--json", **kw)
        self.assertEqual(proc.returncode, 0, proc.stderr + proc.stdout)
        return json.loads(proc.stdout)

    def assertClean(self, rep, ops=None):
        self.assertEqual(rep["errors"], {}, rep)
        self.assertEqual(rep["total"]["errors"], 0, rep)
        if ops is None:
            self.assertGreater(rep["total"]["ops"], 0, rep)
        else:
            self.assertEqual(rep["total"]["ops"], ops, rep)

    def assertObjects(self, s3, bucket, prefix, count, sizes=None, checksum=False,
                      part_size=None):
        """count objects under prefix, each with the bench's bytes of its size."""
        objs = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        self.assertEqual(len(objs), count, objs)
        seen = set()
        for o in objs:
            if sizes is not None:
                self.assertIn(o["Size"], sizes, o)
            seen.add(o["Size"])
        for o in sorted(objs, key=lambda o: o["Size"])[:3] + objs[-1:]:
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            self.assertEqual(len(body), o["Size"])
            self.assertTrue(body == bench_bytes(o["Size"], part_size), o["Key"])
            if checksum:
                head = s3.head_object(Bucket=bucket, Key=o["Key"], ChecksumMode="ENABLED")
                self.assertEqual(head.get("ChecksumCRC32C"), h.checksum_b64("crc32c", body))
        return seen


@h.requires_gzy()
class BenchTlsTests(BenchModeMixin, unittest.TestCase):
    """https endpoints (and virtual-hosted addressing over them)."""

    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="gzy-bench-tls-")
        make_ca(cls.pki)
        make_leaf(cls.pki, "srv", ["localhost", VBUCKET + ".localhost"])
        cls.ca = os.path.join(cls.pki, "ca.pem")
        other = os.path.join(cls.pki, "other")
        os.makedirs(other)
        make_ca(other)
        cls.other_ca = os.path.join(other, "ca.pem")
        cls.server = h.GzyServer(domain="localhost", extra_args=[
            "--tls-cert", os.path.join(cls.pki, "srv.pem"),
            "--tls-key", os.path.join(cls.pki, "srv.key")])
        cls.server.ca_bundle = cls.ca
        try:
            cls.server.start()
        except BaseException:
            cls.server.close()
            shutil.rmtree(cls.pki, ignore_errors=True)
            raise
        cls.s3 = cls.server.client()
        cls.https = "https://localhost:%d" % cls.server.port

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.close()
        finally:
            shutil.rmtree(cls.pki, ignore_errors=True)

    def test_put_get_over_tls(self):
        bucket = h.unique_bucket("btls")
        rep = self.bench_json(self.https, "put", "--bucket", bucket, "--ca-bundle", self.ca,
                              "--size", "1KiB-300KiB", "--count", "60", "--concurrency", "4",
                              "--prefix", "p/")
        self.assertClean(rep, 60)
        self.assertTrue(rep["tls"])
        self.assertFalse(rep["insecure"])
        self.assertObjects(self.s3, bucket, "p/", 60)
        # GETs of prepared objects: bytes received over TLS are counted
        rep = self.bench_json(self.https, "get", "--bucket", bucket, "--size", "64KiB",
                              "--count", "200", "--objects", "10", "--prefix", "g/",
                              env_extra={"GZY_CA_BUNDLE": self.ca})
        self.assertClean(rep, 200)
        self.assertEqual(rep["total"]["bytes"], 200 * 65536)
        # by IP address: the certificate has IP:127.0.0.1 (no SNI for an address)
        rep = self.bench_json("https://127.0.0.1:%d" % self.server.port, "head", "--bucket",
                              bucket, "--count", "50", "--objects", "5", "--prefix", "g/",
                              env_extra={"AWS_CA_BUNDLE": self.ca})
        self.assertClean(rep, 50)
        # --raw-url over https: unsigned GETs of a private object, each refused by S3 code
        proc = self.bench(self.https, "--raw-url", "%s/%s/g/obj-00000000" % (self.https, bucket),
                          "--count", "20", "--json", "--ca-bundle", self.ca)
        rep = json.loads(proc.stdout)
        self.assertEqual(rep["total"]["ops"], 0, rep)
        self.assertEqual(list(rep["errors"].values()), [20], rep)
        self.assertNotIn("TLS", json.dumps(rep["errors"]))

    def test_multipart_and_streaming_over_tls(self):
        bucket = h.unique_bucket("btlsm")
        rep = self.bench_json(self.https, "multipart-put", "--bucket", bucket,
                              "--ca-bundle", self.ca, "--size", "6MiB", "--part-size", "5MiB",
                              "--count", "2", "--payload-hash", "streaming")
        self.assertClean(rep, 2)
        self.assertObjects(self.s3, bucket, "bench/", 2, sizes={6 << 20},
                           part_size=5 << 20)

    def test_wrong_ca_fails_setup(self):
        for env_extra, args in (({}, ["--ca-bundle", self.other_ca]),
                                ({"GZY_CA_BUNDLE": self.other_ca}, [])):
            proc = self.bench(self.https, "put", "--bucket", h.unique_bucket("bca"),
                              "--count", "5", *args, env_extra=env_extra)
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            self.assertIn("TLS handshake with localhost failed", proc.stderr)
            self.assertIn("certificate verify failed", proc.stderr)
            self.assertIn("unable to get local issuer certificate", proc.stderr)
        # a name the certificate does not carry
        proc = self.bench(self.https, "put", "--bucket", "not-in-cert", "--addressing",
                          "virtual", "--count", "1", "--ca-bundle", self.ca)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("not-in-cert.localhost", proc.stderr)
        self.assertIn("hostname mismatch", proc.stderr)
        # a missing bundle is a setup error too
        proc = self.bench(self.https, "put", "--count", "1", "--ca-bundle",
                          os.path.join(self.pki, "missing.pem"))
        self.assertEqual(proc.returncode, 1)
        self.assertIn("cannot load the CA bundle", proc.stderr)

    def test_insecure(self):
        bucket = h.unique_bucket("bins")
        proc = self.bench(self.https, "put", "--bucket", bucket, "--count", "10",
                          "--ca-bundle", self.other_ca, "--insecure")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("INSECURE", proc.stdout)
        self.assertRegex(proc.stdout, r"total\s+10 ops")
        self.assertObjects(self.s3, bucket, "bench/", 10, sizes={4096})

    def test_virtual_over_tls(self):
        rep = self.bench_json(self.https, "put", "--bucket", VBUCKET, "--addressing", "virtual",
                              "--ca-bundle", self.ca, "--count", "30", "--size", "5000",
                              "--prefix", "v/", "--payload-hash", "streaming-unsigned-trailer")
        self.assertClean(rep, 30)
        self.assertEqual(rep["addressing"], "virtual")
        self.assertObjects(self.s3, VBUCKET, "v/", 30, sizes={5000}, checksum=True)
        rep = self.bench_json(self.https, "list", "--bucket", VBUCKET, "--addressing",
                              "virtual", "--ca-bundle", self.ca, "--count", "20",
                              "--objects", "5", "--prefix", "vl/")
        self.assertClean(rep, 20)


@h.requires_gzy()
class BenchStreamingTests(BenchModeMixin, unittest.TestCase):
    """aws-chunked uploads and virtual-hosted addressing over plain http."""

    @classmethod
    def setUpClass(cls):
        cls.server = h.GzyServer(domain="localhost")
        try:
            cls.server.start()
        except BaseException:
            cls.server.close()
            raise
        cls.s3 = cls.server.client()
        cls.http = "http://localhost:%d" % cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_streaming_signed_put(self):
        bucket = h.unique_bucket("bstr")
        # 1 KiB .. 300 KiB: one partial chunk up to four full chunks and a tail
        rep = self.bench_json(self.http, "put", "--bucket", bucket, "--payload-hash",
                              "streaming", "--size", "1KiB-300KiB", "--count", "80",
                              "--concurrency", "4", "--prefix", "s/")
        self.assertClean(rep, 80)
        self.assertEqual(rep["payload_hash"], "streaming")
        sizes = self.assertObjects(self.s3, bucket, "s/", 80)
        self.assertTrue(any(s > 65536 for s in sizes), sizes)
        # exact multiples of the chunk size (no tail), and a small chunk size
        for size, chunk in (("128KiB", "64KiB"), ("100000", "8KiB")):
            prefix = "m%s/" % size
            rep = self.bench_json(self.http, "put", "--bucket", bucket, "--payload-hash",
                                  "streaming", "--size", size, "--chunk-size", chunk,
                                  "--count", "10", "--prefix", prefix)
            self.assertClean(rep, 10)
            self.assertObjects(self.s3, bucket, prefix, 10)

    def test_streaming_multipart(self):
        bucket = h.unique_bucket("bstrm")
        for mode in ("streaming", "streaming-unsigned-trailer"):
            prefix = mode + "/"
            rep = self.bench_json(self.http, "multipart-put", "--bucket", bucket,
                                  "--payload-hash", mode, "--size", "7MiB", "--part-size",
                                  "5MiB", "--count", "2", "--prefix", prefix)
            self.assertClean(rep, 2)
            self.assertObjects(self.s3, bucket, prefix, 2, sizes={7 << 20},
                               part_size=5 << 20)

    def test_unsigned_trailer_put(self):
        bucket = h.unique_bucket("btrl")
        rep = self.bench_json(self.http, "put", "--bucket", bucket, "--payload-hash",
                              "streaming-unsigned-trailer", "--size", "1-200KiB",
                              "--count", "50", "--concurrency", "3", "--prefix", "t/")
        self.assertClean(rep, 50)
        self.assertObjects(self.s3, bucket, "t/", 50, checksum=True)

    def test_virtual_http(self):
        bucket = h.unique_bucket("bvh")
        rep = self.bench_json(self.http, "put", "--bucket", bucket, "--addressing", "virtual",
                              "--count", "20", "--payload-hash", "streaming", "--prefix", "v/")
        self.assertClean(rep, 20)
        self.assertObjects(self.s3, bucket, "v/", 20, sizes={4096})
        for op in ("get", "head", "delete"):
            rep = self.bench_json(self.http, op, "--bucket", bucket, "--addressing", "virtual",
                                  "--count", "10", "--objects", "10", "--prefix", "o/")
            self.assertClean(rep, 10)
        # an IP address cannot carry the bucket
        proc = self.bench("http://127.0.0.1:%d" % self.server.port, "put", "--addressing",
                          "virtual", "--count", "1")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("needs a host name", proc.stderr)

    def test_wrong_secret_streaming(self):
        bucket = h.unique_bucket("bsec")
        self.s3.create_bucket(Bucket=bucket)
        rep = json.loads(self.bench(self.http, "put", "--bucket", bucket, "--no-create-bucket",
                                    "--payload-hash", "streaming", "--count", "12",
                                    "--concurrency", "3", "--size", "100KiB", "--json",
                                    secret="wrong-secret").stdout)
        self.assertEqual(rep["total"]["ops"], 0, rep)
        self.assertEqual(rep["errors"], {"SignatureDoesNotMatch": 12}, rep)
        self.assertEqual(self.s3.list_objects_v2(Bucket=bucket).get("KeyCount"), 0)

    def test_bad_options(self):
        for args in (["put", "--payload-hash", "streamed"], ["put", "--addressing", "vhost"],
                     ["put", "--chunk-size", "1KiB"], ["put", "--chunk-size", "17MiB"],
                     ["put", "--payload-hash", "streaming", "--no-sign"]):
            with self.subTest(args=args):
                self.assertEqual(self.bench(self.http, *args).returncode, 2)
        proc = self.bench("ftp://localhost:1", "put", "--count", "1")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("http:// or https://", proc.stderr)


if __name__ == "__main__":
    unittest.main()
