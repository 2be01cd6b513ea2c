"""Bucket policies and canned ACLs (issue 3): a policy granting another tenant's user exactly
s3:GetObject on one prefix allows that and nothing else; explicit Deny wins over Allow (even for
the bucket's own tenant); MalformedPolicy for bad documents. public-read buckets and objects are
served to anonymous GETs, private ones are not; authenticated-read is readable by any tenant's
key but not anonymously."""

import json
import unittest

import requests

import harness as h
import tenancy as t

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def stmt(effect, principal, action, resource, sid=None):
    s = {"Effect": effect, "Principal": principal, "Action": action, "Resource": resource}
    if sid:
        s["Sid"] = sid
    return s


class TenantsFixture(t.TenancyMixin, h.ServerTestCase):
    gzy_only = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ten = t.Tenancy(cls.server)
        cls.ta, cls.tb = t.unique_tenant("acme"), t.unique_tenant("globex")
        ten.tenant_add(cls.ta)
        ten.tenant_add(cls.tb)
        cls.alice = ten.principal(cls.ta, "alice", "tenant-admin")
        cls.amy = ten.principal(cls.ta, "amy", "tenant-member")
        cls.bob = ten.principal(cls.tb, "bob", "tenant-admin")
        cls.bea = ten.principal(cls.tb, "bea", "tenant-member")
        cls.ab = h.unique_bucket("pol-a")
        cls.alice.s3.create_bucket(Bucket=cls.ab)

    def b_bucket(self, prefix, objects=None):
        name = h.unique_bucket(prefix)
        self.bob.s3.create_bucket(Bucket=name)
        for k, v in (objects or {}).items():
            self.bob.s3.put_object(Bucket=name, Key=k, Body=v)
        return name

    def anon(self, method, bucket, key="", data=None):
        url = "%s/%s/%s" % (self.server.endpoint, bucket, key)
        return requests.request(method, url, data=data, timeout=30)

    def assertAnon(self, method, bucket, key, status, body=None, code=None):
        r = self.anon(method, bucket, key, data=b"anon" if method == "PUT" else None)
        self.assertEqual(r.status_code, status, "anonymous %s /%s/%s: %s"
                         % (method, bucket, key, r.text[:300]))
        if body is not None:
            self.assertEqual(r.content, body)
        if code is not None:
            self.assertEqual(h.xml_error_code(r.content), code)
        return r


