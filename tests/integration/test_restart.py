"""Durability across restarts: objects written, a clean SIGTERM restart, more objects written,
then a `kill -9` and restart: every acknowledged object is there with the right bytes."""

import concurrent.futures
import hashlib
import unittest

import harness as h


class RestartTests(h.ServerTestCase):
    gzy_only = True

    def write_batch(self, bucket, tag, n=25):
        objs = {}
        for i in range(n):
            size = [0, 1, 1000, 70000, 300000][i % 5]
            objs["%s/obj-%03d" % (tag, i)] = h.random_bytes(size, seed="%s%d" % (tag, i))

        def put(item):
            k, v = item
            r = self.s3.put_object(Bucket=bucket, Key=k, Body=v, Metadata={"tag": tag})
            self.assertEqual(r["ETag"], '"%s"' % h.md5_hex(v))

        empties = {k: v for k, v in objs.items() if not v}
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(put, [kv for kv in objs.items() if kv[1]]))
        # Empty objects go over raw requests of their own (no Expect: 100-continue), so this
        # durability test does not depend on how boto3 reuses connections after them.
        for k in empties:
            resp = self.server.request("PUT", "/%s/%s" % (bucket, k), body=b"",
                                       headers={"x-amz-meta-tag": tag})
            self.assertEqual(resp.status, 200, resp.body[:300])
        # A multipart object too.
        key = "%s/multipart" % tag
        parts = [h.random_bytes(5 * h.MiB, seed=tag + "p1"), b"last part " + tag.encode()]
        up = self.s3.create_multipart_upload(Bucket=bucket, Key=key)
        done = []
        for n_, p in enumerate(parts, 1):
            r = self.s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                    PartNumber=n_, Body=p)
            done.append({"PartNumber": n_, "ETag": r["ETag"]})
        self.s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                          MultipartUpload={"Parts": done})
        objs[key] = b"".join(parts)
        return objs

    def verify(self, bucket, objs, deleted=()):
        s3 = self.server.client()
        listed = {o["Key"]: o for p in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket) for o in p.get("Contents", [])}
        self.assertEqual(sorted(listed), sorted(objs))
        for k, v in objs.items():
            got = s3.get_object(Bucket=bucket, Key=k)
            data = got["Body"].read()
            self.assertEqual(len(data), len(v), k)
            self.assertEqual(hashlib.sha256(data).digest(), hashlib.sha256(v).digest(), k)
            self.assertEqual(listed[k]["Size"], len(v))
        for k in deleted:
            self.assertS3Error("NoSuchKey", s3.get_object, Bucket=bucket, Key=k)

    def test_sigterm_then_kill9(self):
        b1 = self.new_bucket("durable")
        objs = self.write_batch(b1, "first")
        self.put(b1, "to-delete", b"gone soon")
        self.s3.delete_object(Bucket=b1, Key="to-delete")
        pending = self.s3.create_multipart_upload(Bucket=b1, Key="pending")["UploadId"]
        self.s3.upload_part(Bucket=b1, Key="pending", UploadId=pending, PartNumber=1,
                            Body=b"pending part")

        self.server.restart()
        self.s3 = self.server.client()
        self.verify(b1, objs, deleted=["to-delete"])
        # The in-progress upload survives a clean restart and can be completed.
        parts = self.s3.list_parts(Bucket=b1, Key="pending", UploadId=pending)["Parts"]
        self.assertEqual([p["PartNumber"] for p in parts], [1])
        self.s3.complete_multipart_upload(Bucket=b1, Key="pending", UploadId=pending,
                                          MultipartUpload={"Parts": [
                                              {"PartNumber": 1, "ETag": parts[0]["ETag"]}]})
        objs["pending"] = b"pending part"

        b2 = self.new_bucket("after")
        objs2 = self.write_batch(b2, "second")
        objs.update(self.write_batch(b1, "third"))
        self.put(b1, "first/obj-000", b"overwritten before kill")
        objs["first/obj-000"] = b"overwritten before kill"

        self.server.restart(kill=True)
        self.s3 = self.server.client()
        names = [b["Name"] for b in self.s3.list_buckets()["Buckets"]]
        self.assertIn(b1, names)
        self.assertIn(b2, names)
        self.verify(b1, objs, deleted=["to-delete"])
        self.verify(b2, objs2)
        self.assertEqual(self.s3.head_object(Bucket=b1, Key="first/obj-001")["Metadata"],
                         {"tag": "first"})
        # The server still takes writes after recovering.
        self.put(b2, "post-recovery", b"ok")
        self.assertEqual(self.get_bytes(b2, "post-recovery"), b"ok")


if __name__ == "__main__":
    unittest.main()
