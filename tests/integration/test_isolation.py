"""Tenant isolation (issue 3): two tenants created with `gzy admin`; every S3 operation the server
supports, sent with tenant A's keys against tenant B's buckets and objects, is AccessDenied (403)
and leaves B's data exactly as it was; ListBuckets shows each tenant only its own buckets."""

import unittest

import requests

import harness as h
import tenancy as t


class IsolationTests(t.TenancyMixin, h.ServerTestCase):
    gzy_only = True
    server_kwargs = {"domain": h.VHOST_DOMAIN}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ten = t.Tenancy(cls.server)
        cls.ta, cls.tb = t.unique_tenant("acme"), t.unique_tenant("globex")
        ten.tenant_add(cls.ta)
        ten.tenant_add(cls.tb)
        cls.alice = ten.principal(cls.ta, "alice", "tenant-admin")
        cls.bob = ten.principal(cls.tb, "bob", "tenant-admin")
        cls.ab = h.unique_bucket("iso-a")
        cls.bb = h.unique_bucket("iso-b")
        cls.bb_empty = h.unique_bucket("iso-b-empty")
        cls.alice.s3.create_bucket(Bucket=cls.ab)
        cls.alice.s3.put_object(Bucket=cls.ab, Key="a.txt", Body=b"tenant A's own data")
        cls.bob.s3.create_bucket(Bucket=cls.bb)
        cls.bob.s3.create_bucket(Bucket=cls.bb_empty)
        cls.b_objects = {
            "doc.txt": b"B's document",
            "shared/doc.txt": b"B's shared document",
            "dir/big.bin": h.random_bytes(70000, seed="iso"),
        }
        for k, v in cls.b_objects.items():
            cls.bob.s3.put_object(Bucket=cls.bb, Key=k, Body=v)
        cls.b_etag = cls.bob.s3.head_object(Bucket=cls.bb, Key="doc.txt")["ETag"]
        cls.upload_id = cls.bob.s3.create_multipart_upload(Bucket=cls.bb, Key="mp")["UploadId"]
        part = cls.bob.s3.upload_part(Bucket=cls.bb, Key="mp", UploadId=cls.upload_id,
                                      PartNumber=1, Body=b"B's pending part")
        cls.part_etag = part["ETag"]

    def b_state(self):
        """Everything about B's buckets that A must not be able to change."""
        s3 = self.bob.s3
        uploads = s3.list_multipart_uploads(Bucket=self.bb).get("Uploads", [])
        parts = s3.list_parts(Bucket=self.bb, Key="mp", UploadId=self.upload_id).get("Parts", [])
        acl = s3.get_bucket_acl(Bucket=self.bb)["Grants"]
        obj_acl = s3.get_object_acl(Bucket=self.bb, Key="doc.txt")["Grants"]
        status, code, _ = t.client_error(s3.get_bucket_policy, Bucket=self.bb)
        s3.head_bucket(Bucket=self.bb_empty)
        return {
            "objects": self.bucket_snapshot(s3, self.bb),
            "uploads": sorted((u["Key"], u["UploadId"]) for u in uploads),
            "parts": [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts],
            "bucket_acl": sorted(str(g) for g in acl),
            "object_acl": sorted(str(g) for g in obj_acl),
            "policy": (status, code),
        }

    def test_every_operation_denied(self):
        before = self.b_state()
        self.assertEqual(before["policy"], (404, "NoSuchBucketPolicy"))
        self.assertEqual(before["uploads"], [("mp", self.upload_id)])
        a = self.alice.s3
        bb, up = self.bb, self.upload_id
        grab_all = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
                    '{"AWS":"%s"},"Action":"s3:*","Resource":["arn:aws:s3:::%s",'
                    '"arn:aws:s3:::%s/*"]}]}' % (self.alice.arn, bb, bb))
        ops = [
            ("ListObjects", a.list_objects, dict(Bucket=bb)),
            ("ListObjectsV2", a.list_objects_v2, dict(Bucket=bb)),
            ("ListObjectsV2 prefix", a.list_objects_v2, dict(Bucket=bb, Prefix="shared/")),
            ("GetObject", a.get_object, dict(Bucket=bb, Key="doc.txt")),
            ("GetObject range", a.get_object, dict(Bucket=bb, Key="dir/big.bin",
                                                   Range="bytes=0-9")),
            ("GetObject missing key", a.get_object, dict(Bucket=bb, Key="no-such-key")),
            # Preconditions are not evaluated before authorisation (no 304/412 oracle).
            ("GetObject If-None-Match", a.get_object, dict(Bucket=bb, Key="doc.txt",
                                                           IfNoneMatch=self.b_etag)),
            ("GetObject If-Match wrong", a.get_object, dict(Bucket=bb, Key="doc.txt",
                                                            IfMatch='"0000"')),
            ("HeadObject", a.head_object, dict(Bucket=bb, Key="doc.txt")),
            ("HeadObject missing key", a.head_object, dict(Bucket=bb, Key="no-such-key")),
            ("PutObject new", a.put_object, dict(Bucket=bb, Key="planted.txt", Body=b"x")),
            ("PutObject overwrite", a.put_object, dict(Bucket=bb, Key="doc.txt", Body=b"x")),
            ("DeleteObject", a.delete_object, dict(Bucket=bb, Key="doc.txt")),
            ("DeleteObject missing", a.delete_object, dict(Bucket=bb, Key="no-such-key")),
            ("DeleteObjects", a.delete_objects, dict(Bucket=bb, Delete={"Objects": [
                {"Key": "doc.txt"}, {"Key": "shared/doc.txt"}]})),
            ("CopyObject B->A", a.copy_object, dict(
                Bucket=self.ab, Key="stolen.txt", CopySource={"Bucket": bb, "Key": "doc.txt"})),
            ("CopyObject A->B", a.copy_object, dict(
                Bucket=bb, Key="planted-copy.txt",
                CopySource={"Bucket": self.ab, "Key": "a.txt"})),
            ("CopyObject B->B", a.copy_object, dict(
                Bucket=bb, Key="doc.txt", CopySource={"Bucket": bb, "Key": "shared/doc.txt"},
                MetadataDirective="REPLACE", Metadata={"owned": "by-a"})),
            ("CreateMultipartUpload", a.create_multipart_upload, dict(Bucket=bb, Key="mp2")),
            ("UploadPart", a.upload_part, dict(Bucket=bb, Key="mp", UploadId=up, PartNumber=2,
                                               Body=b"A's part")),
            ("UploadPart overwrite", a.upload_part, dict(Bucket=bb, Key="mp", UploadId=up,
                                                         PartNumber=1, Body=b"A's part")),
            ("ListParts", a.list_parts, dict(Bucket=bb, Key="mp", UploadId=up)),
            ("ListParts unknown upload", a.list_parts, dict(Bucket=bb, Key="mp",
                                                           UploadId="no-such-upload")),
            ("ListMultipartUploads", a.list_multipart_uploads, dict(Bucket=bb)),
            ("CompleteMultipartUpload", a.complete_multipart_upload, dict(
                Bucket=bb, Key="mp", UploadId=up, MultipartUpload={"Parts": [
                    {"PartNumber": 1, "ETag": self.part_etag}]})),
            ("AbortMultipartUpload", a.abort_multipart_upload, dict(Bucket=bb, Key="mp",
                                                                    UploadId=up)),
            ("GetBucketPolicy", a.get_bucket_policy, dict(Bucket=bb)),
            ("PutBucketPolicy", a.put_bucket_policy, dict(Bucket=bb, Policy=grab_all)),
            ("DeleteBucketPolicy", a.delete_bucket_policy, dict(Bucket=bb)),
            ("GetBucketAcl", a.get_bucket_acl, dict(Bucket=bb)),
            ("PutBucketAcl", a.put_bucket_acl, dict(Bucket=bb, ACL="public-read")),
            ("GetObjectAcl", a.get_object_acl, dict(Bucket=bb, Key="doc.txt")),
            ("PutObjectAcl", a.put_object_acl, dict(Bucket=bb, Key="doc.txt",
                                                    ACL="public-read")),
            ("GetBucketLocation", a.get_bucket_location, dict(Bucket=bb)),
            ("GetBucketVersioning", a.get_bucket_versioning, dict(Bucket=bb)),
            ("HeadBucket", a.head_bucket, dict(Bucket=bb)),
            ("DeleteBucket empty", a.delete_bucket, dict(Bucket=self.bb_empty)),
            ("DeleteBucket non-empty", a.delete_bucket, dict(Bucket=bb)),
        ]
        for label, fn, kwargs in ops:
            with self.subTest(op=label):
                self.assertDenied(label, fn, **kwargs)
        self.assertEqual(self.b_state(), before, "B's buckets changed after A's requests")
        # A's copy attempt left nothing in A's bucket either.
        self.assertNotIn("stolen.txt", [o["Key"] for o in a.list_objects_v2(
            Bucket=self.ab).get("Contents", [])])

    def test_denied_over_sigv2_presigned_vhost_and_raw(self):
        """The same decision whatever the signing and addressing style."""
        v2 = self.alice.client(signature_version="s3")
        self.assertDenied("SigV2 GetObject", v2.get_object, Bucket=self.bb, Key="doc.txt")
        self.assertDenied("SigV2 ListObjects", v2.list_objects, Bucket=self.bb)
        vh = self.alice.client(addressing="virtual")
        self.assertDenied("virtual-hosted GetObject", vh.get_object, Bucket=self.bb,
                          Key="doc.txt")
        self.assertDenied("virtual-hosted PutObject", vh.put_object, Bucket=self.bb,
                          Key="vhost-plant", Body=b"x")
        self.assertDenied("virtual-hosted ListObjectsV2", vh.list_objects_v2, Bucket=self.bb)
        self.assertEqual(vh.get_object(Bucket=self.ab, Key="a.txt")["Body"].read(),
                         b"tenant A's own data")
        for signer in (self.alice.s3, v2):
            url = signer.generate_presigned_url(
                "get_object", Params={"Bucket": self.bb, "Key": "doc.txt"}, ExpiresIn=300)
            r = requests.get(url, timeout=30)
            self.assertEqual(r.status_code, 403, r.text[:300])
            self.assertEqual(h.xml_error_code(r.content), "AccessDenied")
        url = self.alice.s3.generate_presigned_url(
            "put_object", Params={"Bucket": self.bb, "Key": "presigned-plant"}, ExpiresIn=300)
        r = requests.put(url, data=b"planted", timeout=30)
        self.assertEqual(r.status_code, 403, r.text[:300])
        resp = self.alice.request("GET", "/%s/doc.txt" % self.bb)
        self.assertEqual((resp.status, resp.error_code), (403, "AccessDenied"), resp)
        self.assertNotIn(b"B's document", resp.body)
        resp = self.alice.request("PUT", "/%s/raw-plant" % self.bb, body=b"raw")
        self.assertEqual((resp.status, resp.error_code), (403, "AccessDenied"), resp)
        self.assertDenied("B GetObject raw-plant", self.bob.s3.head_object, Bucket=self.bb,
                          Key="raw-plant", code="404", status=404)

    def test_denied_through_aws_cli(self):
        env = {"AWS_ACCESS_KEY_ID": self.alice.access_key,
               "AWS_SECRET_ACCESS_KEY": self.alice.secret_key}
        cmd = ["aws", "--endpoint-url", self.server.endpoint, "s3", "ls", "s3://%s/" % self.bb]
        p = self.server._run(cmd, self.server.tool_env(env), False, 120)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("AccessDenied", p.stderr)
        cmd = ["aws", "--endpoint-url", self.server.endpoint, "s3", "cp",
               "s3://%s/doc.txt" % self.bb, "-"]
        p = self.server._run(cmd, self.server.tool_env(env), False, 120)
        self.assertNotEqual(p.returncode, 0)
        self.assertNotIn("B's document", p.stdout)
        # A's own bucket works through the same CLI and credentials.
        cmd = ["aws", "--endpoint-url", self.server.endpoint, "s3", "ls", "s3://%s/" % self.ab]
        p = self.server._run(cmd, self.server.tool_env(env), False, 120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("a.txt", p.stdout)

    def test_list_buckets_shows_only_own(self):
        a_names = {b["Name"] for b in self.alice.s3.list_buckets()["Buckets"]}
        b_names = {b["Name"] for b in self.bob.s3.list_buckets()["Buckets"]}
        self.assertIn(self.ab, a_names)
        self.assertFalse(a_names & {self.bb, self.bb_empty}, "A sees B's buckets: %s" % a_names)
        self.assertTrue({self.bb, self.bb_empty} <= b_names)
        self.assertNotIn(self.ab, b_names)
        owner = self.alice.s3.list_buckets()["Owner"]
        if self.alice.user_id:
            self.assertEqual(owner.get("ID"), self.alice.user_id)

    def test_create_bucket_with_other_tenants_name(self):
        """Names stay globally unique: A cannot take (or be told it owns) B's bucket name."""
        self.assertDenied("CreateBucket on B's name", self.alice.s3.create_bucket,
                          Bucket=self.bb, code="BucketAlreadyExists", status=409)
        self.assertEqual(self.bob.s3.list_objects_v2(Bucket=self.bb, Prefix="doc.txt")["KeyCount"],
                         1)
        self.assertNotIn(self.bb, {b["Name"] for b in self.alice.s3.list_buckets()["Buckets"]})

    def test_own_tenant_still_works(self):
        """The isolation checks do not get in the way of the owners."""
        self.assertEqual(self.alice.s3.get_object(Bucket=self.ab, Key="a.txt")["Body"].read(),
                         b"tenant A's own data")
        self.assertEqual(self.bob.s3.get_object(Bucket=self.bb, Key="doc.txt")["Body"].read(),
                         self.b_objects["doc.txt"])
        b = self.new_bucket_as(self.alice, "iso-own")
        self.alice.s3.put_object(Bucket=b, Key="k", Body=b"v")
        self.alice.s3.copy_object(Bucket=b, Key="k2", CopySource={"Bucket": self.ab,
                                                                   "Key": "a.txt"})
        self.assertEqual(self.alice.s3.get_object(Bucket=b, Key="k2")["Body"].read(),
                         b"tenant A's own data")

    def new_bucket_as(self, who, prefix):
        name = h.unique_bucket(prefix)
        who.s3.create_bucket(Bucket=name)
        return name


if __name__ == "__main__":
    unittest.main()