class PolicyTests(TenantsFixture):
    def test_grant_get_on_one_prefix(self):
        objs = {"shared/doc.txt": b"shared by B", "shared/secret.txt": b"never for A",
                "private/x": b"private", "top.txt": b"top"}
        b = self.b_bucket("pol-grant", objs)
        doc = policy(
            stmt("Allow", {"AWS": self.alice.arn}, "s3:GetObject",
                 "arn:aws:s3:::%s/shared/*" % b, sid="ShareWithAlice"),
            stmt("Deny", {"AWS": [self.alice.arn]}, "s3:GetObject",
                 "arn:aws:s3:::%s/shared/secret*" % b, sid="ButNotTheSecret"))
        self.bob.s3.put_bucket_policy(Bucket=b, Policy=doc)
        got = self.bob.s3.get_bucket_policy(Bucket=b)["Policy"]
        self.assertEqual(json.loads(got), json.loads(doc))

        a = self.alice.s3
        self.assertEqual(a.get_object(Bucket=b, Key="shared/doc.txt")["Body"].read(),
                         b"shared by B")
        # HeadObject is authorised as s3:GetObject (as in AWS).
        self.assertEqual(a.head_object(Bucket=b, Key="shared/doc.txt")["ContentLength"], 11)
        denied = [
            ("GetObject denied by the Deny statement", a.get_object,
             dict(Bucket=b, Key="shared/secret.txt")),
            ("GetObject outside the prefix", a.get_object, dict(Bucket=b, Key="private/x")),
            ("GetObject at the top", a.get_object, dict(Bucket=b, Key="top.txt")),
            ("PutObject in the prefix", a.put_object, dict(Bucket=b, Key="shared/new",
                                                           Body=b"x")),
            ("PutObject overwrite", a.put_object, dict(Bucket=b, Key="shared/doc.txt",
                                                       Body=b"x")),
            ("DeleteObject in the prefix", a.delete_object, dict(Bucket=b,
                                                                 Key="shared/doc.txt")),
            ("DeleteObjects", a.delete_objects, dict(Bucket=b, Delete={"Objects": [
                {"Key": "shared/doc.txt"}]})),
            ("ListObjectsV2", a.list_objects_v2, dict(Bucket=b)),
            ("ListObjectsV2 prefix", a.list_objects_v2, dict(Bucket=b, Prefix="shared/")),
            ("ListObjects", a.list_objects, dict(Bucket=b, Prefix="shared/")),
            ("GetObjectAcl", a.get_object_acl, dict(Bucket=b, Key="shared/doc.txt")),
            ("PutObjectAcl", a.put_object_acl, dict(Bucket=b, Key="shared/doc.txt",
                                                    ACL="public-read")),
            ("GetBucketPolicy", a.get_bucket_policy, dict(Bucket=b)),
            ("PutBucketPolicy", a.put_bucket_policy, dict(Bucket=b, Policy=doc)),
            ("DeleteBucketPolicy", a.delete_bucket_policy, dict(Bucket=b)),
            ("CreateMultipartUpload", a.create_multipart_upload, dict(Bucket=b,
                                                                       Key="shared/mp")),
            ("ListMultipartUploads", a.list_multipart_uploads, dict(Bucket=b)),
            ("CopyObject of an ungranted object", a.copy_object, dict(
                Bucket=self.ab, Key="copy", CopySource={"Bucket": b, "Key": "private/x"})),
            ("CopyObject into B", a.copy_object, dict(
                Bucket=b, Key="shared/copy", CopySource={"Bucket": b, "Key": "shared/doc.txt"})),
            ("DeleteBucket", a.delete_bucket, dict(Bucket=b)),
            ("GetObject by another user of A's tenant", self.amy.s3.get_object,
             dict(Bucket=b, Key="shared/doc.txt")),
        ]
        for label, fn, kwargs in denied:
            with self.subTest(op=label):
                self.assertDenied(label, fn, **kwargs)
        self.assertAnon("GET", b, "shared/doc.txt", 403, code="AccessDenied")
        # The owner's own users are not limited by a statement that names someone else.
        self.assertEqual(self.bea.s3.get_object(Bucket=b, Key="shared/secret.txt")["Body"].read(),
                         b"never for A")
        self.assertEqual(self.bucket_snapshot(self.bob.s3, b).keys(), objs.keys())

        self.bob.s3.delete_bucket_policy(Bucket=b)
        self.assertDenied("GetObject after DeleteBucketPolicy", a.get_object, Bucket=b,
                          Key="shared/doc.txt")
        self.assertDenied("GetBucketPolicy after delete", self.bob.s3.get_bucket_policy,
                          Bucket=b, code="NoSuchBucketPolicy", status=404)

    def test_explicit_deny_wins_for_own_tenant_and_wildcards(self):
        b = self.b_bucket("pol-deny", {"locked/a": b"locked", "open/a": b"open",
                                       "pub/a": b"pub"})
        doc = policy(
            stmt("Deny", "*", ["s3:DeleteObject", "s3:PutObject"],
                 "arn:aws:s3:::%s/locked/*" % b),
            stmt("Allow", {"AWS": "*"}, "s3:ListBucket", "arn:aws:s3:::%s" % b),
            stmt("Allow", {"AWS": self.alice.arn}, "s3:Get*", "arn:aws:s3:::%s/pub/*" % b),
            stmt("Allow", {"AWS": self.amy.user_id or self.amy.arn}, "s3:GetObject",
                 "arn:aws:s3:::%s/open/*" % b))
        self.bob.s3.put_bucket_policy(Bucket=b, Policy=doc)
        # Deny beats the tenant's own admin and member.
        for who in (self.bob, self.bea):
            self.assertDenied("%s DeleteObject locked/a" % who.name, who.s3.delete_object,
                              Bucket=b, Key="locked/a")
            self.assertDenied("%s PutObject locked/b" % who.name, who.s3.put_object, Bucket=b,
                              Key="locked/b", Body=b"x")
        self.bea.s3.put_object(Bucket=b, Key="open/b", Body=b"fine")
        self.assertEqual(self.bob.s3.get_object(Bucket=b, Key="locked/a")["Body"].read(),
                         b"locked")
        # Allow with {"AWS": "*"} and an action by name: any tenant's user may list.
        keys = [o["Key"] for o in self.alice.s3.list_objects_v2(Bucket=b)["Contents"]]
        self.assertEqual(sorted(keys), ["locked/a", "open/a", "open/b", "pub/a"])
        # s3:Get* on pub/* for alice.
        self.assertEqual(self.alice.s3.get_object(Bucket=b, Key="pub/a")["Body"].read(), b"pub")
        self.assertDenied("alice GetObject open/a", self.alice.s3.get_object, Bucket=b,
                          Key="open/a")
        self.assertDenied("alice PutObject pub/b", self.alice.s3.put_object, Bucket=b,
                          Key="pub/b", Body=b"x")
        # A principal by canonical user id.
        self.assertEqual(self.amy.s3.get_object(Bucket=b, Key="open/a")["Body"].read(), b"open")
        self.assertDenied("amy GetObject pub/a", self.amy.s3.get_object, Bucket=b, Key="pub/a")

    def test_copy_reads_with_the_granted_get(self):
        """CopyObject reads its source with s3:GetObject (as in AWS): a granted object can be
        copied into the grantee's own bucket, an ungranted one cannot, and nothing can be
        written into the granting bucket."""
        b = self.b_bucket("pol-copy", {"shared/doc": b"copy me", "private/doc": b"not me"})
        self.bob.s3.put_bucket_policy(Bucket=b, Policy=policy(stmt(
            "Allow", {"AWS": self.alice.arn}, "s3:GetObject", "arn:aws:s3:::%s/shared/*" % b)))
        self.alice.s3.copy_object(Bucket=self.ab, Key="copied",
                                  CopySource={"Bucket": b, "Key": "shared/doc"})
        self.assertEqual(self.alice.s3.get_object(Bucket=self.ab, Key="copied")["Body"].read(),
                         b"copy me")
        self.assertDenied("copy ungranted", self.alice.s3.copy_object, Bucket=self.ab,
                          Key="copied2", CopySource={"Bucket": b, "Key": "private/doc"})
        self.assertDenied("copy into the granting bucket", self.alice.s3.copy_object, Bucket=b,
                          Key="shared/planted", CopySource={"Bucket": b, "Key": "shared/doc"})
        self.assertEqual(sorted(self.bucket_snapshot(self.bob.s3, b)),
                         ["private/doc", "shared/doc"])

    def test_principal_star_and_deny_over_public_acl(self):
        """Principal "*" includes anonymous callers; a Deny statement beats a public-read
        ACL."""
        b = self.b_bucket("pol-star", {"site/index.html": b"hello", "site/draft.html": b"wip",
                                       "other": b"o"})
        self.bob.s3.put_bucket_policy(Bucket=b, Policy=policy(stmt(
            "Allow", "*", "s3:GetObject", "arn:aws:s3:::%s/site/*" % b)))
        self.assertAnon("GET", b, "site/index.html", 200, body=b"hello")
        self.assertAnon("GET", b, "other", 403, code="AccessDenied")
        self.assertAnon("GET", b, "", 403, code="AccessDenied")
        self.assertAnon("PUT", b, "site/x", 403, code="AccessDenied")
        self.bob.s3.put_bucket_acl(Bucket=b, ACL="public-read")
        self.bob.s3.put_bucket_policy(Bucket=b, Policy=policy(stmt(
            "Deny", "*", "s3:GetObject", "arn:aws:s3:::%s/site/draft*" % b)))
        self.assertAnon("GET", b, "site/index.html", 200, body=b"hello")
        self.assertAnon("GET", b, "other", 200, body=b"o")
        self.assertAnon("GET", b, "site/draft.html", 403, code="AccessDenied")
        self.assertDenied("A GetObject draft", self.alice.s3.get_object, Bucket=b,
                          Key="site/draft.html")

    def test_policy_grammar(self):
        """The rest of the supported grammar: '?' wildcards, NotAction, NotResource, action
        names in any case, a CanonicalUser principal; each decided the way AWS does."""
        b = self.b_bucket("pol-grammar", {"file-1.txt": b"1", "file-12.txt": b"12", "x": b"x"})
        arn = "arn:aws:s3:::%s" % b
        a, bea = self.alice.s3, self.bea.s3

        def check(doc, expect):
            self.bob.s3.put_bucket_policy(Bucket=b, Policy=doc)
            for label, fn, kw, ok in expect:
                with self.subTest(policy=doc[:120], op=label):
                    (self.assertAllowed if ok else self.assertDenied)(label, fn, **kw)
            self.bob.s3.delete_bucket_policy(Bucket=b)

        get = lambda who, key: (who.get_object, dict(Bucket=b, Key=key))  # noqa: E731
        check(policy(stmt("Allow", {"AWS": self.alice.arn}, "s3:GetObject",
                          arn + "/file-?.txt")),
              [("A get file-1.txt", *get(a, "file-1.txt"), True),
               ("A get file-12.txt", *get(a, "file-12.txt"), False),
               ("A get x", *get(a, "x"), False)])
        check(policy(stmt("Allow", {"AWS": self.alice.arn}, "S3:getobject", arn + "/x")),
              [("A get x (action in lower case)", *get(a, "x"), True)])
        check(json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": self.alice.arn}, "Action": "s3:GetObject",
            "NotResource": arn + "/x"}]}),
              [("A get file-1.txt (NotResource)", *get(a, "file-1.txt"), True),
               ("A get x (NotResource)", *get(a, "x"), False)])
        check(json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "NotAction": "s3:GetObject",
            "Resource": arn + "/*"}]}),
              [("own member get (NotAction deny)", *get(bea, "x"), True),
               ("own member put (NotAction deny)", bea.put_object,
                dict(Bucket=b, Key="y", Body=b"y"), False)])
        if self.alice.user_id:
            check(policy(stmt("Allow", {"CanonicalUser": self.alice.user_id}, "s3:GetObject",
                              arn + "/x")),
                  [("A get x (CanonicalUser)", *get(a, "x"), True)])

    def test_policy_limits_and_unsupported_fields(self):
        """Conditions are refused rather than ignored (an ignored condition would grant more
        than the document says); documents over 20 KiB are refused."""
        b = self.b_bucket("pol-limits", {"x": b"x"})
        arn = "arn:aws:s3:::%s" % b
        cond = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": self.alice.arn}, "Action": "s3:GetObject",
            "Resource": arn + "/*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]})
        self.assertDenied("Condition", self.bob.s3.put_bucket_policy, Bucket=b, Policy=cond,
                          code="MalformedPolicy", status=400)
        self.assertDenied("A get x", self.alice.s3.get_object, Bucket=b, Key="x")
        big = policy(*[stmt("Allow", {"AWS": self.alice.arn}, "s3:GetObject",
                            arn + "/%0100d" % i, sid="S%d" % i) for i in range(200)])
        self.assertGreater(len(big), 20 * 1024)
        self.assertDenied("policy over 20 KiB", self.bob.s3.put_bucket_policy, Bucket=b,
                          Policy=big, code="MalformedPolicy", status=400)
        self.assertDenied("nothing stored", self.bob.s3.get_bucket_policy, Bucket=b,
                          code="NoSuchBucketPolicy", status=404)

    def test_malformed_policies(self):
        b = self.b_bucket("pol-bad")
        arn = "arn:aws:s3:::%s/*" % b
        bad = {
            "not JSON": "{this is not json",
            "no Statement": json.dumps({"Version": "2012-10-17"}),
            "Effect Maybe": policy(stmt("Maybe", "*", "s3:GetObject", arn)),
            "unknown action": policy(stmt("Allow", "*", "s3:FlyToTheMoon", arn)),
            "resource of another bucket": policy(stmt("Allow", "*", "s3:GetObject",
                                                      "arn:aws:s3:::%s/*" % self.ab)),
            "not an s3 ARN": policy(stmt("Allow", "*", "s3:GetObject", "bucket/*")),
            "no Principal": json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": arn}]}),
        }
        for label, doc in bad.items():
            with self.subTest(policy=label):
                self.assertDenied(label, self.bob.s3.put_bucket_policy, Bucket=b, Policy=doc,
                                  code="MalformedPolicy", status=400)
        self.assertDenied("no policy stored", self.bob.s3.get_bucket_policy, Bucket=b,
                          code="NoSuchBucketPolicy", status=404)

    def test_policy_needs_bucket_admin(self):
        """A tenant member cannot change its own bucket's policy (that is the tenant admin's)."""
        b = self.b_bucket("pol-member")
        doc = policy(stmt("Allow", {"AWS": self.alice.arn}, "s3:*", "arn:aws:s3:::%s/*" % b))
        self.assertDenied("member PutBucketPolicy", self.bea.s3.put_bucket_policy, Bucket=b,
                          Policy=doc)
        self.assertDenied("policy not stored", self.bob.s3.get_bucket_policy, Bucket=b,
                          code="NoSuchBucketPolicy", status=404)


