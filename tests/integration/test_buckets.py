"""Bucket operations through boto3: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
GetBucketLocation, GetBucketVersioning, and their errors; virtual-hosted addressing."""

import datetime
import unittest

import harness as h


class BucketTests(h.ServerTestCase):
    def test_list_buckets_shows_created(self):
        names = [self.new_bucket() for _ in range(3)]
        resp = self.s3.list_buckets()
        listed = [b["Name"] for b in resp["Buckets"]]
        for n in names:
            self.assertIn(n, listed)
        self.assertEqual(listed, sorted(listed), "ListBuckets is sorted by name")
        self.assertTrue(resp["Owner"].get("ID"), "ListBuckets has an Owner ID")
        now = datetime.datetime.now(datetime.timezone.utc)
        for b in resp["Buckets"]:
            if b["Name"] in names:
                age = abs((now - b["CreationDate"]).total_seconds())
                self.assertLess(age, 600, "CreationDate is recent: %s" % b["CreationDate"])

    def test_create_head_delete(self):
        name = self.new_bucket()
        resp = self.s3.head_bucket(Bucket=name)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 200)
        resp = self.s3.delete_bucket(Bucket=name)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertS3Error("404", self.s3.head_bucket, Bucket=name, status=404)
        self.assertS3Error("NoSuchBucket", self.s3.list_objects_v2, Bucket=name, status=404)
        self.assertNotIn(name, [b["Name"] for b in self.s3.list_buckets()["Buckets"]])

    def test_create_response_location(self):
        name = h.unique_bucket("loc")
        resp = self.s3.create_bucket(Bucket=name)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(resp.get("Location"), "/" + name)

    def test_create_with_empty_configuration(self):
        name = h.unique_bucket("cfg")
        self.s3.create_bucket(Bucket=name, CreateBucketConfiguration={})
        self.s3.head_bucket(Bucket=name)

    def test_create_with_foreign_location_constraint_fails(self):
        name = h.unique_bucket("eu")
        try:
            self.s3.create_bucket(Bucket=name, CreateBucketConfiguration={
                "LocationConstraint": "eu-west-1"})
        except h.botocore.exceptions.ClientError as e:
            self.assertIn(e.response["Error"]["Code"],
                          ("IllegalLocationConstraintException", "InvalidLocationConstraint"))
            self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        else:
            self.fail("a bucket for eu-west-1 was created on a us-east-1 server")
        self.assertS3Error("404", self.s3.head_bucket, Bucket=name)

    def test_bucket_already_owned_by_you(self):
        name = self.new_bucket()
        self.assertS3Error("BucketAlreadyOwnedByYou", self.s3.create_bucket, Bucket=name,
                           status=409)

    def test_bucket_not_empty(self):
        name = self.new_bucket()
        self.put(name, "k", b"x")
        self.assertS3Error("BucketNotEmpty", self.s3.delete_bucket, Bucket=name, status=409)
        self.s3.head_bucket(Bucket=name)
        self.s3.delete_object(Bucket=name, Key="k")
        self.s3.delete_bucket(Bucket=name)

    def test_delete_missing_bucket(self):
        self.assertS3Error("NoSuchBucket", self.s3.delete_bucket, Bucket=h.unique_bucket("gone"),
                           status=404)

    def test_invalid_bucket_names(self):
        bad = ["ab", "a" * 64, "UpperCase", "-leading", "trailing-", "double..dot",
               "192.168.5.4", "under_score", "xn--punycode"]
        for name in bad:
            with self.subTest(name=name):
                self.assertS3Error("InvalidBucketName", self.s3.create_bucket, Bucket=name,
                                   status=400)

    def test_valid_edge_bucket_names(self):
        for name in ["abc", "a" * 63, "with.dots.ok", "0123456789"]:
            with self.subTest(name=name):
                try:
                    self.s3.create_bucket(Bucket=name)
                except h.botocore.exceptions.ClientError as e:
                    if e.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
                        raise
                self.s3.head_bucket(Bucket=name)
                self.s3.delete_bucket(Bucket=name)

    def test_get_bucket_location(self):
        name = self.new_bucket()
        resp = self.s3.get_bucket_location(Bucket=name)
        # us-east-1 is reported as an empty LocationConstraint (boto3 gives None).
        self.assertIn(resp.get("LocationConstraint"), (None, ""))
        self.assertS3Error("NoSuchBucket", self.s3.get_bucket_location,
                           Bucket=h.unique_bucket("gone"))

    def test_get_bucket_versioning_unversioned(self):
        name = self.new_bucket()
        resp = self.s3.get_bucket_versioning(Bucket=name)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertNotIn("Status", resp)
        self.assertNotIn("MFADelete", resp)
        self.assertS3Error("NoSuchBucket", self.s3.get_bucket_versioning,
                           Bucket=h.unique_bucket("gone"))

    def test_head_missing_bucket(self):
        self.assertS3Error("404", self.s3.head_bucket, Bucket=h.unique_bucket("gone"),
                           status=404)

    def test_malformed_create_bucket_xml(self):
        name = h.unique_bucket("mx")
        resp = self.server.request("PUT", "/" + name, body=b"<CreateBucketConfiguration><Loc")
        self.assertRawError(resp, 400, "MalformedXML")
        self.assertS3Error("404", self.s3.head_bucket, Bucket=name)


@h.requires_gzy("virtual-hosted addressing uses gzy's --domain")
class VirtualHostTests(h.ServerTestCase):
    server_kwargs = {"domain": h.VHOST_DOMAIN}

    def test_virtual_hosted_roundtrip(self):
        vs3 = self.server.client(addressing="virtual")
        name = h.unique_bucket("vh")
        vs3.create_bucket(Bucket=name)
        vs3.put_object(Bucket=name, Key="dir/obj.txt", Body=b"vhost body")
        self.assertEqual(vs3.get_object(Bucket=name, Key="dir/obj.txt")["Body"].read(),
                         b"vhost body")
        keys = [o["Key"] for o in vs3.list_objects_v2(Bucket=name)["Contents"]]
        self.assertEqual(keys, ["dir/obj.txt"])
        # The same bucket is reachable path-style on the same server.
        self.assertEqual(self.get_bytes(name, "dir/obj.txt"), b"vhost body")
        self.assertS3Error("NoSuchKey", vs3.get_object, Bucket=name, Key="missing")
        vs3.delete_object(Bucket=name, Key="dir/obj.txt")
        vs3.delete_bucket(Bucket=name)
        self.assertS3Error("404", self.s3.head_bucket, Bucket=name)

    def test_virtual_hosted_sigv2_presigned(self):
        name = self.new_bucket()
        self.put(name, "p.txt", b"presigned vhost")
        vs3 = self.server.client(addressing="virtual", signature_version="s3")
        url = vs3.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "p.txt"},
                                         ExpiresIn=300)
        self.assertIn("%s.%s" % (name, h.VHOST_DOMAIN), url)
        h._patch_resolver_for_vhost()
        import requests
        r = requests.get(url, timeout=30)
        self.assertEqual(r.status_code, 200, r.text[:500])
        self.assertEqual(r.content, b"presigned vhost")


if __name__ == "__main__":
    unittest.main()
