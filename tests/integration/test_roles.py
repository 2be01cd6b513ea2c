"""The five roles (issue 3, src/iam/iam.h, docs/admin-api.md): platform-admin does everything;
supervisor reads metadata across all tenants (ListBuckets, HeadBucket, admin GETs) but never
object data or object listings; tenant-admin manages its tenant's buckets, objects, users and
keys; tenant-member reads and writes objects; tenant-reader only reads. Then suspended tenants:
reads allowed, writes AccessDenied saying the tenant is suspended, resume restores writes."""

import itertools
import json
import unittest

import requests

import harness as h
import tenancy as t

PA, SUP, TA, TM, TR = ("platform-admin", "supervisor", "tenant-admin", "tenant-member",
                       "tenant-reader")
ROLES = (PA, SUP, TA, TM, TR)


def allowed(*roles):
    return {r: r in roles for r in ROLES}


# What each role may do in tenant acme's bucket (S3).
S3_MATRIX = {
    "CreateBucket": allowed(PA, TA),
    "DeleteBucket": allowed(PA, TA),
    "PutObject": allowed(PA, TA, TM),
    "CreateMultipartUpload": allowed(PA, TA, TM),
    "CopyObject": allowed(PA, TA, TM),
    "GetObject": allowed(PA, TA, TM, TR),
    "HeadObject": allowed(PA, TA, TM, TR),
    "ListObjectsV2": allowed(PA, TA, TM, TR),
    "ListObjects": allowed(PA, TA, TM, TR),
    "DeleteObject": allowed(PA, TA, TM),
    "DeleteObjects": allowed(PA, TA, TM),
    "PutBucketPolicy": allowed(PA, TA),
    "PutBucketAcl": allowed(PA, TA),
    "HeadBucket": allowed(*ROLES),
    "GetBucketLocation": allowed(*ROLES),
}


