"""`gzy admin` end to end (docs/admin-api.md): the CLI (GZY_BIN) against the admin API of a
server started by the harness. Tenants (with USCC validation), users, roles, access keys (and S3
with them), usage after uploads, bucket ownership, quotas, the audit listing, role denials,
--json output, credential and endpoint resolution, exit statuses."""

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import unittest

import botocore.exceptions

import harness as h

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015: no I, O, Z, S, V
GiB = 1024 ** 3


def make_uscc():
    """A random valid unified social credit code: '91', a division code, an organisation code
    with its GB 11714 check character, and the final check character."""
    org8 = "".join(secrets.choice("0123456789") for _ in range(8))
    total = sum(int(c) * w for c, w in zip(org8, [3, 7, 9, 10, 5, 8, 4, 2]))
    c = 11 - total % 11
    first17 = "91110108" + org8 + ("X" if c == 10 else "0" if c == 11 else str(c))
    total = sum(USCC_ALPHABET.index(ch) * pow(3, i, 31) for i, ch in enumerate(first17))
    return first17 + USCC_ALPHABET[(31 - total % 31) % 31]


def wrong_check(code):
    """The same code with a different (so wrong) final check character."""
    return code[:17] + next(c for c in "0123456789ABCDEFGH" if c != code[17])


def unique(prefix):
    return "%s-%s" % (prefix, secrets.token_hex(3))


