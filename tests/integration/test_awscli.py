"""The aws CLI against the server: a 200 MiB `aws s3 cp` up and down (multipart, checked by
SHA-256), `aws s3 sync` up and down of a small tree, and `aws s3api` calls."""

import hashlib
import json
import os
import shutil
import tempfile
import time
import unittest

import harness as h


def sha256_file(path):
    d = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            d.update(block)
    return d.hexdigest()


def tree_digest(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = sha256_file(path)
    return out


class AwsCliTests(h.ServerTestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gzy-awscli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_cp_200mib_up_and_down(self):
        b = self.new_bucket()
        src = os.path.join(self.tmp, "big.bin")
        with open(src, "wb") as f:
            for _ in range(200):
                f.write(os.urandom(h.MiB))
        self.server.aws("s3", "cp", src, "s3://%s/big/file.bin" % b, "--only-show-errors")
        head = json.loads(self.server.aws("s3api", "head-object", "--bucket", b, "--key",
                                          "big/file.bin").stdout)
        self.assertEqual(head["ContentLength"], 200 * h.MiB)
        # The CLI uploads 8 MiB parts: 25 of them.
        self.assertRegex(head["ETag"], r'^"[0-9a-f]{32}-25"$')
        dst = os.path.join(self.tmp, "down.bin")
        self.server.aws("s3", "cp", "s3://%s/big/file.bin" % b, dst, "--only-show-errors")
        self.assertEqual(os.path.getsize(dst), 200 * h.MiB)
        self.assertEqual(sha256_file(dst), sha256_file(src))

    def test_sync_up_and_down(self):
        b = self.new_bucket()
        up = os.path.join(self.tmp, "up")
        files = {"a.txt": b"alpha\n", "sub/b.bin": os.urandom(70000),
                 "sub/deeper/c.txt": b"gamma " * 1000, "sub/deeper/empty": b"",
                 "space name/ü.txt": "unicode ü".encode(), "x/12mib.bin": os.urandom(12 * h.MiB)}
        for rel, data in files.items():
            path = os.path.join(up, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            # An hour old, so a LastModified truncated to whole seconds is never older.
            past = time.time() - 3600
            os.utime(path, (past, past))
        self.server.aws("s3", "sync", up, "s3://%s/tree" % b, "--only-show-errors")
        listing = json.loads(self.server.aws("s3api", "list-objects-v2", "--bucket", b,
                                             "--prefix", "tree/").stdout)
        self.assertEqual(sorted(o["Key"] for o in listing["Contents"]),
                         sorted("tree/" + k for k in files))
        # A second sync finds nothing to do.
        again = self.server.aws("s3", "sync", up, "s3://%s/tree" % b)
        self.assertNotIn("upload:", again.stdout)
        down = os.path.join(self.tmp, "down")
        self.server.aws("s3", "sync", "s3://%s/tree" % b, down, "--only-show-errors")
        self.assertEqual(tree_digest(down), tree_digest(up))
        # Deletions propagate with --delete.
        os.unlink(os.path.join(up, "a.txt"))
        self.server.aws("s3", "sync", up, "s3://%s/tree" % b, "--delete", "--only-show-errors")
        keys = [o["Key"] for o in json.loads(self.server.aws(
            "s3api", "list-objects-v2", "--bucket", b, "--prefix", "tree/").stdout)["Contents"]]
        self.assertNotIn("tree/a.txt", keys)
        self.assertEqual(len(keys), len(files) - 1)

    def test_s3api_calls(self):
        b = h.unique_bucket("cli")
        self.server.aws("s3api", "create-bucket", "--bucket", b)
        path = os.path.join(self.tmp, "f.txt")
        with open(path, "wb") as f:
            f.write(b"cli body")
        put = json.loads(self.server.aws("s3api", "put-object", "--bucket", b, "--key",
                                         "dir/f.txt", "--body", path, "--content-type",
                                         "text/plain", "--metadata", "k1=v1").stdout)
        self.assertEqual(put["ETag"], '"%s"' % h.md5_hex(b"cli body"))
        head = json.loads(self.server.aws("s3api", "head-object", "--bucket", b, "--key",
                                          "dir/f.txt").stdout)
        self.assertEqual(head["ContentLength"], 8)
        self.assertEqual(head["ContentType"], "text/plain")
        self.assertEqual(head["Metadata"], {"k1": "v1"})
        lst = json.loads(self.server.aws("s3api", "list-objects-v2", "--bucket", b,
                                         "--prefix", "dir/", "--delimiter", "/").stdout)
        self.assertEqual([o["Key"] for o in lst["Contents"]], ["dir/f.txt"])
        r = self.server.aws("s3api", "head-object", "--bucket", b, "--key", "nope",
                            check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("404", r.stderr)
        ls = self.server.aws("s3", "ls", "s3://%s/dir/" % b).stdout
        self.assertIn("f.txt", ls)
        self.assertIn(b, self.server.aws("s3", "ls").stdout)
        self.server.aws("s3", "rm", "s3://%s" % b, "--recursive", "--only-show-errors")
        self.server.aws("s3", "rb", "s3://%s" % b)
        self.assertS3Error("404", self.s3.head_bucket, Bucket=b)


if __name__ == "__main__":
    unittest.main()