class RoleMatrixTests(t.TenancyMixin, h.ServerTestCase):
    gzy_only = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ten = cls.ten = t.Tenancy(cls.server)
        cls.acme, cls.other = t.unique_tenant("acme"), t.unique_tenant("other")
        ten.tenant_add(cls.acme)
        ten.tenant_add(cls.other)
        cls.who = {
            PA: ten.principal("platform", "ops-" + t.secrets.token_hex(2), PA),
            SUP: ten.principal("platform", "sasac-" + t.secrets.token_hex(2), SUP),
            TA: ten.principal(cls.acme, "boss", TA),
            TM: ten.principal(cls.acme, "dev", TM),
            TR: ten.principal(cls.acme, "auditor", TR),
        }
        cls.other_admin = ten.principal(cls.other, "boss", TA)
        cls.ab = h.unique_bucket("roles-acme")
        cls.ob = h.unique_bucket("roles-other")
        cls.who[TA].s3.create_bucket(Bucket=cls.ab)
        cls.who[TA].s3.put_object(Bucket=cls.ab, Key="seed.txt", Body=b"acme seed data")
        cls.other_admin.s3.create_bucket(Bucket=cls.ob)
        cls.other_admin.s3.put_object(Bucket=cls.ob, Key="secret.txt", Body=b"other's data")
        cls.counter = itertools.count(1)

    def fresh(self, prefix):
        return "%s-%d" % (prefix, next(self.counter))

    def s3_op(self, op, p):
        """Runs op as principal p against acme's bucket; returns a zero-argument callable."""
        s3, ab = p.s3, self.ab
        ta = self.who[TA].s3
        if op == "CreateBucket":
            return lambda: s3.create_bucket(Bucket=h.unique_bucket("roles-new"))
        if op == "DeleteBucket":
            name = h.unique_bucket("roles-del")
            ta.create_bucket(Bucket=name)
            return lambda: s3.delete_bucket(Bucket=name)
        if op == "PutObject":
            return lambda: s3.put_object(Bucket=ab, Key=self.fresh("put"), Body=b"data")
        if op == "CreateMultipartUpload":
            return lambda: s3.create_multipart_upload(Bucket=ab, Key=self.fresh("mp"))
        if op == "CopyObject":
            return lambda: s3.copy_object(Bucket=ab, Key=self.fresh("copy"),
                                          CopySource={"Bucket": ab, "Key": "seed.txt"})
        if op == "GetObject":
            return lambda: s3.get_object(Bucket=ab, Key="seed.txt")
        if op == "HeadObject":
            return lambda: s3.head_object(Bucket=ab, Key="seed.txt")
        if op == "ListObjectsV2":
            return lambda: s3.list_objects_v2(Bucket=ab)
        if op == "ListObjects":
            return lambda: s3.list_objects(Bucket=ab)
        if op in ("DeleteObject", "DeleteObjects"):
            key = self.fresh("victim")
            ta.put_object(Bucket=ab, Key=key, Body=b"delete me")
            if op == "DeleteObject":
                return lambda: s3.delete_object(Bucket=ab, Key=key)
            return lambda: self.delete_objects_checked(s3, ab, key)
        if op == "PutBucketPolicy":
            doc = json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": self.other_admin.arn},
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/nothing-here/*" % ab}]})
            return lambda: s3.put_bucket_policy(Bucket=ab, Policy=doc)
        if op == "PutBucketAcl":
            return lambda: s3.put_bucket_acl(Bucket=ab, ACL="private")
        if op == "HeadBucket":
            return lambda: s3.head_bucket(Bucket=ab)
        if op == "GetBucketLocation":
            return lambda: s3.get_bucket_location(Bucket=ab)
        raise ValueError(op)

    @staticmethod
    def delete_objects_checked(s3, bucket, key):
        r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}]})
        errors = r.get("Errors", [])
        if errors:  # per-key denials count as a denial of the whole request
            raise h.botocore.exceptions.ClientError(
                {"Error": {"Code": errors[0]["Code"], "Message": errors[0].get("Message")},
                 "ResponseMetadata": {"HTTPStatusCode": 403}}, "DeleteObjects")
        return r

    def test_s3_matrix(self):
        for op, expect in S3_MATRIX.items():
            for role in ROLES:
                with self.subTest(op=op, role=role):
                    fn = self.s3_op(op, self.who[role])
                    label = "%s as %s" % (op, role)
                    if expect[role]:
                        self.assertAllowed(label, fn)
                    else:
                        self.assertDenied(label, fn)
        # Nothing the denied roles tried left a trace: the seed is intact, no policy from
        # a member or reader (the allowed tenant-admin/platform-admin ones are identical).
        ta = self.who[TA].s3
        self.assertEqual(ta.get_object(Bucket=self.ab, Key="seed.txt")["Body"].read(),
                         b"acme seed data")

    def test_list_buckets_by_role(self):
        for role in ROLES:
            with self.subTest(role=role):
                names = {b["Name"] for b in self.who[role].s3.list_buckets()["Buckets"]}
                self.assertIn(self.ab, names)
                if role in (PA, SUP):
                    self.assertIn(self.ob, names, "%s sees every tenant's buckets" % role)
                else:
                    self.assertNotIn(self.ob, names, "%s sees another tenant's bucket" % role)

    def test_supervisor_never_reads_object_data(self):
        sup = self.who[SUP].s3
        for bucket, key in ((self.ob, "secret.txt"), (self.ab, "seed.txt")):
            with self.subTest(bucket=bucket):
                sup.head_bucket(Bucket=bucket)
                sup.get_bucket_location(Bucket=bucket)
                for label, fn, kw in (
                        ("GetObject", sup.get_object, dict(Bucket=bucket, Key=key)),
                        ("GetObject range", sup.get_object, dict(Bucket=bucket, Key=key,
                                                                 Range="bytes=0-3")),
                        ("HeadObject", sup.head_object, dict(Bucket=bucket, Key=key)),
                        ("ListObjects", sup.list_objects, dict(Bucket=bucket)),
                        ("ListObjectsV2", sup.list_objects_v2, dict(Bucket=bucket)),
                        ("ListMultipartUploads", sup.list_multipart_uploads,
                         dict(Bucket=bucket)),
                        ("CopyObject", sup.copy_object, dict(
                            Bucket=bucket, Key="copied", CopySource={"Bucket": bucket,
                                                                     "Key": key})),
                        ("PutObject", sup.put_object, dict(Bucket=bucket, Key="x", Body=b"x")),
                        ("DeleteObject", sup.delete_object, dict(Bucket=bucket, Key=key)),
                        ("DeleteBucket", sup.delete_bucket, dict(Bucket=bucket)),
                        ("PutBucketAcl", sup.put_bucket_acl, dict(Bucket=bucket,
                                                                  ACL="public-read"))):
                    self.assertDenied("supervisor %s %s" % (label, bucket), fn, **kw)
        # A presigned URL made with the supervisor's key does not read data either.
        url = sup.generate_presigned_url("get_object", Params={"Bucket": self.ob,
                                                               "Key": "secret.txt"})
        r = requests.get(url, timeout=30)
        self.assertEqual(r.status_code, 403)
        self.assertNotIn(b"other's data", r.content)

    def test_platform_admin_reads_any_tenant(self):
        pa = self.who[PA].s3
        self.assertEqual(pa.get_object(Bucket=self.ob, Key="secret.txt")["Body"].read(),
                         b"other's data")
        keys = [o["Key"] for o in pa.list_objects_v2(Bucket=self.ob)["Contents"]]
        self.assertEqual(keys, ["secret.txt"])

    # ---- the admin API ----

    def admin_call(self, role, method, path, body=None, query=()):
        return self.who[role].admin(method, path, body, query)

    def test_admin_whoami(self):
        for role in ROLES:
            with self.subTest(role=role):
                r = self.admin_call(role, "GET", "/admin/v1/whoami")
                self.assertEqual(r.status, 200, r)
                p = self.who[role]
                self.assertEqual(r.json.get("role"), role, r)
                self.assertEqual(r.json.get("tenant"), p.tenant, r)
                self.assertEqual(r.json.get("access_key"), p.access_key, r)

    def assertAdmin(self, role, expect_ok, method, path, body=None, query=(), ok_status=200):
        r = self.admin_call(role, method, path, body, query)
        label = "%s %s as %s" % (method, path, role)
        if expect_ok:
            self.assertEqual(r.status, ok_status, "%s: %r" % (label, r))
        else:
            self.assertEqual(r.status, 403, "%s: %r" % (label, r))
            self.assertEqual(r.error_code, "AccessDenied", "%s: %r" % (label, r))
        return r

    def test_admin_matrix(self):
        n = itertools.count(1)
        cases = [
            # (label, expected-allowed roles, method, path, body factory, success status)
            ("CreateTenant", (PA,), "POST", "/admin/v1/tenants",
             lambda: {"name": t.unique_tenant("new"), "uscc": t.make_uscc()}, 201),
            ("CreateUser in own tenant", (PA, TA), "POST", "/admin/v1/users",
             lambda: {"tenant": self.acme, "name": "u%d" % next(n), "role": TR}, 201),
            ("CreateUser in another tenant", (PA,), "POST", "/admin/v1/users",
             lambda: {"tenant": self.other, "name": "u%d" % next(n), "role": TR}, 201),
            ("CreateKey for own tenant's user", (PA, TA), "POST", "/admin/v1/keys",
             lambda: {"user": "%s/auditor" % self.acme}, 201),
            ("CreateKey for another tenant's user", (PA,), "POST", "/admin/v1/keys",
             lambda: {"user": "%s/boss" % self.other}, 201),
            ("SetTenantQuota", (PA,), "PUT", "/admin/v1/tenants/%s/quota" % self.acme,
             lambda: {"max_bytes": -1, "max_objects": -1}, 200),
            ("SuspendTenant", (PA,), "POST", "/admin/v1/tenants/%s/suspend" % self.other,
             lambda: None, 200),
            ("SetBucketOwner", (PA,), "PUT", "/admin/v1/buckets/%s/owner" % self.ob,
             lambda: {"tenant": self.other}, 200),
            ("ListTenants", (PA, SUP), "GET", "/admin/v1/tenants", lambda: None, 200),
            ("ListUsage", (PA, SUP, TA), "GET", "/admin/v1/usage", lambda: None, 200),
            ("ListBuckets", (PA, SUP, TA), "GET", "/admin/v1/buckets", lambda: None, 200),
            ("ListUsers", (PA, SUP, TA), "GET", "/admin/v1/users", lambda: None, 200),
            ("ListKeys", (PA, SUP, TA), "GET", "/admin/v1/keys", lambda: None, 200),
            ("ShowOtherTenant", (PA, SUP), "GET", "/admin/v1/tenants/%s" % self.other,
             lambda: None, 200),
            ("Audit", (PA, SUP), "GET", "/admin/v1/audit", lambda: None, 200),
        ]
        for label, ok_roles, method, path, body, status in cases:
            for role in ROLES:
                if label == "ListTenants" and role == TA:
                    continue  # checked below: denied, or filtered to the own tenant
                if label == "SuspendTenant" and role == PA:
                    continue  # would suspend the tenant under the other tests
                with self.subTest(op=label, role=role):
                    self.assertAdmin(role, role in ok_roles, method, path, body(), (),
                                     ok_status=status)

    def test_admin_views_are_scoped(self):
        """The supervisor's GETs cover every tenant; a tenant admin's only its own; no GET
        returns a secret key."""
        r = self.admin_call(SUP, "GET", "/admin/v1/tenants")
        names = {x["name"] for x in r.json["tenants"]}
        self.assertTrue({self.acme, self.other} <= names, r)
        r = self.admin_call(SUP, "GET", "/admin/v1/buckets")
        names = {x["name"] for x in r.json["buckets"]}
        self.assertTrue({self.ab, self.ob} <= names, r)
        r = self.admin_call(SUP, "GET", "/admin/v1/keys")
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(b"secret", r.raw.lower(), "key listings never carry secrets")
        self.assertNotIn(self.who[TM].secret_key.encode(), r.raw)

        r = self.admin_call(TA, "GET", "/admin/v1/tenants")
        if r.status == 200:
            self.assertEqual({x["name"] for x in r.json["tenants"]}, {self.acme}, r)
        else:
            self.assertEqual((r.status, r.error_code), (403, "AccessDenied"), r)
        r = self.admin_call(TA, "GET", "/admin/v1/buckets")
        names = {x["name"] for x in r.json["buckets"]}
        self.assertIn(self.ab, names)
        self.assertNotIn(self.ob, names, "tenant admin sees another tenant's bucket")
        r = self.admin_call(TA, "GET", "/admin/v1/usage")
        self.assertEqual({x["name"] for x in r.json["tenants"]}, {self.acme}, r)
        r = self.admin_call(TA, "GET", "/admin/v1/users")
        self.assertEqual({x["tenant"] for x in r.json["users"]}, {self.acme}, r)
        r = self.admin_call(TA, "GET", "/admin/v1/users", query=[("tenant", self.other)])
        if r.status == 200:
            self.assertEqual(r.json["users"], [], r)
        else:
            self.assertEqual(r.status, 403, r)
        r = self.admin_call(TA, "GET", "/admin/v1/keys")
        self.assertEqual({x["tenant"] for x in r.json["keys"]}, {self.acme}, r)
        self.assertNotIn(b"secret_key", r.raw)
        self.assertDenied("tenant admin GetObject other", self.who[TA].s3.get_object,
                          Bucket=self.ob, Key="secret.txt")

    def test_admin_key_management_scope(self):
        """A tenant admin disables, enables and deletes its own tenant's keys, never another
        tenant's; a disabled key no longer signs S3 requests."""
        own_ak, own_sk = self.ten.key_create(self.acme, "auditor")
        other_ak, _ = self.ten.key_create(self.other, "boss")
        own = self.server.client(access_key=own_ak, secret_key=own_sk)
        own.get_object(Bucket=self.ab, Key="seed.txt")
        for role in (SUP, TM, TR):
            with self.subTest(role=role):
                self.assertAdmin(role, False, "POST", "/admin/v1/keys/%s/disable" % own_ak)
        self.assertAdmin(TA, False, "POST", "/admin/v1/keys/%s/disable" % other_ak)
        self.assertAdmin(TA, False, "DELETE", "/admin/v1/keys/%s" % other_ak)
        r = self.assertAdmin(TA, True, "POST", "/admin/v1/keys/%s/disable" % own_ak)
        self.assertIs(r.json.get("enabled"), False, r)
        status, code, _ = t.client_error(own.get_object, Bucket=self.ab, Key="seed.txt")
        self.assertEqual(status, 403, code)
        self.assertIn(code, ("InvalidAccessKeyId", "AccessDenied"))
        self.assertAdmin(TA, True, "POST", "/admin/v1/keys/%s/enable" % own_ak)
        own.get_object(Bucket=self.ab, Key="seed.txt")
        self.assertAdmin(TA, True, "DELETE", "/admin/v1/keys/%s" % own_ak, ok_status=204)
        status, code, _ = t.client_error(own.get_object, Bucket=self.ab, Key="seed.txt")
        self.assertEqual((status, code), (403, "InvalidAccessKeyId"))
        # The other tenant's key is untouched.
        keys = self.ten.admin("key", "list", "--tenant", self.other)["keys"]
        self.assertIn((other_ak, True), [(k["access_key"], k["enabled"]) for k in keys])

    def test_tenant_admin_cannot_grant_platform_roles(self):
        for role in (PA, SUP):
            with self.subTest(role=role):
                r = self.admin_call(TA, "POST", "/admin/v1/users",
                                    {"tenant": self.acme, "name": "climber-" + role,
                                     "role": role})
                self.assertIn(r.status, (400, 403), r)
                r = self.admin_call(TA, "POST", "/admin/v1/users",
                                    {"tenant": "platform", "name": "climber-" + role,
                                     "role": role})
                self.assertEqual(r.status, 403, r)
        r = self.admin_call(TA, "PUT", "/admin/v1/users/%s/dev/role" % self.acme,
                            {"role": TR})
        self.assertEqual(r.status, 200, r)
        self.assertDenied("demoted member PutObject", self.who[TM].s3.put_object,
                          Bucket=self.ab, Key="after-demotion", Body=b"x")
        r = self.admin_call(TA, "PUT", "/admin/v1/users/%s/dev/role" % self.acme,
                            {"role": TM})
        self.assertEqual(r.status, 200, r)
        self.who[TM].s3.put_object(Bucket=self.ab, Key="after-promotion", Body=b"x")


class SuspendedTenantTests(t.TenancyMixin, h.ServerTestCase):
    gzy_only = True

    def test_suspend_and_resume(self):
        ten = t.Tenancy(self.server)
        name = t.unique_tenant("susp")
        ten.tenant_add(name)
        adm = ten.principal(name, "boss", TA)
        mem = ten.principal(name, "dev", TM)
        b = h.unique_bucket("susp")
        adm.s3.create_bucket(Bucket=b)
        mem.s3.put_object(Bucket=b, Key="before.txt", Body=b"written while active")
        up = mem.s3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
        part = mem.s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=1, Body=b"part")

        out = ten.admin("tenant", "suspend", name)
        self.assertEqual(out.get("status"), "suspended", out)
        self.assertEqual(ten.admin("tenant", "show", name).get("status"), "suspended")

        # Reads still work.
        for who in (adm, mem):
            self.assertEqual(who.s3.get_object(Bucket=b, Key="before.txt")["Body"].read(),
                             b"written while active")
            who.s3.head_object(Bucket=b, Key="before.txt")
            self.assertEqual(who.s3.list_objects_v2(Bucket=b)["KeyCount"], 1)
            self.assertIn(b, {x["Name"] for x in who.s3.list_buckets()["Buckets"]})
        # Writes are denied, saying why.
        writes = [
            ("PutObject", mem.s3.put_object, dict(Bucket=b, Key="after.txt", Body=b"x")),
            ("PutObject overwrite", mem.s3.put_object, dict(Bucket=b, Key="before.txt",
                                                            Body=b"x")),
            ("DeleteObject", mem.s3.delete_object, dict(Bucket=b, Key="before.txt")),
            ("DeleteObjects", mem.s3.delete_objects, dict(Bucket=b, Delete={"Objects": [
                {"Key": "before.txt"}]})),
            ("CopyObject", mem.s3.copy_object, dict(Bucket=b, Key="copy", CopySource={
                "Bucket": b, "Key": "before.txt"})),
            ("CreateMultipartUpload", mem.s3.create_multipart_upload, dict(Bucket=b,
                                                                           Key="mp2")),
            ("UploadPart", mem.s3.upload_part, dict(Bucket=b, Key="mp", UploadId=up,
                                                    PartNumber=2, Body=b"x")),
            ("CompleteMultipartUpload", mem.s3.complete_multipart_upload, dict(
                Bucket=b, Key="mp", UploadId=up, MultipartUpload={"Parts": [
                    {"PartNumber": 1, "ETag": part["ETag"]}]})),
            ("CreateBucket", adm.s3.create_bucket, dict(Bucket=h.unique_bucket("susp-new"))),
            ("DeleteBucket", adm.s3.delete_bucket, dict(Bucket=b)),
            ("PutBucketAcl", adm.s3.put_bucket_acl, dict(Bucket=b, ACL="public-read")),
        ]
        for label, fn, kw in writes:
            with self.subTest(op=label):
                msg = self.assertDenied("suspended " + label, fn, **kw)
                self.assertIn("suspend", (msg or "").lower(),
                              "%s: the AccessDenied message should say the tenant is "
                              "suspended: %r" % (label, msg))
        # A raw request shows the message in the XML body.
        resp = mem.request("PUT", "/%s/raw.txt" % b, body=b"raw")
        self.assertEqual((resp.status, resp.error_code), (403, "AccessDenied"), resp)
        self.assertIn(b"suspend", resp.body.lower())
        self.assertEqual(mem.s3.get_object(Bucket=b, Key="before.txt")["Body"].read(),
                         b"written while active")

        out = ten.admin("tenant", "resume", name)
        self.assertEqual(out.get("status"), "active", out)
        mem.s3.put_object(Bucket=b, Key="after.txt", Body=b"written after resume")
        mem.s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=2, Body=b"more")
        mem.s3.abort_multipart_upload(Bucket=b, Key="mp", UploadId=up)
        self.assertEqual(mem.s3.get_object(Bucket=b, Key="after.txt")["Body"].read(),
                         b"written after resume")
        adm.s3.create_bucket(Bucket=h.unique_bucket("susp-new"))

    def test_suspension_is_per_tenant(self):
        ten = t.Tenancy(self.server)
        s_name, o_name = t.unique_tenant("susp2"), t.unique_tenant("fine")
        ten.tenant_add(s_name)
        ten.tenant_add(o_name)
        s_adm = ten.principal(s_name, "boss", TA)
        o_adm = ten.principal(o_name, "boss", TA)
        ten.admin("tenant", "suspend", s_name)
        try:
            b = h.unique_bucket("fine")
            o_adm.s3.create_bucket(Bucket=b)
            o_adm.s3.put_object(Bucket=b, Key="k", Body=b"v")
            self.assertDenied("suspended CreateBucket", s_adm.s3.create_bucket,
                              Bucket=h.unique_bucket("nope"))
        finally:
            ten.admin("tenant", "resume", s_name)


if __name__ == "__main__":
    unittest.main()
