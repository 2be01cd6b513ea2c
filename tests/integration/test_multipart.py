"""Multipart uploads through boto3: create, UploadPart, UploadPartCopy with a range, complete
(the '-N' ETag), the completion errors, abort, ListParts and ListMultipartUploads pagination,
and GetObject by PartNumber."""

import hashlib
import unittest

import harness as h

PART = 5 * h.MiB


class MultipartTests(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.part1 = h.random_bytes(PART, seed="p1")
        cls.part2 = h.random_bytes(PART, seed="p2")
        cls.tail = h.random_bytes(1 * h.MiB + 17, seed="tail")

    def setUp(self):
        self.b = self.new_bucket()

    def upload(self, key, parts, bucket=None):
        bucket = bucket or self.b
        up = self.s3.create_multipart_upload(Bucket=bucket, Key=key)
        uid = up["UploadId"]
        done = []
        for n, data in enumerate(parts, 1):
            r = self.s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n,
                                    Body=data)
            self.assertEqual(r["ETag"], '"%s"' % h.md5_hex(data))
            done.append({"PartNumber": n, "ETag": r["ETag"]})
        return uid, done

    def test_complete_and_etag(self):
        parts = [self.part1, self.part2, self.tail]
        uid, done = self.upload("mp/obj", parts)
        r = self.s3.complete_multipart_upload(Bucket=self.b, Key="mp/obj", UploadId=uid,
                                              MultipartUpload={"Parts": done})
        self.assertEqual(r["ETag"], h.multipart_etag(parts))
        self.assertEqual(r["Key"], "mp/obj")
        self.assertEqual(r["Bucket"], self.b)
        whole = b"".join(parts)
        head = self.s3.head_object(Bucket=self.b, Key="mp/obj")
        self.assertEqual(head["ContentLength"], len(whole))
        self.assertEqual(head["ETag"], h.multipart_etag(parts))
        got = self.get_bytes(self.b, "mp/obj")
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(whole).hexdigest())
        # The upload is gone once completed.
        self.assertS3Error("NoSuchUpload", self.s3.list_parts, Bucket=self.b, Key="mp/obj",
                           UploadId=uid, status=404)
        listed = self.s3.list_objects_v2(Bucket=self.b)["Contents"]
        self.assertEqual([(o["Key"], o["Size"], o["ETag"]) for o in listed],
                         [("mp/obj", len(whole), h.multipart_etag(parts))])

    def test_get_by_part_number_and_range(self):
        parts = [self.part1, self.tail]
        uid, done = self.upload("pn", parts)
        self.s3.complete_multipart_upload(Bucket=self.b, Key="pn", UploadId=uid,
                                          MultipartUpload={"Parts": done})
        total = len(self.part1) + len(self.tail)
        r = self.s3.get_object(Bucket=self.b, Key="pn", PartNumber=2)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 206)
        self.assertEqual(r["PartsCount"], 2)
        self.assertEqual(r["ContentRange"], "bytes %d-%d/%d" % (PART, total - 1, total))
        self.assertEqual(r["Body"].read(), self.tail)
        r = self.s3.head_object(Bucket=self.b, Key="pn", PartNumber=1)
        self.assertEqual(r["ContentLength"], PART)
        self.assertEqual(r["PartsCount"], 2)
        # A range that spans the part boundary.
        r = self.s3.get_object(Bucket=self.b, Key="pn", Range="bytes=%d-%d" % (PART - 5, PART + 4))
        self.assertEqual(r["Body"].read(), self.part1[-5:] + self.tail[:5])

    def test_reupload_part_replaces_it(self):
        uid, done = self.upload("re", [self.part1, self.tail])
        newer = h.random_bytes(PART, seed="newer")
        r = self.s3.upload_part(Bucket=self.b, Key="re", UploadId=uid, PartNumber=1, Body=newer)
        done[0]["ETag"] = r["ETag"]
        self.s3.complete_multipart_upload(Bucket=self.b, Key="re", UploadId=uid,
                                          MultipartUpload={"Parts": done})
        self.assertEqual(self.get_bytes(self.b, "re"), newer + self.tail)

    def test_complete_subset_of_parts(self):
        uid, done = self.upload("subset", [self.part1, self.part2, self.tail])
        chosen = [done[0], done[2]]
        r = self.s3.complete_multipart_upload(Bucket=self.b, Key="subset", UploadId=uid,
                                              MultipartUpload={"Parts": chosen})
        self.assertEqual(r["ETag"], h.multipart_etag([self.part1, self.tail]))
        self.assertEqual(self.get_bytes(self.b, "subset"), self.part1 + self.tail)

    def test_upload_part_copy_with_range(self):
        src = self.part1 + self.part2  # 10 MiB source object
        self.put(self.b, "copy-src", src)
        up = self.s3.create_multipart_upload(Bucket=self.b, Key="copied")
        uid = up["UploadId"]
        r1 = self.s3.upload_part_copy(Bucket=self.b, Key="copied", UploadId=uid, PartNumber=1,
                                      CopySource={"Bucket": self.b, "Key": "copy-src"},
                                      CopySourceRange="bytes=%d-%d" % (3, PART + 2))
        piece = src[3:PART + 3]
        self.assertEqual(r1["CopyPartResult"]["ETag"], '"%s"' % h.md5_hex(piece))
        r2 = self.s3.upload_part(Bucket=self.b, Key="copied", UploadId=uid, PartNumber=2,
                                 Body=b"tail bytes")
        parts = [{"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
                 {"PartNumber": 2, "ETag": r2["ETag"]}]
        r = self.s3.complete_multipart_upload(Bucket=self.b, Key="copied", UploadId=uid,
                                              MultipartUpload={"Parts": parts})
        self.assertEqual(r["ETag"], h.multipart_etag([piece, b"tail bytes"]))
        self.assertEqual(self.get_bytes(self.b, "copied"), piece + b"tail bytes")

    def test_upload_part_copy_whole_object(self):
        self.put(self.b, "small-src", self.tail)
        uid = self.s3.create_multipart_upload(Bucket=self.b, Key="whole")["UploadId"]
        r = self.s3.upload_part_copy(Bucket=self.b, Key="whole", UploadId=uid, PartNumber=1,
                                     CopySource={"Bucket": self.b, "Key": "small-src"})
        self.s3.complete_multipart_upload(Bucket=self.b, Key="whole", UploadId=uid,
                                          MultipartUpload={"Parts": [
                                              {"PartNumber": 1,
                                               "ETag": r["CopyPartResult"]["ETag"]}]})
        self.assertEqual(self.get_bytes(self.b, "whole"), self.tail)

    def test_invalid_part(self):
        uid, done = self.upload("ip", [self.part1, self.tail])
        bad_etag = [done[0], {"PartNumber": 2, "ETag": '"%s"' % ("0" * 32)}]
        self.assertS3Error("InvalidPart", self.s3.complete_multipart_upload, Bucket=self.b,
                           Key="ip", UploadId=uid, MultipartUpload={"Parts": bad_etag},
                           status=400)
        # Part 3 was never uploaded (part 1 is 5 MiB, so no size rule applies).
        missing = [done[0], {"PartNumber": 3, "ETag": done[1]["ETag"]}]
        self.assertS3Error("InvalidPart", self.s3.complete_multipart_upload, Bucket=self.b,
                           Key="ip", UploadId=uid, MultipartUpload={"Parts": missing},
                           status=400)
        # The upload is still usable after a failed completion.
        self.s3.complete_multipart_upload(Bucket=self.b, Key="ip", UploadId=uid,
                                          MultipartUpload={"Parts": done})
        self.assertEqual(self.get_bytes(self.b, "ip"), self.part1 + self.tail)

    def test_invalid_part_order(self):
        uid, done = self.upload("order", [self.part1, self.tail])
        for parts in ([done[1], done[0]], [done[0], done[0]]):
            with self.subTest(order=[p["PartNumber"] for p in parts]):
                self.assertS3Error("InvalidPartOrder", self.s3.complete_multipart_upload,
                                   Bucket=self.b, Key="order", UploadId=uid,
                                   MultipartUpload={"Parts": parts}, status=400)
        self.s3.abort_multipart_upload(Bucket=self.b, Key="order", UploadId=uid)

    def test_entity_too_small(self):
        small = [b"a" * 1024, b"b" * 1024]
        uid, done = self.upload("small", small)
        self.assertS3Error("EntityTooSmall", self.s3.complete_multipart_upload, Bucket=self.b,
                           Key="small", UploadId=uid, MultipartUpload={"Parts": done},
                           status=400)
        self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b, Key="small")
        # A single small part is fine: only non-final parts need 5 MiB.
        uid, done = self.upload("one-small", [b"c" * 100])
        self.s3.complete_multipart_upload(Bucket=self.b, Key="one-small", UploadId=uid,
                                          MultipartUpload={"Parts": done})
        self.assertEqual(self.get_bytes(self.b, "one-small"), b"c" * 100)

    def test_complete_malformed_xml(self):
        uid, _ = self.upload("mx", [b"x"])
        resp = self.server.request("POST", "/%s/mx" % self.b, query=[("uploadId", uid)],
                                   body=b"<CompleteMultipartUpload><Part><PartNumber>1")
        self.assertRawError(resp, 400, "MalformedXML")
        resp = self.server.request("POST", "/%s/mx" % self.b, query=[("uploadId", uid)],
                                   body=b"<CompleteMultipartUpload></CompleteMultipartUpload>")
        self.assertRawError(resp, 400, "MalformedXML")

    def test_abort_and_no_such_upload(self):
        uid, done = self.upload("ab", [b"data"])
        r = self.s3.abort_multipart_upload(Bucket=self.b, Key="ab", UploadId=uid)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertS3Error("NoSuchUpload", self.s3.upload_part, Bucket=self.b, Key="ab",
                           UploadId=uid, PartNumber=2, Body=b"x", status=404)
        self.assertS3Error("NoSuchUpload", self.s3.list_parts, Bucket=self.b, Key="ab",
                           UploadId=uid, status=404)
        self.assertS3Error("NoSuchUpload", self.s3.complete_multipart_upload, Bucket=self.b,
                           Key="ab", UploadId=uid, MultipartUpload={"Parts": done}, status=404)
        self.assertS3Error("NoSuchUpload", self.s3.abort_multipart_upload, Bucket=self.b,
                           Key="ab", UploadId=uid, status=404)
        self.assertS3Error("NoSuchUpload", self.s3.upload_part, Bucket=self.b, Key="ab",
                           UploadId="bm90LWFuLXVwbG9hZA", PartNumber=1, Body=b"x", status=404)
        self.assertS3Error("NoSuchKey", self.s3.get_object, Bucket=self.b, Key="ab")
        self.assertNotIn("Uploads", self.s3.list_multipart_uploads(Bucket=self.b))

    def test_upload_id_is_bound_to_key(self):
        uid, _ = self.upload("bound", [b"x"])
        self.assertS3Error("NoSuchUpload", self.s3.upload_part, Bucket=self.b, Key="other-key",
                           UploadId=uid, PartNumber=1, Body=b"x", status=404)
        self.s3.abort_multipart_upload(Bucket=self.b, Key="bound", UploadId=uid)

    def test_list_parts_pagination(self):
        bodies = [("part-%d " % n).encode() * (n * 10) for n in range(1, 8)]
        uid, done = self.upload("lp", bodies)
        got, marker, pages = [], None, 0
        while True:
            kw = {"PartNumberMarker": marker} if marker is not None else {}
            r = self.s3.list_parts(Bucket=self.b, Key="lp", UploadId=uid, MaxParts=3, **kw)
            pages += 1
            parts = r.get("Parts", [])
            self.assertLessEqual(len(parts), 3)
            got += parts
            if not r["IsTruncated"]:
                break
            marker = r["NextPartNumberMarker"]
            self.assertEqual(marker, parts[-1]["PartNumber"])
            self.assertLess(pages, 10)
        self.assertEqual(pages, 3)
        self.assertEqual([p["PartNumber"] for p in got], list(range(1, 8)))
        self.assertEqual([p["ETag"] for p in got], [d["ETag"] for d in done])
        self.assertEqual([p["Size"] for p in got], [len(b) for b in bodies])
        self.assertEqual(r["UploadId"], uid)
        self.s3.abort_multipart_upload(Bucket=self.b, Key="lp", UploadId=uid)

    def test_list_multipart_uploads_pagination(self):
        keys = ["u/a", "u/b", "u/b", "u/c", "v/d"]
        ids = {}
        for k in keys:
            ids.setdefault(k, []).append(
                self.s3.create_multipart_upload(Bucket=self.b, Key=k)["UploadId"])
        seen, kmark, umark = [], None, None
        for _ in range(20):
            kw = {}
            if kmark is not None:
                kw["KeyMarker"] = kmark
                if umark:
                    kw["UploadIdMarker"] = umark
            r = self.s3.list_multipart_uploads(Bucket=self.b, MaxUploads=2, **kw)
            ups = r.get("Uploads", [])
            self.assertLessEqual(len(ups), 2)
            seen += [(u["Key"], u["UploadId"]) for u in ups]
            if not r["IsTruncated"]:
                break
            kmark, umark = r["NextKeyMarker"], r.get("NextUploadIdMarker")
        self.assertEqual(sorted(seen), sorted((k, u) for k, us in ids.items() for u in us))
        self.assertEqual([k for k, _ in seen], sorted(keys), "uploads listed in key order")
        r = self.s3.list_multipart_uploads(Bucket=self.b, Prefix="u/", Delimiter="/")
        self.assertEqual(len(r.get("Uploads", [])), 4)
        r = self.s3.list_multipart_uploads(Bucket=self.b, Delimiter="/")
        self.assertEqual([p["Prefix"] for p in r.get("CommonPrefixes", [])], ["u/", "v/"])
        for k, us in ids.items():
            for u in us:
                self.s3.abort_multipart_upload(Bucket=self.b, Key=k, UploadId=u)

    def test_multipart_metadata_and_content_type(self):
        up = self.s3.create_multipart_upload(Bucket=self.b, Key="meta", ContentType="video/mp4",
                                             Metadata={"camera": "front"})
        r = self.s3.upload_part(Bucket=self.b, Key="meta", UploadId=up["UploadId"],
                                PartNumber=1, Body=b"frames")
        self.s3.complete_multipart_upload(Bucket=self.b, Key="meta", UploadId=up["UploadId"],
                                          MultipartUpload={"Parts": [
                                              {"PartNumber": 1, "ETag": r["ETag"]}]})
        head = self.s3.head_object(Bucket=self.b, Key="meta")
        self.assertEqual(head["ContentType"], "video/mp4")
        self.assertEqual(head["Metadata"], {"camera": "front"})

    def test_upload_to_missing_bucket(self):
        self.assertS3Error("NoSuchBucket", self.s3.create_multipart_upload,
                           Bucket=h.unique_bucket("nob"), Key="k", status=404)


if __name__ == "__main__":
    unittest.main()
