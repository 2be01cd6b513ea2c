"""`gzy migrate copy` from a provider "personality" (motopeer.ProviderProxy in front of
moto_server) with the matching --source-provider preset: aliyun-oss addressed virtual-hosted
(http://vh.localhost:PORT: every request must carry the bucket in the Host header) and
tencent-cos / huawei-obs path style. The personality refuses ListObjects v2 (the v1 fallback
must list everything), returns metadata, storage class and tag counts under its own prefix,
adds its CRC64-ECMA header (wrong once for one key: caught, that object read again), reports
an archive object its own way and answers the restore request itself. Asserted: bytes,
metadata mapped to x-amz-meta-, the verification method, the provider's restore body, what
the report lists as not carried, and that the second pass copies the restored object."""

import json
import os
import sqlite3
import subprocess
import unittest

import harness as h
import tenancy as t
from motopeer import MOTO_KEY, Moto, MotoServerCase, ProviderProxy, moto_binary


@unittest.skipIf(moto_binary() is None, "moto_server is not installed")
class MigrateProviderTests(MotoServerCase):
    TMP_PREFIX = "gzy-migp-"

    def run_copy(self, provider, endpoint, src, dst, *extra):
        args = [os.environ.get("GZY_BIN", "build/gzy"), "migrate", "copy",
                "--source-provider", provider, "--source-endpoint", endpoint,
                "--source-region", "cn-north-4", "--source-bucket", src,
                "--source-access-key", MOTO_KEY, "--source-secret-key", MOTO_KEY,
                "--dest-endpoint", self.server.endpoint, "--dest-bucket", dst,
                "--dest-access-key", self.server.access_key,
                "--dest-secret-key", self.server.secret_key] + list(extra)
        p = subprocess.run(args, capture_output=True, timeout=300)
        err = p.stderr.decode(errors="replace")
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)
        lines = [json.loads(l) for l in p.stdout.decode().splitlines() if l.startswith("{")]
        rep = lines[-1] if lines and lines[-1].get("event") == "report" else None
        self.assertIsNotNone(rep, "stdout:\n%s\nstderr:\n%s" % (p.stdout.decode()[-3000:],
                                                                err[-3000:]))
        return p, rep, lines

    def fill(self, src):
        """The source bucket: metadata, a multipart object (CRC64 verifies it), one whose CRC
        is wrong once, a tagged one, one with another provider's metadata, an archived one."""
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        want = {}
        m.put_object(Bucket=src, Key="doc/plain.txt", Body=b"plain bytes",
                     ContentType="text/plain", Metadata={"project": "gzy", "Owner": "Li Lei"})
        want["doc/plain.txt"] = b"plain bytes"
        up = m.create_multipart_upload(Bucket=src, Key="big/mp.bin")
        parts, data = [], b""
        for i, sz in enumerate((5 * h.MiB, 1000)):
            body = h.random_bytes(sz, seed=40 + i)
            data += body
            r = m.upload_part(Bucket=src, Key="big/mp.bin", UploadId=up["UploadId"],
                              PartNumber=i + 1, Body=body)
            parts.append({"PartNumber": i + 1, "ETag": r["ETag"]})
        m.complete_multipart_upload(Bucket=src, Key="big/mp.bin", UploadId=up["UploadId"],
                                    MultipartUpload={"Parts": parts})
        want["big/mp.bin"] = data
        want["bad/crc.bin"] = h.random_bytes(70000, seed=7)
        m.put_object(Bucket=src, Key="bad/crc.bin", Body=want["bad/crc.bin"])
        m.put_object(Bucket=src, Key="doc/tagged.txt", Body=b"tagged", Tagging="a=1&b=2")
        want["doc/tagged.txt"] = b"tagged"
        m.put_object(Bucket=src, Key="doc/foreign.txt", Body=b"foreign",
                     Metadata={"kept": "yes", "other-owner": "x"})
        want["doc/foreign.txt"] = b"foreign"
        m.put_object(Bucket=src, Key="cold/frozen.bin", Body=b"archived bytes")
        want["cold/frozen.bin"] = b"archived bytes"
        return want

    def provider_case(self, provider, vhost, restore_body, crc_header):
        src, dst = h.unique_bucket("pv"), h.unique_bucket("pvd")
        want = self.fill(src)
        self.s3.create_bucket(Bucket=dst)
        other = "x-obs-" if provider != "huawei-obs" else "x-cos-"
        proxy = ProviderProxy(self.moto, provider, vhost=vhost, foreign_meta={"other": other})
        proxy.archived["cold/frozen.bin"] = "frozen"
        proxy.bad_crc_once.add("bad/crc.bin")
        journal = os.path.join(self.tmp, "%s.journal" % provider)
        try:
            # pass 1: the archived object waits (restore requested the provider's way); the
            # wrong CRC is caught and that object read again; everything else is verified
            p, rep, lines = self.run_copy(provider, proxy.endpoint, src, dst,
                                          "--journal", journal)
            self.assertEqual(p.returncode, 0, "%s\n%s" % (
                p.stderr.decode(), "\n".join(map(str, lines))))
            self.assertEqual(rep["listed"]["objects"], 6, rep)
            self.assertEqual(rep["waiting"]["objects"], 1)
            self.assertEqual(rep["failures"], [])
            gets = [r for r in proxy.requests if r[0] == "GET" and "bad/crc.bin" in r[2]]
            self.assertEqual(len(gets), 2 if crc_header else 1, gets)
            self.assertEqual(rep["retries"], 1 if crc_header else 0, rep)
            self.assertEqual(proxy.restore_bodies, [("cold/frozen.bin", restore_body)])
            objs = {l["key"]: l for l in lines
                    if l.get("event") == "object" and l["state"] != "not-carried"}
            self.assertEqual(objs["big/mp.bin"]["method"],
                             "crc64" if crc_header else "mpu-md5")
            self.assertEqual(objs["doc/plain.txt"]["method"], "md5")
            self.assertEqual(rep["verified_by"]["crc64"], 1 if crc_header else 0)
            nc = {l["key"]: l["reason"] for l in lines
                  if l.get("event") == "object" and l["state"] == "not-carried"}
            self.assertEqual(nc, {"doc/tagged.txt": "tags",
                                  "doc/foreign.txt": "foreign-metadata"})
            self.assertEqual(rep["not_carried"], 2)
            # pass 2: restored now; the CRC is right this time
            proxy.archived["cold/frozen.bin"] = "restored"
            p, rep, lines = self.run_copy(provider, proxy.endpoint, src, dst,
                                          "--journal", journal)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.assertEqual(rep["copied"]["objects"], 1, rep)
            self.assertEqual(rep["waiting"]["objects"], 0)
            self.assertEqual(len(proxy.restore_bodies), 1, "no second restore request")
            requests = list(proxy.requests)
            # pass 3, without the journal: the diff against the destination alone finds
            # nothing to copy (OSS's upper-case ETags equal the stored lower-case ones)
            p, rep, _ = self.run_copy(provider, proxy.endpoint, src, dst)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.assertEqual(rep["copied"]["objects"], 0, rep)
        finally:
            proxy.close()
        with sqlite3.connect(journal) as db:
            rows = dict(db.execute("SELECT key, not_carried FROM src WHERE state='verified'"
                                   ).fetchall())
        self.assertEqual(rows.get("cold/frozen.bin"), "storage-class")
        for key, body in want.items():
            self.assertEqual(self.get_bytes(dst, key), body, key)
        head = self.s3.head_object(Bucket=dst, Key="doc/plain.txt")
        self.assertEqual(head["ContentType"], "text/plain")
        self.assertEqual(head["Metadata"].get("project"), "gzy")
        self.assertEqual(head["Metadata"].get("owner"), "Li Lei")
        self.assertEqual(self.s3.head_object(Bucket=dst, Key="doc/foreign.txt")["Metadata"]
                         .get("kept"), "yes")
        # listing: v2 refused once, then v1 (markers) for every page of both passes
        lists = [r for r in requests if r[0] == "GET"
                 and r[2].split("?")[0] in ("/", "/%s" % src, "/%s/" % src)]
        v2 = [r for r in lists if "list-type=2" in r[2]]
        # one refused v2 per pass; the OBS preset lists with v1 from the start
        self.assertEqual(len(v2), 0 if provider == "huawei-obs" else 2, lists)
        self.assertEqual(len(lists) - len(v2), 2, lists)
        return requests, src

    def test_aliyun_oss_virtual_hosted(self):
        requests, src = self.provider_case(
            "aliyun-oss", True, "<RestoreRequest><Days>2</Days></RestoreRequest>", True)
        # every request virtual-hosted: the bucket in Host, never in the path
        self.assertTrue(requests)
        for method, host, path in requests:
            self.assertTrue(host.startswith(src + ".vh.localhost:"), (method, host, path))
            self.assertFalse(path.startswith("/" + src), (method, host, path))

    def test_tencent_cos(self):
        requests, src = self.provider_case(
            "tencent-cos", False, "<RestoreRequest><Days>2</Days><CASJobParameters><Tier>"
            "Standard</Tier></CASJobParameters></RestoreRequest>", True)
        for method, host, path in requests:  # 127.0.0.1: path style
            self.assertTrue(path.startswith("/" + src), (method, host, path))

    def test_huawei_obs(self):
        self.provider_case(
            "huawei-obs", False, "<RestoreRequest><Days>2</Days><RestoreJob><Tier>Standard"
            "</Tier></RestoreJob></RestoreRequest>", False)

    def test_endpoint_from_region(self):
        """No --source-endpoint: the preset derives it from the region (the derivation itself
        is unit-tested; nothing here may contact a provider): a malformed region is refused
        before any request, and the generic preset still needs an endpoint."""
        args = [os.environ.get("GZY_BIN", "build/gzy"), "migrate", "copy",
                "--source-provider", "tencent-cos", "--source-region", "ap_bad",
                "--source-bucket", "b", "--source-access-key", "k",
                "--source-secret-key", "s", "--dest-endpoint", self.server.endpoint,
                "--dest-bucket", "d", "--dest-access-key", self.server.access_key,
                "--dest-secret-key", self.server.secret_key]
        p = subprocess.run(args, capture_output=True, timeout=60)
        out = p.stdout.decode() + p.stderr.decode()
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("'ap_bad' is not a tencent-cos region", out)
        args[args.index("--source-provider") + 1] = "generic"
        p = subprocess.run(args, capture_output=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("source endpoint", p.stdout.decode() + p.stderr.decode())



@unittest.skipIf(moto_binary() is None, "moto_server is not installed")
class ProviderJobApiTests(t.MotoTenancyCase):
    """POST /admin/v1/migrations without source.endpoint: the preset's endpoint for the region
    is stored with the job (created, not started: nothing is contacted); a malformed region or
    the generic preset is refused with 400."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tenant = t.unique_tenant("pj")
        cls.ten.tenant_add(cls.tenant)
        cls.admin = cls.ten.principal(cls.tenant, "boss", "tenant-admin")

    def create(self, provider, region, endpoint=None):
        src = {"provider": provider, "bucket": "src", "access_key": "k", "secret_key": "s"}
        if region is not None:
            src["region"] = region
        if endpoint is not None:
            src["endpoint"] = endpoint
        return self.admin.admin("POST", "/admin/v1/migrations",
                                {"tenant": self.tenant, "source": src,
                                 "dest_bucket": h.unique_bucket("pjd"), "start": False})

    def test_endpoint_derived_at_job_create(self):
        for provider, region, want in (
                ("aliyun-oss", "cn-shanghai", "https://oss-cn-shanghai.aliyuncs.com"),
                ("huawei-obs", "cn-north-4", "https://obs.cn-north-4.myhuaweicloud.com"),
                ("tencent-cos", "ap-guangzhou", "https://cos.ap-guangzhou.myqcloud.com"),
                ("aws", "eu-west-1", "https://s3.eu-west-1.amazonaws.com")):
            r = self.create(provider, region)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json["state"], "created", r)
            self.assertEqual(r.json["source"]["endpoint"], want)
        r = self.create("tencent-cos", "ap-guangzhou", endpoint="http://127.0.0.1:9")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["source"]["endpoint"], "http://127.0.0.1:9")  # given: it wins
        for provider, region in (("tencent-cos", "ap guangzhou"), ("huawei-obs", None),
                                 ("generic", "us-east-1")):
            r = self.create(provider, region)
            self.assertEqual(r.status, 400, r)
            self.assertEqual(r.error_code, "InvalidArgument", r)


if __name__ == "__main__":
    unittest.main()