class AdminCliTests(h.ServerTestCase):
    gzy_only = True

    # ---- helpers ----

    def admin(self, *args, **kw):
        return self.server.admin(*args, **kw)

    def admin_json(self, *args, **kw):
        return self.server.admin_json(*args, **kw)

    def admin_fails(self, code, *args, exit_status=1, **kw):
        """Runs gzy admin expecting failure with this exit status and (for API errors) error
        code on stderr; returns stderr."""
        p = self.admin(*args, check=False, **kw)
        self.assertEqual(p.returncode, exit_status,
                         "gzy admin %s: exit %d\n%s%s" % (" ".join(map(str, args)), p.returncode,
                                                          p.stdout, p.stderr))
        if code:
            self.assertIn(code, p.stderr)
        return p.stderr

    def new_tenant(self, **quota):
        name = unique("t")
        args = ["tenant", "add", name, "--uscc", make_uscc(), "--contact", "ops@example.cn"]
        for k, v in quota.items():
            args += ["--" + k.replace("_", "-"), v]
        out = self.admin_json(*args)
        self.assertEqual(out["name"], name)
        return name

    def new_principal(self, tenant, role, name=None):
        """A user with a fresh generated key: (access_key, secret_key)."""
        name = name or unique("u")
        self.admin_json("user", "add", "%s/%s" % (tenant, name), "--role", role)
        key = self.admin_json("key", "create", "%s/%s" % (tenant, name))
        return key["access_key"], key["secret_key"]

    def s3_as(self, ak, sk):
        return self.server.client(access_key=ak, secret_key=sk)

    def s3_error(self, fn, *args, **kwargs):
        try:
            fn(*args, **kwargs)
        except botocore.exceptions.ClientError as e:
            return (e.response["ResponseMetadata"]["HTTPStatusCode"],
                    e.response.get("Error", {}).get("Code"))
        return None

    # ---- tenants ----

    def test_tenant_add_checks_the_uscc(self):
        code = make_uscc()
        name = unique("acme")
        out = self.admin_json("tenant", "add", name, "--uscc", code, "--contact", "Zhang San")
        self.assertEqual((out["name"], out["uscc"], out["contact"], out["status"]),
                         (name, code, "Zhang San", "active"))
        self.assertEqual(out["quota"], {"max_bytes": -1, "max_objects": -1})
        self.assertEqual(len(out["id"]), 64)
        err = self.admin_fails("InvalidUSCC", "tenant", "add", unique("bad"), "--uscc",
                               wrong_check(make_uscc()))
        self.assertIn("uscc", err.lower())
        self.admin_fails("InvalidUSCC", "tenant", "add", unique("bad"), "--uscc", "12345")
        self.admin_fails("InvalidUSCC", "tenant", "add", unique("bad"), "--uscc",
                         "91110108MA01ABCDEI")  # I is not in the alphabet
        self.admin_fails("AlreadyExists", "tenant", "add", name, "--uscc", make_uscc())
        self.admin_fails(None, "tenant", "add", unique("x"), exit_status=2)  # no --uscc
        names = [t["name"] for t in self.admin_json("tenant", "list")["tenants"]]
        self.assertIn(name, names)
        self.assertFalse(any(n.startswith("bad-") for n in names), names)

    def test_tenant_list_show_suspend_resume_quota(self):
        name = self.new_tenant(max_bytes="10G", max_objects=1000)
        table = self.admin("tenant", "list").stdout
        self.assertTrue(table.startswith("NAME"), table)
        row = next(line for line in table.splitlines() if line.startswith(name + " "))
        self.assertIn("active", row)
        self.assertIn(str(10 * GiB), row)

        show = self.admin_json("tenant", "show", name)
        self.assertEqual(show["quota"], {"max_bytes": 10 * GiB, "max_objects": 1000})
        self.assertEqual(show["usage"], {"bytes": 0, "objects": 0})
        self.assertEqual(show["buckets"], [])
        self.assertIn("usage.bytes:", self.admin("tenant", "show", name).stdout)

        self.assertEqual(self.admin_json("tenant", "suspend", name)["status"], "suspended")
        self.assertEqual(self.admin_json("tenant", "show", name)["status"], "suspended")
        self.assertEqual(self.admin_json("tenant", "resume", name)["status"], "active")

        out = self.admin_json("tenant", "quota", name, "--max-bytes", "1.5G")
        self.assertEqual(out["quota"], {"max_bytes": 1536 * 1024 ** 2, "max_objects": 1000})
        out = self.admin_json("tenant", "quota", name, "--max-objects", "-1")
        self.assertEqual(out["quota"], {"max_bytes": 1536 * 1024 ** 2, "max_objects": -1})
        out = self.admin_json("tenant", "quota", name, "--max-bytes", "unlimited")
        self.assertEqual(out["quota"]["max_bytes"], -1)
        self.admin_fails(None, "tenant", "quota", name, "--max-bytes", "12Q", exit_status=2)
        self.admin_fails("NotFound", "tenant", "show", unique("nobody"))
        self.admin_fails("NotFound", "tenant", "suspend", unique("nobody"))

    # ---- users ----

    def test_users_add_list_role(self):
        tenant = self.new_tenant()
        user = self.admin_json("user", "add", tenant + "/alice", "--role", "tenant-admin")
        self.assertEqual((user["name"], user["tenant"], user["role"]),
                         ("alice", tenant, "tenant-admin"))
        self.assertEqual(len(user["id"]), 64)
        self.admin_json("user", "add", tenant + "/bob", "--role", "tenant-member")
        self.admin_fails("AlreadyExists", "user", "add", tenant + "/bob", "--role",
                         "tenant-reader")
        err = self.admin_fails("InvalidArgument", "user", "add", tenant + "/carol", "--role",
                               "emperor")
        self.assertIn("role", err)
        # platform roles live in the platform tenant only
        self.admin_fails("InvalidArgument", "user", "add", tenant + "/carol", "--role",
                         "supervisor")
        self.admin_fails(None, "user", "add", "no-slash", "--role", "tenant-member",
                         exit_status=2)

        users = self.admin_json("user", "list", "--tenant", tenant)["users"]
        self.assertEqual(sorted((u["name"], u["role"]) for u in users),
                         [("alice", "tenant-admin"), ("bob", "tenant-member")])
        everyone = self.admin_json("user", "list")["users"]
        self.assertTrue({(tenant, "alice"), (tenant, "bob")} <=
                        {(u["tenant"], u["name"]) for u in everyone})
        table = self.admin("user", "list", "--tenant", tenant).stdout
        self.assertEqual(table.splitlines()[0].split()[:3], ["TENANT", "NAME", "ROLE"])

        out = self.admin_json("user", "role", tenant + "/bob", "tenant-reader")
        self.assertEqual(out["role"], "tenant-reader")
        users = self.admin_json("user", "list", "--tenant", tenant)["users"]
        self.assertIn(("bob", "tenant-reader"), [(u["name"], u["role"]) for u in users])
        self.admin_fails("NotFound", "user", "role", tenant + "/nobody", "tenant-reader")

    # ---- keys ----

    def test_keys_create_list_disable_enable_delete(self):
        tenant = self.new_tenant()
        self.admin_json("user", "add", tenant + "/ops", "--role", "tenant-admin")
        gen = self.admin_json("key", "create", tenant + "/ops")
        self.assertEqual((gen["user"], gen["tenant"], gen["enabled"]), ("ops", tenant, True))
        self.assertGreaterEqual(len(gen["access_key"]), 16)
        self.assertGreaterEqual(len(gen["secret_key"]), 20)
        given_ak = "GZT" + secrets.token_hex(8).upper()
        given_sk = secrets.token_urlsafe(30)[:40]
        given = self.admin_json("key", "create", tenant + "/ops", "--access-key", given_ak,
                                "--secret-key", given_sk)
        self.assertEqual((given["access_key"], given["secret_key"]), (given_ak, given_sk))
        self.admin_fails("AlreadyExists", "key", "create", tenant + "/ops", "--access-key",
                         given_ak, "--secret-key", given_sk)
        self.admin_fails(None, "key", "create", tenant + "/ops", "--access-key", "ONLYONE",
                         exit_status=2)

        listed = self.admin_json("key", "list", "--tenant", tenant)
        self.assertEqual(sorted(k["access_key"] for k in listed["keys"]),
                         sorted([gen["access_key"], given_ak]))
        self.assertNotIn("secret", json.dumps(listed).lower())
        by_user = self.admin_json("key", "list", "--user", tenant + "/ops")["keys"]
        self.assertEqual(len(by_user), 2)
        self.assertNotIn(given_sk, self.admin("key", "list").stdout)

        # S3 with the given key works, then not while disabled, then again, then never.
        s3 = self.s3_as(given_ak, given_sk)
        bucket = h.unique_bucket("keys")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"v")
        out = self.admin_json("key", "disable", given_ak)
        self.assertFalse(out["enabled"])
        err = self.s3_error(self.s3_as(given_ak, given_sk).get_object, Bucket=bucket, Key="k")
        self.assertIsNotNone(err, "a disabled key still works")
        self.assertEqual(err[0], 403, err)
        self.assertIn(err[1], ("InvalidAccessKeyId", "AccessDenied"), err)
        self.assertTrue(self.admin_json("key", "enable", given_ak)["enabled"])
        self.assertEqual(self.s3_as(given_ak, given_sk).get_object(
            Bucket=bucket, Key="k")["Body"].read(), b"v")
        self.assertIn("deleted", self.admin("key", "delete", given_ak).stdout)
        err = self.s3_error(self.s3_as(given_ak, given_sk).get_object, Bucket=bucket, Key="k")
        self.assertEqual(err, (403, "InvalidAccessKeyId"))
        keys = [k["access_key"] for k in self.admin_json("key", "list",
                                                          "--tenant", tenant)["keys"]]
        self.assertEqual(keys, [gen["access_key"]])
        self.admin_fails("NotFound", "key", "delete", given_ak)
        self.admin_fails("NotFound", "key", "disable", "NOSUCHKEY" + secrets.token_hex(4))
        self.assertEqual(self.admin("--json", "key", "delete", gen["access_key"]).stdout.strip(),
                         "{}")

    # ---- usage, buckets ----

    def test_usage_equals_bytes_uploaded(self):
        tenant = self.new_tenant()
        ak, sk = self.new_principal(tenant, "tenant-admin")
        s3 = self.s3_as(ak, sk)
        b1, b2 = h.unique_bucket("use1"), h.unique_bucket("use2")
        s3.create_bucket(Bucket=b1)
        s3.create_bucket(Bucket=b2)
        sizes1, sizes2 = [0, 1, 1000, 70 * 1024], [5, 123457]
        for i, n in enumerate(sizes1):
            s3.put_object(Bucket=b1, Key="o%d" % i, Body=h.random_bytes(n))
        for i, n in enumerate(sizes2):
            s3.put_object(Bucket=b2, Key="o%d" % i, Body=h.random_bytes(n))
        s3.put_object(Bucket=b2, Key="o0", Body=b"123456789")  # overwrite: 5 -> 9 bytes
        sizes2[0] = 9

        usage = self.admin_json("usage", "--tenant", tenant)["tenants"]
        self.assertEqual([u["name"] for u in usage], [tenant])
        u = usage[0]
        self.assertEqual((u["bytes"], u["objects"]),
                         (sum(sizes1) + sum(sizes2), len(sizes1) + len(sizes2)))
        per = {b["name"]: (b["bytes"], b["objects"]) for b in u["buckets"]}
        self.assertEqual(per, {b1: (sum(sizes1), len(sizes1)), b2: (sum(sizes2), len(sizes2))})

        s3.delete_object(Bucket=b1, Key="o3")
        show = self.admin_json("tenant", "show", tenant)
        self.assertEqual(show["usage"], {"bytes": sum(sizes1[:3]) + sum(sizes2),
                                         "objects": len(sizes1) - 1 + len(sizes2)})
        buckets = {b["name"]: b for b in self.admin_json("bucket", "list", "--tenant",
                                                         tenant)["buckets"]}
        self.assertEqual(set(buckets), {b1, b2})
        self.assertEqual((buckets[b1]["bytes"], buckets[b1]["objects"], buckets[b1]["tenant"]),
                         (sum(sizes1[:3]), 3, tenant))
        table = self.admin("usage", "--tenant", tenant).stdout
        self.assertIn(str(sum(sizes1[:3]) + sum(sizes2)), table)

    def test_bucket_owner_and_quota(self):
        a, b = self.new_tenant(), self.new_tenant()
        ak, sk = self.new_principal(a, "tenant-admin")
        s3 = self.s3_as(ak, sk)
        bucket = h.unique_bucket("own")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="x", Body=b"x" * 100)
        listed = [x["name"] for x in self.admin_json("bucket", "list")["buckets"]]
        self.assertIn(bucket, listed)

        out = self.admin_json("bucket", "owner", bucket, b)
        self.assertEqual((out["name"], out["tenant"]), (bucket, b))
        self.assertEqual([x["name"] for x in self.admin_json("bucket", "list", "--tenant",
                                                             b)["buckets"]], [bucket])
        self.assertEqual(self.admin_json("bucket", "list", "--tenant", a)["buckets"], [])
        ua = self.admin_json("usage", "--tenant", a)["tenants"][0]
        ub = self.admin_json("usage", "--tenant", b)["tenants"][0]
        self.assertEqual((ua["bytes"], ub["bytes"]), (0, 100))
        err = self.s3_error(s3.get_object, Bucket=bucket, Key="x")
        self.assertEqual(err, (403, "AccessDenied"), "the old owner still reads the bucket")
        self.admin_fails("NotFound", "bucket", "owner", h.unique_bucket("none"), b)
        self.admin_fails("NotFound", "bucket", "owner", bucket, unique("nobody"))

        out = self.admin_json("bucket", "quota", bucket, "--max-bytes", "1M",
                              "--max-objects", "10")
        self.assertEqual(out["quota"], {"max_bytes": 1024 * 1024, "max_objects": 10})
        self.admin_fails(None, "bucket", "quota", bucket, exit_status=2)

    # ---- audit ----

    def test_audit_lists_admin_actions(self):
        tenant = self.new_tenant()
        ak, sk = self.new_principal(tenant, "tenant-member", name="dev")
        self.admin_fails("AccessDenied", "tenant", "list", access_key=ak, secret_key=sk)
        entries = self.admin_json("audit", "--tenant", tenant, "--limit", "1000")["entries"]
        actions = [(e["action"], e["outcome"]) for e in entries]
        for want in [("admin:CreateTenant", "allow"), ("admin:CreateUser", "allow"),
                     ("admin:CreateKey", "allow"), ("admin:ListTenants", "deny")]:
            self.assertIn(want, actions)
        create = next(e for e in entries if e["action"] == "admin:CreateTenant")
        self.assertEqual(create["resource"], "tenant/" + tenant)
        self.assertEqual(create["principal"], self.server.access_key)
        self.assertEqual(create["status"], 201)
        denied = next(e for e in entries if e["action"] == "admin:ListTenants")
        self.assertEqual((denied["principal"], denied["status"]), (ak, 403))
        self.assertEqual(len(self.admin_json("audit", "--limit", "2")["entries"]), 2)
        self.assertEqual(self.admin_json("audit", "--tenant", tenant, "--to",
                                         "2000-01-01")["entries"], [])
        table = self.admin("audit", "--tenant", tenant).stdout
        self.assertTrue(table.startswith("TIME"), table)
        self.assertIn("admin:CreateUser", table)
        self.admin_fails("InvalidArgument", "audit", "--from", "yesterday")
        self.admin_fails("InvalidArgument", "audit", "--limit", "0")

    # ---- roles ----

    def test_non_admin_keys_are_denied(self):
        tenant = self.new_tenant()
        for role in ("tenant-member", "tenant-reader"):
            ak, sk = self.new_principal(tenant, role)
            who = self.admin_json("whoami", access_key=ak, secret_key=sk)
            self.assertEqual((who["role"], who["tenant"], who["access_key"]),
                             (role, tenant, ak))
            for args in (["tenant", "list"], ["user", "list"], ["key", "list"],
                         ["usage"], ["bucket", "list"], ["audit"],
                         ["user", "add", tenant + "/x", "--role", "tenant-member"],
                         ["key", "create", tenant + "/x"],
                         ["tenant", "add", unique("n"), "--uscc", make_uscc()]):
                with self.subTest(role=role, args=args):
                    err = self.admin_fails("AccessDenied", *args, access_key=ak, secret_key=sk)
                    self.assertIn(role, err)
        self.admin_fails("InvalidAccessKeyId", "whoami", access_key="NOSUCH" + "A" * 14,
                         secret_key="x" * 40)
        self.admin_fails("SignatureDoesNotMatch", "whoami", secret_key="wrong-secret-key")

    def test_tenant_admin_is_confined_to_its_tenant(self):
        mine, other = self.new_tenant(), self.new_tenant()
        ak, sk = self.new_principal(mine, "tenant-admin")
        kw = dict(access_key=ak, secret_key=sk)
        self.assertEqual([t["name"] for t in self.admin_json("tenant", "list", **kw)["tenants"]],
                         [mine])
        self.admin_json("user", "add", mine + "/dev", "--role", "tenant-member", **kw)
        key = self.admin_json("key", "create", mine + "/dev", **kw)
        self.assertEqual(key["tenant"], mine)
        self.admin_fails("AccessDenied", "user", "add", other + "/dev", "--role",
                         "tenant-member", **kw)
        self.admin_fails("AccessDenied", "tenant", "show", other, **kw)
        self.admin_fails("AccessDenied", "tenant", "quota", mine, "--max-bytes", "1G", **kw)
        self.admin_fails("AccessDenied", "tenant", "suspend", mine, **kw)
        self.admin_fails("AccessDenied", "audit", **kw)
        self.assertEqual({u["tenant"] for u in self.admin_json("user", "list", **kw)["users"]},
                         {mine})

    # ---- the CLI itself ----

    def test_json_output_parses(self):
        tenant = self.new_tenant()
        self.new_principal(tenant, "tenant-member")
        for args in (["whoami"], ["tenant", "list"], ["tenant", "show", tenant],
                     ["user", "list"], ["key", "list"], ["bucket", "list"], ["usage"],
                     ["audit", "--limit", "5"]):
            with self.subTest(args=args):
                p = self.admin("--json", *args)
                self.assertIsInstance(json.loads(p.stdout), dict)
                p = self.admin(*args, "--json")  # --json after the command works too
                self.assertIsInstance(json.loads(p.stdout), dict)

    def test_exit_statuses_and_help(self):
        p = subprocess.run([self.server.bin, "admin", "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.server._env(), text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("tenant add NAME --uscc CODE", p.stdout)
        self.admin_fails(None, "frobnicate", exit_status=2)
        self.admin_fails(None, "tenant", "show", exit_status=2)
        self.admin_fails(None, "tenant", "list", "--bogus", "1", exit_status=2)
        p = subprocess.run([self.server.bin, "admin", "--endpoint", "http://127.0.0.1:9",
                            "--access-key", "a" * 10, "--secret-key", "b" * 20, "whoami"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.server._env())
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot reach", p.stderr)

    def test_credentials_and_endpoint_resolution(self):
        """--data DIR reads DIR/root-credential; GZY_ACCESS_KEY/GZY_SECRET_KEY and
        GZY_ADMIN_ENDPOINT are honoured."""
        base = {k: v for k, v in self.server._env().items() if not k.startswith("GZY_")}
        tmp = tempfile.mkdtemp(prefix="gzy-admin-cred-")
        try:
            with open(os.path.join(tmp, "root-credential"), "w") as f:
                f.write("%s\n%s\n" % (self.server.access_key, self.server.secret_key))
            cmd = [self.server.bin, "admin", "--endpoint", self.server.admin_endpoint,
                   "--data", tmp, "--json", "whoami"]
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=base)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(json.loads(p.stdout)["access_key"], self.server.access_key)

            env = dict(base, GZY_ADMIN_ENDPOINT=self.server.admin_endpoint,
                       GZY_ACCESS_KEY=self.server.access_key,
                       GZY_SECRET_KEY=self.server.secret_key)
            p = subprocess.run([self.server.bin, "admin", "--json", "whoami"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=tmp)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(json.loads(p.stdout)["role"], "platform-admin")

            empty = os.path.join(tmp, "empty")
            os.mkdir(empty)
            p = subprocess.run([self.server.bin, "admin", "--endpoint",
                                self.server.admin_endpoint, "whoami"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=base, cwd=empty)
            self.assertEqual(p.returncode, 2, p.stderr)  # no credentials anywhere
            self.assertIn("root-credential", p.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class AdminListenerTests(unittest.TestCase):
    """--admin-listen off: no admin listener; the default S3 service is unaffected."""

    def test_admin_listen_off(self):
        if h.external_endpoint():
            raise unittest.SkipTest("needs the real gzy binary")
        server = h.GzyServer(extra_args=["--admin-listen", "off"])
        try:
            server.start()
            self.assertIsNone(server.admin_endpoint)
            with open(server.stdout_path) as f:
                self.assertNotIn("Admin API", f.read())
            server.client().list_buckets()
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main()
