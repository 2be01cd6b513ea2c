"""rclone and s3cmd against the server: copy, sync and `check --download` with rclone;
mb/put/get/ls/del/rb with s3cmd (including a multipart upload by each)."""

import hashlib
import os
import shutil
import tempfile
import unittest

import harness as h


def write_tree(root, files):
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def read_tree(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


class RcloneTests(h.ServerTestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gzy-rclone-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_copy_check_sync(self):
        b = self.new_bucket()
        src = os.path.join(self.tmp, "src")
        files = {"one.txt": b"one\n", "dir/two.bin": os.urandom(300000),
                 "dir/sub/three.txt": b"three " * 500, "empty.dat": b"",
                 "big/12mib.bin": os.urandom(12 * h.MiB), "名字/ü.txt": "ü".encode()}
        write_tree(src, files)
        remote = "gzy:%s/data" % b
        # Small cutoff and chunk size so the 12 MiB file goes up as a multipart upload.
        self.server.rclone("copy", src, remote, "--s3-upload-cutoff", "5M",
                           "--s3-chunk-size", "5M")
        listed = sorted(self.server.rclone("lsf", "-R", "--files-only", remote)
                        .stdout.split("\n"))
        self.assertEqual([x for x in listed if x], sorted(files))
        self.assertRegex(self.s3.head_object(Bucket=b, Key="data/big/12mib.bin")["ETag"],
                         r'^"[0-9a-f]{32}-3"$')
        self.server.rclone("check", src, remote, "--download")
        self.assertEqual(self.get_bytes(b, "data/dir/sub/three.txt"), b"three " * 500)

        # Change the source: sync must upload, replace and delete to match it.
        os.unlink(os.path.join(src, "one.txt"))
        write_tree(src, {"dir/two.bin": b"replaced", "new/file.txt": b"new"})
        self.server.rclone("sync", src, remote)
        self.server.rclone("check", src, remote, "--download")
        self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=b, Key="data/one.txt")
        self.assertEqual(self.get_bytes(b, "data/dir/two.bin"), b"replaced")

        # Back down to a fresh folder.
        back = os.path.join(self.tmp, "back")
        self.server.rclone("copy", remote, back)
        self.assertEqual(read_tree(back), read_tree(src))

    def test_check_detects_difference(self):
        b = self.new_bucket()
        src = os.path.join(self.tmp, "chk")
        write_tree(src, {"a.txt": b"original content"})
        self.server.rclone("copy", src, "gzy:%s" % b)
        self.put(b, "a.txt", b"original contenT")  # same size, different bytes
        r = self.server.rclone("check", src, "gzy:%s" % b, "--download", check=False)
        self.assertNotEqual(r.returncode, 0, "rclone check --download missed a changed byte")

    def test_list_v2_and_cat(self):
        b = self.new_bucket()
        for i in range(30):
            self.put(b, "p/%02d" % i, str(i).encode())
        out = self.server.rclone("lsf", "--s3-list-version", "2", "--s3-list-chunk", "7",
                                 "gzy:%s/p" % b).stdout.split()
        self.assertEqual(out, ["%02d" % i for i in range(30)])
        self.assertEqual(self.server.rclone("cat", "gzy:%s/p/17" % b).stdout, "17")


class S3cmdTests(h.ServerTestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gzy-s3cmd-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_mb_put_get_ls_del(self):
        b = h.unique_bucket("s3cmd")
        self.server.s3cmd("mb", "s3://" + b)
        self.s3.head_bucket(Bucket=b)
        small = os.path.join(self.tmp, "small.txt")
        with open(small, "wb") as f:
            f.write(b"s3cmd small file\n")
        big = os.path.join(self.tmp, "big.bin")
        big_data = os.urandom(12 * h.MiB + 5)
        with open(big, "wb") as f:
            f.write(big_data)
        self.server.s3cmd("put", small, "s3://%s/dir/small.txt" % b)
        self.server.s3cmd("put", "--multipart-chunk-size-mb=5", big, "s3://%s/dir/big.bin" % b)
        self.assertRegex(self.s3.head_object(Bucket=b, Key="dir/big.bin")["ETag"],
                         r'^"[0-9a-f]{32}-3"$')
        ls = self.server.s3cmd("ls", "s3://%s/dir/" % b).stdout
        self.assertIn("s3://%s/dir/small.txt" % b, ls)
        self.assertIn("s3://%s/dir/big.bin" % b, ls)
        self.assertIn(str(12 * h.MiB + 5), ls)
        self.assertIn("s3://" + b, self.server.s3cmd("ls").stdout)
        got = os.path.join(self.tmp, "got.bin")
        self.server.s3cmd("get", "s3://%s/dir/big.bin" % b, got)
        with open(got, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).digest(),
                             hashlib.sha256(big_data).digest())
        got_small = os.path.join(self.tmp, "got.txt")
        self.server.s3cmd("get", "s3://%s/dir/small.txt" % b, got_small)
        with open(got_small, "rb") as f:
            self.assertEqual(f.read(), b"s3cmd small file\n")
        r = self.server.s3cmd("rb", "s3://" + b, check=False)
        self.assertNotEqual(r.returncode, 0, "s3cmd rb removed a non-empty bucket")
        self.server.s3cmd("del", "s3://%s/dir/small.txt" % b)
        self.server.s3cmd("del", "s3://%s/dir/big.bin" % b)
        self.assertEqual(self.s3.list_objects_v2(Bucket=b)["KeyCount"], 0)
        self.server.s3cmd("rb", "s3://" + b)
        self.assertS3Error("404", self.s3.head_bucket, Bucket=b)

    def test_info_and_recursive_sync(self):
        b = self.new_bucket()
        src = os.path.join(self.tmp, "tree")
        write_tree(src, {"a": b"A", "d/b": b"BB", "d/e/c": b"CCC"})
        self.server.s3cmd("sync", src + "/", "s3://%s/t/" % b)
        keys = [o["Key"] for o in self.s3.list_objects_v2(Bucket=b)["Contents"]]
        self.assertEqual(keys, ["t/a", "t/d/b", "t/d/e/c"])
        info = self.server.s3cmd("info", "s3://%s/t/d/b" % b).stdout
        self.assertIn(h.md5_hex(b"BB"), info)
        self.server.s3cmd("del", "--recursive", "--force", "s3://%s/t/" % b)
        self.assertEqual(self.s3.list_objects_v2(Bucket=b)["KeyCount"], 0)


if __name__ == "__main__":
    unittest.main()
