"""A smoke subset under valgrind (memcheck) against the release build: S3 writes and reads of
inline, file-backed and multipart objects, listing, copy, delete, an admin call and a clean
SIGTERM exit; encryption at rest (AES256, SM4 with a range, SSE-C, the master key file kept
outside the data folder with --sse-key-file); and a second run with the TLS listeners (a test
CA, as test_tls.py makes one) carrying plain, ranged and SSE-C requests and an admin call over
https. Valgrind must have run (every log ends with its ERROR SUMMARY) and report no errors and
no definite, indirect or possible leaks (tests/valgrind.supp would hold suppressions for
library-owned blocks; none are needed today). (The rest of the suite
runs the server under ASan+UBSan; valgrind checks the uninstrumented -O2 binary.)"""

import base64
import hashlib
import os
import re
import shutil
import tempfile
import unittest

import harness as h
from test_tls import make_ca, make_leaf

SEG = 64 * 1024
SUPPRESSIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "valgrind.supp")


def ssec(key):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


@unittest.skipUnless(shutil.which("valgrind"), "valgrind is not installed (scripts/deps.sh)")
class ValgrindSmokeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if h.external_endpoint():
            raise unittest.SkipTest("needs the real gzy binary")
        cls.release = os.environ.get("GZY_RELEASE_BIN", os.path.abspath("build/gzy"))
        if not os.path.isfile(cls.release):
            raise unittest.SkipTest("no release build at %s" % cls.release)
        cls.saved = (h.START_TIMEOUT_S, h.STOP_TIMEOUT_S)
        h.START_TIMEOUT_S, h.STOP_TIMEOUT_S = 120.0, 120.0

    @classmethod
    def tearDownClass(cls):
        h.START_TIMEOUT_S, h.STOP_TIMEOUT_S = cls.saved

    def start_server(self, extra_args=(), ca_bundle=None):
        """A server under valgrind (its own log folder), stopped and removed at cleanup."""
        self.tmp = tempfile.mkdtemp(prefix="gzy-vg-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        log = os.path.join(self.tmp, "valgrind-%p.log")
        wrapper = os.path.join(self.tmp, "gzy-under-valgrind")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec valgrind --error-exitcode=99 --leak-check=full "
                    "--show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds="
                    "definite,indirect,possible --num-callers=30 --suppressions=%s "
                    "--log-file=%s %s \"$@\"\n" % (SUPPRESSIONS, log, self.release))
        os.chmod(wrapper, 0o755)
        self.server = h.GzyServer(threads=2, extra_args=list(extra_args))
        self.server.bin = wrapper
        self.server.sanitized = False
        self.server.ca_bundle = ca_bundle
        self.addCleanup(self.server.close)
        self.server.start()
        self.s3 = self.server.client(read_timeout=300)

    def valgrind_reports(self):
        """The logs' text and how many logs there are (one per server process)."""
        text, logs = "", 0
        for name in sorted(os.listdir(self.tmp)):
            if name.startswith("valgrind-") and name.endswith(".log"):
                logs += 1
                with open(os.path.join(self.tmp, name), errors="replace") as f:
                    text += f.read()
        return text, logs

    def stop_and_check(self):
        self.server.stop()  # SIGTERM: a clean exit, then valgrind's leak check
        problems, self.server.problems = list(self.server.problems), []
        report, logs = self.valgrind_reports()
        self.assertEqual(problems, [], report[-6000:])
        # valgrind really ran: each process's log ends with its summary, and says 0 errors
        self.assertGreaterEqual(logs, 1, "no valgrind log in %s" % self.tmp)
        self.assertEqual(len(re.findall(r"ERROR SUMMARY: 0 errors", report)), logs,
                         report[-6000:])
        self.assertIn("Memcheck", report)
        self.assertFalse(re.search(r"ERROR SUMMARY: [1-9]", report), report[-6000:])
        self.assertNotIn("definitely lost: ", report.replace("definitely lost: 0 bytes", ""),
                         report[-6000:])
        self.assertNotIn("indirectly lost: ", report.replace("indirectly lost: 0 bytes", ""),
                         report[-6000:])
        self.assertNotIn("possibly lost: ", report.replace("possibly lost: 0 bytes", ""),
                         report[-6000:])

    def encrypted_requests(self, b):
        """AES256 and SM4 (with ranges across segments) and SSE-C, through the S3 handlers."""
        aes = h.random_bytes(2 * SEG + 100, seed="vg-aes")
        self.s3.put_object(Bucket=b, Key="aes", Body=aes, ServerSideEncryption="AES256")
        r = self.s3.get_object(Bucket=b, Key="aes")
        self.assertEqual(r["ServerSideEncryption"], "AES256")
        self.assertEqual(r["Body"].read(), aes)
        sm4 = h.random_bytes(3 * SEG + 5, seed="vg-sm4")
        self.s3.put_object(Bucket=b, Key="sm4", Body=sm4, ServerSideEncryption="SM4")
        got = self.s3.get_object(Bucket=b, Key="sm4", Range="bytes=%d-%d" % (SEG - 10, 2 * SEG + 9))
        self.assertEqual(got["Body"].read(), sm4[SEG - 10:2 * SEG + 10])
        self.assertEqual(self.s3.get_object(Bucket=b, Key="sm4")["Body"].read(), sm4)
        key = os.urandom(32)
        secret = h.random_bytes(SEG + 3, seed="vg-ssec")
        r = self.s3.put_object(Bucket=b, Key="ssec", Body=secret, **ssec(key))
        self.assertEqual(r["SSECustomerKeyMD5"],
                         base64.b64encode(hashlib.md5(key).digest()).decode())
        got = self.s3.get_object(Bucket=b, Key="ssec", Range="bytes=10-%d" % (SEG + 1), **ssec(key))
        self.assertEqual(got["Body"].read(), secret[10:SEG + 2])
        with self.assertRaises(h.botocore.exceptions.ClientError) as cm:
            self.s3.get_object(Bucket=b, Key="ssec", **ssec(os.urandom(32)))
        self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDenied")

    def test_smoke_then_clean_exit_without_errors_or_leaks(self):
        keydir = tempfile.mkdtemp(prefix="gzy-vg-keys-")
        self.addCleanup(shutil.rmtree, keydir, True)
        self.start_server(["--sse-c-over-http", "on",
                           "--sse-key-file", os.path.join(keydir, "master.keys")])
        b = h.unique_bucket("vg")
        self.s3.create_bucket(Bucket=b)
        small = h.random_bytes(1000, seed="vg1")
        big = h.random_bytes(300 * 1024, seed="vg2")  # beyond inline-max: an object file
        self.s3.put_object(Bucket=b, Key="small", Body=small, Metadata={"k": "v"})
        self.s3.put_object(Bucket=b, Key="dir/big", Body=big)
        self.assertEqual(self.s3.get_object(Bucket=b, Key="small")["Body"].read(), small)
        self.assertEqual(self.s3.get_object(Bucket=b, Key="dir/big",
                                            Range="bytes=100-199")["Body"].read(), big[100:200])
        up = self.s3.create_multipart_upload(Bucket=b, Key="mp")
        parts = [h.random_bytes(5 * h.MiB, seed="vg3"), b"tail"]
        done = []
        for n, p in enumerate(parts, 1):
            r = self.s3.upload_part(Bucket=b, Key="mp", UploadId=up["UploadId"], PartNumber=n,
                                    Body=p)
            done.append({"PartNumber": n, "ETag": r["ETag"]})
        self.s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up["UploadId"],
                                          MultipartUpload={"Parts": done})
        self.s3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "dir/big"})
        keys = [o["Key"] for o in self.s3.list_objects_v2(Bucket=b, Delimiter="/")
                .get("Contents", [])]
        self.assertEqual(keys, ["copy", "mp", "small"])
        self.s3.delete_object(Bucket=b, Key="small")
        with self.assertRaises(h.botocore.exceptions.ClientError) as cm:
            self.s3.get_object(Bucket=b, Key="small")
        self.assertEqual(cm.exception.response["Error"]["Code"], "NoSuchKey")
        out = self.server.admin_json("tenant", "list")
        self.assertIsInstance(out, (list, dict))
        self.encrypted_requests(b)
        self.assertTrue(os.path.exists(os.path.join(keydir, "master.keys")))
        self.server.restart()  # the start-up key check on a folder with encrypted objects
        self.assertEqual(len(self.s3.get_object(Bucket=b, Key="aes")["Body"].read()),
                         2 * SEG + 100)
        self.stop_and_check()

    def test_tls_listener_without_errors_or_leaks(self):
        pki = tempfile.mkdtemp(prefix="gzy-vg-tls-")
        self.addCleanup(shutil.rmtree, pki, True)
        make_ca(pki)
        make_leaf(pki, "server", "gzy valgrind")
        self.start_server(["--tls-cert", os.path.join(pki, "server.pem"),
                           "--tls-key", os.path.join(pki, "server.key")],
                          ca_bundle=os.path.join(pki, "ca.pem"))
        self.assertEqual(self.server.scheme, "https")
        b = h.unique_bucket("vgtls")
        self.s3.create_bucket(Bucket=b)
        small = h.random_bytes(1000, seed="vgt1")
        big = h.random_bytes(300 * 1024, seed="vgt2")  # file-backed: pread + encrypt, no sendfile
        self.s3.put_object(Bucket=b, Key="small", Body=small)
        self.s3.put_object(Bucket=b, Key="big", Body=big)
        self.assertEqual(self.s3.get_object(Bucket=b, Key="small")["Body"].read(), small)
        self.assertEqual(self.s3.get_object(Bucket=b, Key="big")["Body"].read(), big)
        self.assertEqual(self.s3.get_object(Bucket=b, Key="big", Range="bytes=70000-70999")
                         ["Body"].read(), big[70000:71000])
        self.encrypted_requests(b)  # SSE-C over TLS: accepted without --sse-c-over-http
        out = self.server.admin_json("tenant", "list")
        self.assertIsInstance(out, (list, dict))
        self.stop_and_check()


if __name__ == "__main__":
    unittest.main()
