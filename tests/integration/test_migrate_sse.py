"""Migration jobs into buckets that encrypt by default (SSE-S3 AES256 and SM4): moto_server as
the source, the server's own store as the destination. Objects a job writes are sealed as an
S3 PUT into the bucket would seal them: plain GETs and Range GETs return the source's bytes,
HEAD names the algorithm, listings show plaintext sizes, the ETag is what the S3 path gives
(the plaintext MD5; MD5-of-part-MD5s "-N" for the multipart copy), usage counts stored bytes
as for a PUT, no plaintext reaches the data folder, a second job finds nothing to copy, and
`gzy fsck` is clean. A bucket without default encryption still gets plaintext."""

import hashlib
import json
import os
import secrets
import time
import unittest

import harness as h
import tenancy as t
from motopeer import moto_binary

API = "/admin/v1/migrations"
OLD_REFUSAL = "encrypts new objects by default"
SEG = 64 * 1024


def stored_size(n):
    """docs/encryption.md: header 16 + plaintext + a 16-byte tag per 64 KiB segment (>= 1)."""
    return 16 + n + 16 * max(1, (n + SEG - 1) // SEG)


def body_of(marker, i, size):
    """size bytes that contain marker several times (at the start, middle and end)."""
    filler = h.random_bytes(max(0, size - 3 * len(marker)), seed=1000 + i)
    half = len(filler) // 2
    return (marker + filler[:half] + marker + filler[half:] + marker)[:size]


@unittest.skipIf(moto_binary() is None, "moto_server is not installed")
class MigrateSseTests(t.MotoTenancyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tenant = t.unique_tenant("se")
        cls.ten.tenant_add(cls.tenant)
        cls.admin = cls.ten.principal(cls.tenant, "boss", "tenant-admin")

    # ---- helpers ----

    def populate(self, bucket, marker, n=6, large=True):
        """Small objects (a few KiB, one empty, metadata and content types) and, with large, a
        multipart object of a 5 MiB and a 100 KiB part: the smallest the job copies through its
        own multipart path (the source's part size is kept). Returns {key: (bytes, parts)}."""
        m = self.moto.s3
        m.create_bucket(Bucket=bucket)
        objs = {}
        for i in range(n):
            key = "small/%02d" % i
            data = body_of(marker, i, 2000 + 1500 * i)
            m.put_object(Bucket=bucket, Key=key, Body=data, ContentType="text/x-%d" % i,
                         Metadata={"owner": "alice", "index": str(i)})
            objs[key] = (data, None)
        m.put_object(Bucket=bucket, Key="empty", Body=b"")
        objs["empty"] = (b"", None)
        seg = body_of(marker, 99, 3 * SEG + 17)  # more than one 64 KiB segment
        m.put_object(Bucket=bucket, Key="segments", Body=seg, ContentType="application/x-gzy",
                     CacheControl="max-age=60", Metadata={"k": "v"})
        objs["segments"] = (seg, None)
        mid = body_of(marker, 98, h.MiB + 5000)  # above the pipelined size: copied alone
        m.put_object(Bucket=bucket, Key="mid", Body=mid)
        objs["mid"] = (mid, None)
        if large:
            parts = [body_of(marker, 200, 5 * h.MiB), body_of(marker, 201, 100 * 1024 + 3)]
            up = m.create_multipart_upload(Bucket=bucket, Key="big/mp", Metadata={"part": "y"})
            done = []
            for i, p in enumerate(parts):
                r = m.upload_part(Bucket=bucket, Key="big/mp", UploadId=up["UploadId"],
                                  PartNumber=i + 1, Body=p)
                done.append({"PartNumber": i + 1, "ETag": r["ETag"]})
            m.complete_multipart_upload(Bucket=bucket, Key="big/mp", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": done})
            objs["big/mp"] = (b"".join(parts), parts)
        return objs

    def dest_bucket(self, prefix, alg):
        b = h.unique_bucket(prefix)
        self.admin.s3.create_bucket(Bucket=b)
        if alg:
            self.admin.s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": alg}}]})
        return b

    def start_job(self, src, dst, **options):
        body = {"tenant": self.tenant, "name": "sse " + self._testMethodName,
                "source": {"provider": "generic", "endpoint": self.moto.endpoint,
                           "bucket": src, "access_key": "testing",
                           "secret_key": "mOtO-" + secrets.token_hex(8)},
                "dest_bucket": dst, "concurrency": 4}
        body.update(options)
        r = self.admin.admin("POST", API, body)
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def wait_job(self, jid, states, timeout=240):
        deadline = time.time() + timeout
        j = None
        while time.time() < deadline:
            r = self.admin.admin("GET", API + "/" + jid)
            self.assertEqual(r.status, 200, r)
            j = r.json
            if j["state"] in states:
                return j
            time.sleep(0.1)
        self.fail("job %s not %s: %s\n%s" % (jid, states, j, self.server.logs()))

    def run_job(self, src, dst):
        j = self.wait_job(self.start_job(src, dst), ("completed", "failed", "cancelled"))
        self.assertEqual(j["state"], "completed", "%s\n%s" % (j, self.server.logs()))
        self.assertIsNone(j["error"], j)
        return j

    @staticmethod
    def s3_etag(data, parts):
        """The ETag an S3 PUT of these bytes gets (SSE-S3 / SM4: over the plaintext)."""
        if parts is None:
            return hashlib.md5(data).hexdigest()
        md5s = b"".join(hashlib.md5(p).digest() for p in parts)
        return "%s-%d" % (hashlib.md5(md5s).hexdigest(), len(parts))

    def data_files_containing(self, needle):
        """Files anywhere under the data folder (object bodies, parts, the index and its WAL)
        whose bytes contain needle."""
        found = []
        for root, _, files in os.walk(self.server.data_dir):
            for name in files:
                path = os.path.join(root, name)
                try:
                    with open(path, "rb") as f:
                        if needle in f.read():
                            found.append(os.path.relpath(path, self.server.data_dir))
                except FileNotFoundError:
                    continue  # a temporary file renamed away while walking
        return found

    def body_files(self):
        top = os.path.join(self.server.data_dir, "objects")
        return [os.path.join(r, f) for r, _, fs in os.walk(top) for f in fs]

    def bucket_usage(self, bucket):
        doc = t.gzy_admin(self.server, "bucket", "list", "--tenant", self.tenant)
        for b in doc["buckets"]:
            if b["name"] == bucket:
                return b["bytes"], b["objects"]
        self.fail("bucket %s not listed: %s" % (bucket, doc))

    def check_sealed(self, dst, objs, alg, marker):
        s3 = self.admin.s3
        listed = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=dst):
            for o in page.get("Contents", []):
                listed[o["Key"]] = (o["Size"], o["ETag"].strip('"'))
        self.assertEqual({k: len(v[0]) for k, v in objs.items()},
                         {k: v[0] for k, v in listed.items()}, "plaintext sizes in the listing")
        src_meta = self.moto.s3
        for key, (data, parts) in objs.items():
            want_etag = self.s3_etag(data, parts)
            self.assertEqual(listed[key][1], want_etag, key)
            got = s3.get_object(Bucket=dst, Key=key)
            self.assertEqual(got["Body"].read(), data, key)
            self.assertEqual(got["ETag"].strip('"'), want_etag, key)
            self.assertEqual(got["ContentLength"], len(data), key)
            self.assertEqual(got.get("ServerSideEncryption"), alg, key)
            head = s3.head_object(Bucket=dst, Key=key)
            self.assertEqual(head.get("ServerSideEncryption"), alg, key)
            self.assertEqual(head["ContentLength"], len(data), key)
            src = src_meta.head_object(Bucket=self.src, Key=key)
            for f in ("ContentType", "CacheControl", "Metadata"):
                self.assertEqual(src.get(f), head.get(f), "%s of %s" % (f, key))
            if len(data) > 10:  # a middle span
                lo, hi = len(data) // 3, len(data) // 3 + len(data) // 4
                r = s3.get_object(Bucket=dst, Key=key, Range="bytes=%d-%d" % (lo, hi))
                self.assertEqual(r["Body"].read(), data[lo:hi + 1], key)
                self.assertEqual(r["ContentRange"], "bytes %d-%d/%d" % (lo, hi, len(data)))
        if "big/mp" in objs:  # across the part boundary and several segment boundaries
            data = objs["big/mp"][0]
            lo, hi = 5 * h.MiB - 3 * SEG - 5, 5 * h.MiB + 2 * SEG + 9
            r = s3.get_object(Bucket=dst, Key="big/mp", Range="bytes=%d-%d" % (lo, hi))
            self.assertEqual(r["Body"].read(), data[lo:hi + 1])
            r = s3.get_object(Bucket=dst, Key="big/mp", Range="bytes=-70000")
            self.assertEqual(r["Body"].read(), data[-70000:])
        # usage counts stored bytes, as for a PUT (one sealed body per simple object / part)
        want = sum(sum(stored_size(len(p)) for p in parts) if parts else stored_size(len(data))
                   for data, parts in objs.values())
        self.assertEqual(self.bucket_usage(dst), (want, len(objs)))
        # no plaintext anywhere in the data folder: bodies, parts, inline rows, the WAL
        self.assertTrue(self.body_files(), "no body files under objects/")
        self.assertEqual(self.data_files_containing(marker), [])

    def second_job_copies_nothing(self, src, dst, n):
        """The destination listing shows plaintext sizes and the source ETags: the diff of a
        new job skips every object."""
        j = self.run_job(src, dst)
        self.assertEqual(j["stats"]["failed"], 0, j)
        self.assertEqual(j["stats"]["to_copy"], 0, j)
        self.assertEqual(j["stats"]["skipped"], n, j)

    # ---- tests ----

    def test_aes256_bucket_gets_sealed_objects(self):
        marker = b"GZY-PLAINTEXT-AES-" + secrets.token_hex(8).encode()
        self.src = h.unique_bucket("sasrc")
        objs = self.populate(self.src, marker)
        dst = self.dest_bucket("sadst", "AES256")
        j = self.run_job(self.src, dst)
        self.assertEqual(j["stats"]["verified"], len(objs), j)
        self.assertNotIn(OLD_REFUSAL, self.server.logs(tail=10 ** 9))
        self.check_sealed(dst, objs, "AES256", marker)
        # the same objects PUT through S3 into an encrypting bucket are stored alike
        ref = self.dest_bucket("saref", "AES256")
        for key, (data, parts) in objs.items():
            if parts is None:
                self.admin.s3.put_object(Bucket=ref, Key=key, Body=data)
        put_bytes = self.bucket_usage(ref)[0]
        self.assertEqual(put_bytes, sum(stored_size(len(d)) for d, p in objs.values() if not p))
        self.second_job_copies_nothing(self.src, dst, len(objs))

    def test_sm4_bucket_gets_sealed_objects(self):
        marker = b"GZY-PLAINTEXT-SM4-" + secrets.token_hex(8).encode()
        self.src = h.unique_bucket("smsrc")
        objs = self.populate(self.src, marker, n=3)
        dst = self.dest_bucket("smdst", "SM4")
        j = self.run_job(self.src, dst)
        self.assertEqual(j["stats"]["verified"], len(objs), j)
        self.check_sealed(dst, objs, "SM4", marker)
        self.second_job_copies_nothing(self.src, dst, len(objs))

    def test_paused_multipart_resumes_sealed(self):
        """A job paused in the middle of a multipart copy keeps its sealed upload; resumed, it
        seals the remaining parts under the upload's data key and verifies the whole object by
        reading it back (decrypted) from the store."""
        marker = b"GZY-PLAINTEXT-RESUME-" + secrets.token_hex(8).encode()
        src = h.unique_bucket("srsrc")
        self.moto.s3.create_bucket(Bucket=src)
        # the job copies with the source's 5 MiB parts, 4 streams: part 1 first, then 2-5 at
        # once; paused once part 1 is in, it never claims part 6
        parts = [body_of(marker, 300 + i, 5 * h.MiB) for i in range(5)] + [marker * 3]
        up = self.moto.s3.create_multipart_upload(Bucket=src, Key="huge")
        done = []
        for i, p in enumerate(parts):
            r = self.moto.s3.upload_part(Bucket=src, Key="huge", UploadId=up["UploadId"],
                                         PartNumber=i + 1, Body=p)
            done.append({"PartNumber": i + 1, "ETag": r["ETag"]})
        self.moto.s3.complete_multipart_upload(Bucket=src, Key="huge", UploadId=up["UploadId"],
                                               MultipartUpload={"Parts": done})
        dst = self.dest_bucket("srdst", "AES256")
        jid = self.start_job(src, dst, concurrency=1, bandwidth_limit=6 * h.MiB)
        s3 = self.admin.s3
        deadline = time.time() + 60
        ups = []
        while time.time() < deadline and not ups:
            ups = s3.list_multipart_uploads(Bucket=dst).get("Uploads", [])
            time.sleep(0.02)
        self.assertEqual(len(ups), 1)
        while time.time() < deadline and not s3.list_parts(
                Bucket=dst, Key="huge", UploadId=ups[0]["UploadId"]).get("Parts"):
            time.sleep(0.02)
        r = self.admin.admin("POST", "%s/%s/pause" % (API, jid))
        self.assertEqual(r.status, 200, r)
        j = self.wait_job(jid, ("paused",))
        stopped = "job %s: pass 1 ended: stopped" % jid
        while time.time() < deadline and stopped not in self.server.logs(tail=10 ** 9):
            time.sleep(0.05)  # the pass stops once the parts in flight are in
        self.assertIn(stopped, self.server.logs(tail=10 ** 9))
        self.assertEqual(s3.list_multipart_uploads(Bucket=dst).get("Uploads", []), ups, j)
        listed = s3.list_parts(Bucket=dst, Key="huge", UploadId=ups[0]["UploadId"])["Parts"]
        self.assertTrue(1 <= len(listed) < len(parts), listed)
        for p in listed:  # ListParts shows plaintext sizes and MD5s
            want = parts[p["PartNumber"] - 1]
            self.assertEqual((p["Size"], p["ETag"].strip('"')),
                             (len(want), hashlib.md5(want).hexdigest()))
        r = self.admin.admin("POST", "%s/%s/resume" % (API, jid))
        self.assertEqual(r.status, 200, r)
        j = self.wait_job(jid, ("completed", "failed"))
        self.assertEqual(j["state"], "completed", j)
        got = s3.get_object(Bucket=dst, Key="huge")
        self.assertEqual(got["Body"].read(), b"".join(parts))
        self.assertEqual(got["ETag"].strip('"'), self.s3_etag(b"".join(parts), parts))
        self.assertEqual(got.get("ServerSideEncryption"), "AES256")
        self.assertEqual(s3.list_multipart_uploads(Bucket=dst).get("Uploads", []), [])
        self.assertEqual(self.data_files_containing(marker), [])

    def test_plain_bucket_stays_plaintext_and_fsck_is_clean(self):
        marker = b"GZY-PLAINTEXT-NONE-" + secrets.token_hex(8).encode()
        self.src = h.unique_bucket("spsrc")
        objs = self.populate(self.src, marker, n=2, large=False)
        dst = self.dest_bucket("spdst", None)
        self.run_job(self.src, dst)
        for key, (data, _) in objs.items():
            got = self.admin.s3.get_object(Bucket=dst, Key=key)
            self.assertEqual(got["Body"].read(), data, key)
            self.assertNotIn("ServerSideEncryption", got, key)
        self.assertEqual(self.bucket_usage(dst), (sum(len(d) for d, _ in objs.values()),
                                                  len(objs)))
        # the scan finds plaintext when it is there (so the sealed tests' scans mean something)
        self.assertNotEqual(self.data_files_containing(marker), [])
        # an encrypted job's objects too, then fsck over the whole folder with the server down
        sealed_src = h.unique_bucket("sfsrc")
        sealed = self.populate(sealed_src, b"GZY-FSCK-" + secrets.token_hex(4).encode(), n=2)
        sealed_dst = self.dest_bucket("sfdst", "AES256")
        self.run_job(sealed_src, sealed_dst)
        port = self.server.port
        self.server.stop()
        self.assertEqual(self.server.problems, [], self.server.logs())
        try:
            p = t.run_gzy("fsck", "--data", self.server.data_dir, "--json", check=False)
            self.assertEqual(p.returncode, 0, "%s\n%s" % (p.stdout[-6000:], p.stderr[-2000:]))
            doc = json.loads(p.stdout)
            self.assertTrue(doc["clean"], doc)
            self.assertEqual(doc["problems"], [])
            # the plaintext objects' bodies are checked against their ETags; sealed ones
            # cannot be (their ETag is the plaintext's MD5) and are counted unverified
            self.assertGreaterEqual(doc["stats"]["verified"], len(objs), doc["stats"])
        finally:
            self.server.start(port=port)
        got = self.admin.s3.get_object(Bucket=sealed_dst, Key="big/mp")["Body"].read()
        self.assertEqual(got, sealed["big/mp"][0])


if __name__ == "__main__":
    unittest.main()