class CannedAclTests(TenantsFixture):
    def grants(self, resp):
        return {(g["Grantee"].get("URI") or g["Grantee"].get("ID"), g["Permission"])
                for g in resp["Grants"]}

    def test_public_read_bucket(self):
        b = self.b_bucket("acl-pub", {"page.html": b"<h1>public</h1>", "dir/x": b"x"})
        self.assertAnon("GET", b, "page.html", 403, code="AccessDenied")
        self.bob.s3.put_bucket_acl(Bucket=b, ACL="public-read")
        grants = self.grants(self.bob.s3.get_bucket_acl(Bucket=b))
        self.assertIn((ALL_USERS, "READ"), grants)
        self.assertAnon("GET", b, "page.html", 200, body=b"<h1>public</h1>")
        r = self.assertAnon("HEAD", b, "page.html", 200)
        self.assertEqual(r.headers.get("Content-Length"), "15")
        r = self.assertAnon("GET", b, "", 200)
        self.assertIn(b"<Key>dir/x</Key>", r.content)
        # Any tenant's key reads too; nobody but the owner writes.
        self.assertEqual(self.alice.s3.get_object(Bucket=b, Key="dir/x")["Body"].read(), b"x")
        self.assertAnon("PUT", b, "anon.txt", 403, code="AccessDenied")
        self.assertAnon("DELETE", b, "page.html", 403, code="AccessDenied")
        self.assertDenied("A PutObject", self.alice.s3.put_object, Bucket=b, Key="a", Body=b"a")
        self.assertDenied("A DeleteObject", self.alice.s3.delete_object, Bucket=b, Key="dir/x")
        self.assertDenied("A PutBucketAcl", self.alice.s3.put_bucket_acl, Bucket=b,
                          ACL="private")
        # Back to private: anonymous denied again.
        self.bob.s3.put_bucket_acl(Bucket=b, ACL="private")
        self.assertNotIn((ALL_USERS, "READ"), self.grants(self.bob.s3.get_bucket_acl(Bucket=b)))
        self.assertAnon("GET", b, "page.html", 403, code="AccessDenied")
        self.assertAnon("GET", b, "", 403, code="AccessDenied")

    def test_create_bucket_with_acl_header(self):
        b = h.unique_bucket("acl-create")
        self.bob.s3.create_bucket(Bucket=b, ACL="public-read")
        self.bob.s3.put_object(Bucket=b, Key="k", Body=b"hello")
        self.assertAnon("GET", b, "k", 200, body=b"hello")

    def test_private_bucket_and_object_acls(self):
        b = self.b_bucket("acl-obj", {"private.txt": b"private"})
        self.bob.s3.put_object(Bucket=b, Key="public.txt", Body=b"public", ACL="public-read")
        self.bob.s3.put_object(Bucket=b, Key="later.txt", Body=b"later")
        self.assertAnon("GET", b, "public.txt", 200, body=b"public")
        self.assertIn((ALL_USERS, "READ"),
                      self.grants(self.bob.s3.get_object_acl(Bucket=b, Key="public.txt")))
        self.assertAnon("GET", b, "private.txt", 403, code="AccessDenied")
        self.assertAnon("GET", b, "later.txt", 403, code="AccessDenied")
        self.assertAnon("GET", b, "", 403, code="AccessDenied")  # listing stays private
        self.assertNotIn((ALL_USERS, "READ"),
                         self.grants(self.bob.s3.get_object_acl(Bucket=b, Key="private.txt")))
        self.bob.s3.put_object_acl(Bucket=b, Key="later.txt", ACL="public-read")
        self.assertAnon("GET", b, "later.txt", 200, body=b"later")
        self.bob.s3.put_object_acl(Bucket=b, Key="later.txt", ACL="private")
        self.assertAnon("GET", b, "later.txt", 403, code="AccessDenied")
        # Overwriting an object without an ACL header makes it private again (as in AWS).
        self.bob.s3.put_object(Bucket=b, Key="public.txt", Body=b"replaced")
        self.assertAnon("GET", b, "public.txt", 403, code="AccessDenied")
        self.assertDenied("GetObjectAcl missing key", self.bob.s3.get_object_acl, Bucket=b,
                          Key="nope", code="NoSuchKey", status=404)

    def test_authenticated_read(self):
        b = self.b_bucket("acl-auth", {"doc": b"for signed-in users"})
        self.bob.s3.put_bucket_acl(Bucket=b, ACL="authenticated-read")
        self.assertIn((AUTH_USERS, "READ"), self.grants(self.bob.s3.get_bucket_acl(Bucket=b)))
        self.assertEqual(self.alice.s3.get_object(Bucket=b, Key="doc")["Body"].read(),
                         b"for signed-in users")
        self.assertAnon("GET", b, "doc", 403, code="AccessDenied")
        self.assertDenied("A PutObject", self.alice.s3.put_object, Bucket=b, Key="x", Body=b"x")
        # Object-level authenticated-read in a private bucket.
        c = self.b_bucket("acl-auth-obj", {"closed": b"closed"})
        self.bob.s3.put_object(Bucket=c, Key="signed", Body=b"signed", ACL="authenticated-read")
        self.assertIn((AUTH_USERS, "READ"),
                      self.grants(self.bob.s3.get_object_acl(Bucket=c, Key="signed")))
        self.assertEqual(self.amy.s3.get_object(Bucket=c, Key="signed")["Body"].read(),
                         b"signed")
        self.assertAnon("GET", c, "signed", 403, code="AccessDenied")
        self.assertDenied("A GetObject closed", self.amy.s3.get_object, Bucket=c, Key="closed")

    def test_acl_owner_is_canonical_user(self):
        b = self.b_bucket("acl-owner", {"k": b"v"})
        owner = self.bob.s3.get_bucket_acl(Bucket=b)["Owner"]
        self.assertTrue(owner.get("ID"), owner)
        if self.bob.user_id:
            self.assertEqual(owner["ID"], self.bob.user_id)
        self.assertIn((owner["ID"], "FULL_CONTROL"),
                      self.grants(self.bob.s3.get_bucket_acl(Bucket=b)))

    def test_unsupported_canned_acl_rejected(self):
        b = self.b_bucket("acl-bad", {"k": b"v"})
        r = self.bob.request("PUT", "/%s" % b, query=[("acl", None)],
                             headers={"x-amz-acl": "public-read-write-everything"})
        self.assertEqual(r.status, 400, r)
        self.assertIn(r.error_code, ("InvalidArgument", "MalformedACLError"), r)
        self.assertAnon("GET", b, "k", 403, code="AccessDenied")


if __name__ == "__main__":
    unittest.main()
