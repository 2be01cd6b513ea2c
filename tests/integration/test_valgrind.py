"""A smoke subset under valgrind (memcheck) against the release build: S3 writes and reads of
inline, file-backed and multipart objects, listing, copy, delete, an admin call and a clean
SIGTERM exit; valgrind must report no errors and no definite or indirect leaks. (The rest of
the suite runs the server under ASan+UBSan; valgrind checks the uninstrumented -O2 binary.)"""

import os
import re
import shutil
import tempfile
import unittest

import harness as h


@unittest.skipUnless(shutil.which("valgrind"), "valgrind is not installed (scripts/deps.sh)")
class ValgrindSmokeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if h.external_endpoint():
            raise unittest.SkipTest("needs the real gzy binary")
        release = os.environ.get("GZY_RELEASE_BIN", os.path.abspath("build/gzy"))
        if not os.path.isfile(release):
            raise unittest.SkipTest("no release build at %s" % release)
        cls.tmp = tempfile.mkdtemp(prefix="gzy-vg-")
        cls.log = os.path.join(cls.tmp, "valgrind-%p.log")
        wrapper = os.path.join(cls.tmp, "gzy-under-valgrind")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec valgrind --quiet --error-exitcode=99 --leak-check=full "
                    "--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,"
                    "indirect --num-callers=30 --log-file=%s %s \"$@\"\n" % (cls.log, release))
        os.chmod(wrapper, 0o755)
        cls.saved = (h.START_TIMEOUT_S, h.STOP_TIMEOUT_S)
        h.START_TIMEOUT_S, h.STOP_TIMEOUT_S = 120.0, 120.0
        cls.server = h.GzyServer(threads=2)
        cls.server.bin = wrapper
        cls.server.sanitized = False
        cls.server.start()
        cls.s3 = cls.server.client(read_timeout=300)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.close()
        finally:
            h.START_TIMEOUT_S, h.STOP_TIMEOUT_S = cls.saved
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def valgrind_reports(self):
        text = ""
        for name in sorted(os.listdir(self.tmp)):
            if name.startswith("valgrind-") and name.endswith(".log"):
                with open(os.path.join(self.tmp, name), errors="replace") as f:
                    text += f.read()
        return text

    def test_smoke_then_clean_exit_without_errors_or_leaks(self):
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
        self.server.stop()  # SIGTERM: a clean exit, then valgrind's leak check
        problems, self.server.problems = list(self.server.problems), []
        report = self.valgrind_reports()
        self.assertEqual(problems, [], report[-6000:])
        self.assertFalse(re.search(r"ERROR SUMMARY: [1-9]", report), report[-6000:])
        self.assertNotIn("definitely lost: ", report.replace("definitely lost: 0 bytes", ""),
                         report[-6000:])


if __name__ == "__main__":
    unittest.main()
