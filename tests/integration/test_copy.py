"""CopyObject through boto3: within and across buckets, metadata directives, copy-source
conditionals, self-copy rules, and source errors."""

import datetime
import unittest

import harness as h

BODY = b"copy source body " * 100


class CopyTests(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.src = h.unique_bucket("src")
        cls.dst = h.unique_bucket("dst")
        cls.s3.create_bucket(Bucket=cls.src)
        cls.s3.create_bucket(Bucket=cls.dst)
        cls.etag = cls.s3.put_object(Bucket=cls.src, Key="orig", Body=BODY,
                                     ContentType="text/x-orig", CacheControl="max-age=5",
                                     Metadata={"owner": "alice", "tag": "v1"})["ETag"]
        cls.mtime = cls.s3.head_object(Bucket=cls.src, Key="orig")["LastModified"]

    def source(self, key="orig", bucket=None):
        return {"Bucket": bucket or self.src, "Key": key}

    def test_copy_within_bucket_keeps_metadata(self):
        r = self.s3.copy_object(Bucket=self.src, Key="copy-1", CopySource=self.source())
        self.assertEqual(r["CopyObjectResult"]["ETag"], self.etag)
        self.assertIsInstance(r["CopyObjectResult"]["LastModified"], datetime.datetime)
        got = self.s3.get_object(Bucket=self.src, Key="copy-1")
        self.assertEqual(got["Body"].read(), BODY)
        self.assertEqual(got["Metadata"], {"owner": "alice", "tag": "v1"})
        self.assertEqual(got["ContentType"], "text/x-orig")
        self.assertEqual(got["CacheControl"], "max-age=5")
        self.assertEqual(got["ETag"], self.etag)

    def test_copy_across_buckets(self):
        self.s3.copy_object(Bucket=self.dst, Key="x/y/copied", CopySource=self.source())
        self.assertEqual(self.get_bytes(self.dst, "x/y/copied"), BODY)
        # The source is untouched.
        self.assertEqual(self.get_bytes(self.src, "orig"), BODY)

    def test_copy_ignores_new_metadata_without_replace(self):
        self.s3.copy_object(Bucket=self.dst, Key="copy-dir", CopySource=self.source(),
                            MetadataDirective="COPY", Metadata={"ignored": "yes"})
        self.assertEqual(self.s3.head_object(Bucket=self.dst, Key="copy-dir")["Metadata"],
                         {"owner": "alice", "tag": "v1"})

    def test_copy_replace_metadata(self):
        self.s3.copy_object(Bucket=self.dst, Key="replaced", CopySource=self.source(),
                            MetadataDirective="REPLACE", Metadata={"new": "value"},
                            ContentType="application/x-new")
        head = self.s3.head_object(Bucket=self.dst, Key="replaced")
        self.assertEqual(head["Metadata"], {"new": "value"})
        self.assertEqual(head["ContentType"], "application/x-new")
        self.assertNotIn("CacheControl", head)
        self.assertEqual(self.get_bytes(self.dst, "replaced"), BODY)

    def test_self_copy_without_replace_is_invalid(self):
        self.put(self.dst, "self", b"self body", Metadata={"a": "1"})
        self.assertS3Error("InvalidRequest", self.s3.copy_object, Bucket=self.dst, Key="self",
                           CopySource=self.source("self", self.dst), status=400)

    def test_self_copy_with_replace(self):
        self.put(self.dst, "self2", b"self body", Metadata={"a": "1"})
        self.s3.copy_object(Bucket=self.dst, Key="self2", CopySource=self.source("self2",
                                                                                 self.dst),
                            MetadataDirective="REPLACE", Metadata={"a": "2"})
        head = self.s3.head_object(Bucket=self.dst, Key="self2")
        self.assertEqual(head["Metadata"], {"a": "2"})
        self.assertEqual(self.get_bytes(self.dst, "self2"), b"self body")

    def test_copy_source_conditionals(self):
        past = self.mtime - datetime.timedelta(days=1)
        future = self.mtime + datetime.timedelta(days=1)
        failing = [{"CopySourceIfMatch": '"0000"'},
                   {"CopySourceIfNoneMatch": self.etag},
                   {"CopySourceIfModifiedSince": future},
                   {"CopySourceIfUnmodifiedSince": past}]
        for i, cond in enumerate(failing):
            with self.subTest(cond=list(cond)[0]):
                key = "cond-fail-%d" % i
                self.assertS3Error("PreconditionFailed", self.s3.copy_object, Bucket=self.dst,
                                   Key=key, CopySource=self.source(), status=412, **cond)
                self.assertS3Error("404", self.s3.head_object, Bucket=self.dst, Key=key)
        passing = [{"CopySourceIfMatch": self.etag},
                   {"CopySourceIfNoneMatch": '"0000"'},
                   {"CopySourceIfModifiedSince": past},
                   {"CopySourceIfUnmodifiedSince": future}]
        for i, cond in enumerate(passing):
            with self.subTest(cond=list(cond)[0]):
                key = "cond-ok-%d" % i
                self.s3.copy_object(Bucket=self.dst, Key=key, CopySource=self.source(), **cond)
                self.assertEqual(self.get_bytes(self.dst, key), BODY)

    def test_copy_missing_source(self):
        self.assertS3Error("NoSuchKey", self.s3.copy_object, Bucket=self.dst, Key="x",
                           CopySource=self.source("does-not-exist"), status=404)
        self.assertS3Error("NoSuchBucket", self.s3.copy_object, Bucket=self.dst, Key="x",
                           CopySource=self.source("orig", h.unique_bucket("nob")), status=404)
        self.assertS3Error("NoSuchBucket", self.s3.copy_object, Bucket=h.unique_bucket("nod"),
                           Key="x", CopySource=self.source(), status=404)

    def test_copy_odd_key_names(self):
        key = "odd dir/ü+%20&=?.txt"
        self.put(self.src, key, b"odd source")
        self.s3.copy_object(Bucket=self.dst, Key=key + ".copy", CopySource=self.source(key))
        self.assertEqual(self.get_bytes(self.dst, key + ".copy"), b"odd source")

    def test_copy_overwrites_destination(self):
        self.put(self.dst, "over", b"old content")
        self.s3.copy_object(Bucket=self.dst, Key="over", CopySource=self.source())
        self.assertEqual(self.get_bytes(self.dst, "over"), BODY)


if __name__ == "__main__":
    unittest.main()
