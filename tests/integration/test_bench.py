"""`gzy bench` against a live server: every operation (put, get, head, list, delete,
multipart-put, mixed) runs for about a second with zero errors and ops > 0, --json parses, and
errors are counted and shown by S3 code (GETs of missing keys -> NoSuchKey) and by connect
failure, never hidden."""

import json
import os
import subprocess
import unittest

import harness as h

TIMEOUT_S = 120


class BenchTests(h.ServerTestCase):
    def bench(self, *args, check_clean=True):
        binary = os.environ.get("GZY_BIN", "build/gzy")
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.server.access_key,
                   AWS_SECRET_ACCESS_KEY=self.server.secret_key)
        proc = subprocess.run([binary, "bench", "--endpoint", self.server.endpoint, *args],
                              env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, proc.stderr)
        return proc

    def bench_json(self, *args):
        proc = self.bench(*args, "--json")
        self.assertEqual(proc.returncode, 0, proc.stderr + proc.stdout)
        return json.loads(proc.stdout)

    def assertClean(self, rep, op):
        self.assertGreater(rep["total"]["ops"], 0, rep)
        self.assertEqual(rep["total"]["errors"], 0, rep)
        self.assertEqual(rep["errors"], {}, rep)
        self.assertEqual(rep["operation"], op)
        lat = rep["total"]["latency_ms"]
        self.assertTrue(0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"],
                        lat)

    def test_operations(self):
        bucket = self.new_bucket(create=False)   # bench creates it
        common = ["--bucket", bucket, "--duration", "1s", "--concurrency", "4",
                  "--objects", "20"]
        for op, extra in (("put", ["--size", "1KiB-16KiB"]),
                          ("get", []), ("head", []), ("list", []), ("delete", []),
                          ("multipart-put", ["--size", "6MiB", "--part-size", "5MiB",
                                             "--count", "2"]),
                          ("put", ["--size", "4KiB", "--payload-hash", "sha256",
                                   "--prefix", "sha/"])):
            with self.subTest(op=op):
                rep = self.bench_json(op, *common, *extra)
                self.assertClean(rep, op)
                if op in ("put", "multipart-put", "get"):
                    self.assertGreater(rep["total"]["mb_per_s"], 0)
        rep = self.bench_json("mixed", "--mix", "get=70,put=20,delete=10", "--prefix", "mix/",
                              *common)
        self.assertClean(rep, "mixed")
        self.assertGreater(rep["by_op"]["get"]["ops"], rep["by_op"]["delete"]["ops"])
        # the objects exist and are readable with another client
        keys = self.s3.list_objects_v2(Bucket=bucket, Prefix="sha/")["Contents"]
        self.assertGreater(len(keys), 0)
        self.assertEqual(len(self.get_bytes(bucket, keys[0]["Key"])), 4096)

    def test_text_report(self):
        proc = self.bench("get", "--bucket", self.new_bucket(), "--count", "200",
                          "--objects", "5")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("ops/s", proc.stdout)
        self.assertIn("p999", proc.stdout)
        self.assertNotIn("errors by code", proc.stdout)

    def test_errors_counted_by_code(self):
        bucket = self.new_bucket()
        rep = json.loads(self.bench("get", "--bucket", bucket, "--no-prepare", "--count", "50",
                                    "--concurrency", "4", "--json").stdout)
        self.assertEqual(rep["total"]["ops"], 0)
        self.assertEqual(rep["errors"], {"NoSuchKey": 50})
        self.assertEqual(rep["by_op"]["get"]["errors"], 50)
        proc = self.bench("head", "--bucket", bucket, "--no-prepare", "--count", "10",
                          "--concurrency", "2")
        self.assertEqual(proc.returncode, 3)   # nothing succeeded
        self.assertIn("errors by code", proc.stdout)
        self.assertIn("HTTP 404", proc.stdout)  # HEAD has no body: counted by status
        if h.external_endpoint():
            return   # other servers may not check signatures
        # a wrong secret stops at bucket creation, naming the S3 error
        proc = self.bench("put", "--bucket", bucket, "--count", "1", "--secret-key", "wrong")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("SignatureDoesNotMatch", proc.stderr)

    def test_bad_options(self):
        for args in (["frobnicate"], ["put", "--size", "abc"], ["--mix", "get=x"],
                     ["put", "--duration", "3d"]):
            with self.subTest(args=args):
                self.assertEqual(self.bench(*args).returncode, 2)


if __name__ == "__main__":
    unittest.main()
