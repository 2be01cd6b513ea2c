"""Quotas and usage (issue 3): tenant and bucket quotas in bytes and objects refuse PutObject,
CopyObject, UploadPart and CompleteMultipartUpload that would exceed them (403 QuotaExceeded,
the message naming the limit); concurrent requests racing for the last bytes or objects never
overshoot; usage from `gzy admin usage --json` is exact after uploads, overwrites, copies,
deletes and multipart uploads, and after `kill -9` and a restart."""

import concurrent.futures
import re
import threading
import unittest

import harness as h
import tenancy as t


class QuotaTests(t.TenancyMixin, h.ServerTestCase):
    gzy_only = True

    def setUp(self):
        self.ten = t.Tenancy(self.server)

    def new_tenant(self, prefix, **quota):
        name = t.unique_tenant(prefix)
        self.ten.tenant_add(name, **quota)
        adm = self.ten.principal(name, "boss", "tenant-admin")
        return name, adm

    def bucket(self, who, prefix):
        name = h.unique_bucket(prefix)
        who.s3.create_bucket(Bucket=name)
        return name

    def assertQuota(self, label, limit, fn, **kw):
        msg = self.assertDenied(label, fn, code="QuotaExceeded", status=403, **kw)
        self.assertRegex(msg or "", r"(?<![0-9])%d(?![0-9])" % limit,
                         "%s: the QuotaExceeded message should name the limit %d"
                         % (label, limit))

    def assertUsage(self, tenant, total, buckets=None):
        got_total, got_buckets = self.ten.usage(tenant)
        self.assertEqual(got_total, {"bytes": total[0], "objects": total[1]},
                         "tenant %s usage" % tenant)
        for b, (nbytes, nobjects) in (buckets or {}).items():
            self.assertEqual(got_buckets.get(b), {"bytes": nbytes, "objects": nobjects},
                             "bucket %s usage" % b)

    def keys(self, who, bucket):
        return sorted(o["Key"] for o in who.s3.list_objects_v2(Bucket=bucket).get("Contents",
                                                                                   []))

    # ---- refusals ----

    def test_tenant_bytes_quota(self):
        name, adm = self.new_tenant("qbytes", max_bytes=10000)
        s3 = adm.s3
        b = self.bucket(adm, "qbytes")
        s3.put_object(Bucket=b, Key="a", Body=b"a" * 6000)
        s3.put_object(Bucket=b, Key="b", Body=b"b" * 4000)  # exactly at the limit
        self.assertQuota("PutObject 1 byte over", 10000, s3.put_object, Bucket=b, Key="c",
                         Body=b"c")
        s3.put_object(Bucket=b, Key="empty", Body=b"")  # adds no bytes
        s3.delete_object(Bucket=b, Key="empty")
        # An overwrite counts the difference.
        self.assertQuota("PutObject overwrite growing", 10000, s3.put_object, Bucket=b, Key="a",
                         Body=b"a" * 6001)
        s3.put_object(Bucket=b, Key="a", Body=b"A" * 5000)  # 9000
        self.assertQuota("CopyObject", 10000, s3.copy_object, Bucket=b, Key="b2",
                         CopySource={"Bucket": b, "Key": "b"})
        up = s3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
        self.assertQuota("UploadPart", 10000, s3.upload_part, Bucket=b, Key="mp", UploadId=up,
                         PartNumber=1, Body=b"p" * 1001)
        part = s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=1, Body=b"p" * 500)
        s3.put_object(Bucket=b, Key="fill", Body=b"f" * 1000)  # 10000 again
        parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
        self.assertQuota("CompleteMultipartUpload", 10000, s3.complete_multipart_upload,
                         Bucket=b, Key="mp", UploadId=up, MultipartUpload=parts)
        self.assertEqual(self.keys(adm, b), ["a", "b", "fill"])
        self.assertUsage(name, (10000, 3))
        # The refused upload is still there and completes once there is room.
        s3.delete_object(Bucket=b, Key="fill")
        s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up, MultipartUpload=parts)
        self.assertEqual(s3.get_object(Bucket=b, Key="a")["Body"].read(), b"A" * 5000)
        self.assertUsage(name, (9500, 3), {b: (9500, 3)})
        # Raising the quota lets writes through again.
        self.ten.tenant_quota(name, max_bytes=20000)
        s3.copy_object(Bucket=b, Key="b2", CopySource={"Bucket": b, "Key": "b"})
        self.assertUsage(name, (13500, 4))
        shown = self.ten.admin("tenant", "show", name)
        self.assertEqual(shown["quota"]["max_bytes"], 20000, shown)
        self.assertEqual(shown["usage"], {"bytes": 13500, "objects": 4}, shown)

    def test_tenant_objects_quota(self):
        name, adm = self.new_tenant("qobjs", max_objects=5)
        s3 = adm.s3
        b1, b2 = self.bucket(adm, "qobjs-1"), self.bucket(adm, "qobjs-2")
        for i in range(4):
            s3.put_object(Bucket=b1, Key="o%d" % i, Body=b"x" * 10)
        s3.put_object(Bucket=b2, Key="o4", Body=b"")  # 5 objects over two buckets
        self.assertQuota("PutObject sixth object", 5, s3.put_object, Bucket=b1, Key="o5",
                         Body=b"")
        self.assertQuota("PutObject sixth object, other bucket", 5, s3.put_object, Bucket=b2,
                         Key="o5", Body=b"x")
        self.assertQuota("CopyObject to a new key", 5, s3.copy_object, Bucket=b2, Key="c",
                         CopySource={"Bucket": b1, "Key": "o0"})
        # Overwrites add no object.
        s3.put_object(Bucket=b1, Key="o0", Body=b"y" * 20)
        s3.copy_object(Bucket=b1, Key="o1", CopySource={"Bucket": b1, "Key": "o0"})
        up = s3.create_multipart_upload(Bucket=b1, Key="new-mp")["UploadId"]
        p = s3.upload_part(Bucket=b1, Key="new-mp", UploadId=up, PartNumber=1, Body=b"z")
        parts = {"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]}
        self.assertQuota("CompleteMultipartUpload new key", 5, s3.complete_multipart_upload,
                         Bucket=b1, Key="new-mp", UploadId=up, MultipartUpload=parts)
        up2 = s3.create_multipart_upload(Bucket=b1, Key="o2")["UploadId"]
        p2 = s3.upload_part(Bucket=b1, Key="o2", UploadId=up2, PartNumber=1, Body=b"zz")
        s3.complete_multipart_upload(Bucket=b1, Key="o2", UploadId=up2, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": p2["ETag"]}]})
        self.assertUsage(name, (20 + 20 + 2 + 10, 5), {b1: (52, 4), b2: (0, 1)})
        s3.delete_object(Bucket=b2, Key="o4")
        s3.complete_multipart_upload(Bucket=b1, Key="new-mp", UploadId=up,
                                     MultipartUpload=parts)
        self.assertUsage(name, (53, 5), {b1: (53, 5), b2: (0, 0)})

    def test_bucket_quota(self):
        name, adm = self.new_tenant("qbucket")
        s3 = adm.s3
        b1, b2 = self.bucket(adm, "qbucket-1"), self.bucket(adm, "qbucket-2")
        self.ten.bucket_quota(b1, max_bytes=3000, max_objects=4)
        s3.put_object(Bucket=b1, Key="a", Body=b"a" * 2000)
        self.assertQuota("bucket PutObject", 3000, s3.put_object, Bucket=b1, Key="b",
                         Body=b"b" * 1001)
        s3.put_object(Bucket=b1, Key="b", Body=b"b" * 1000)
        s3.put_object(Bucket=b2, Key="big", Body=b"B" * 5000)  # the other bucket is free
        s3.put_object(Bucket=b1, Key="z1", Body=b"")
        s3.put_object(Bucket=b1, Key="z2", Body=b"")
        self.assertQuota("bucket PutObject fifth object", 4, s3.put_object, Bucket=b1,
                         Key="z3", Body=b"")
        s3.delete_object(Bucket=b1, Key="z2")
        self.assertQuota("bucket CopyObject", 3000, s3.copy_object, Bucket=b1, Key="copy",
                         CopySource={"Bucket": b2, "Key": "big"})
        up = s3.create_multipart_upload(Bucket=b1, Key="mp")["UploadId"]
        self.assertQuota("bucket UploadPart", 3000, s3.upload_part, Bucket=b1, Key="mp",
                         UploadId=up, PartNumber=1, Body=b"p")
        s3.delete_object(Bucket=b1, Key="b")  # 2000 bytes, 2 objects
        part = s3.upload_part(Bucket=b1, Key="mp", UploadId=up, PartNumber=1, Body=b"p" * 800)
        s3.put_object(Bucket=b1, Key="c", Body=b"c" * 500)  # 2500 bytes, 3 objects
        self.assertQuota("bucket CompleteMultipartUpload", 3000, s3.complete_multipart_upload,
                         Bucket=b1, Key="mp", UploadId=up, MultipartUpload={"Parts": [
                             {"PartNumber": 1, "ETag": part["ETag"]}]})
        s3.abort_multipart_upload(Bucket=b1, Key="mp", UploadId=up)
        _, buckets = self.ten.usage(name)
        self.assertEqual(buckets[b1], {"bytes": 2500, "objects": 3})
        out = self.ten.admin("usage", "--tenant", name)
        row = [x for x in out["tenants"][0]["buckets"] if x["name"] == b1][0]
        self.assertEqual(row["quota"], {"max_bytes": 3000, "max_objects": 4}, row)
        self.assertUsage(name, (7500, 4), {b1: (2500, 3), b2: (5000, 1)})
        self.ten.bucket_quota(b1, max_bytes=-1, max_objects=-1)
        s3.copy_object(Bucket=b1, Key="copy", CopySource={"Bucket": b2, "Key": "big"})
        self.assertUsage(name, (12500, 5), {b1: (7500, 4)})

    def test_tenant_quota_is_the_smaller_limit(self):
        """A bucket quota larger than the tenant's does not lift the tenant's."""
        name, adm = self.new_tenant("qboth", max_bytes=1500)
        b = self.bucket(adm, "qboth")
        self.ten.bucket_quota(b, max_bytes=100000)
        adm.s3.put_object(Bucket=b, Key="a", Body=b"a" * 1000)
        self.assertQuota("tenant limit under a big bucket quota", 1500, adm.s3.put_object,
                         Bucket=b, Key="b", Body=b"b" * 501)

    def test_streaming_uploads_and_other_writers_count(self):
        """aws-chunked uploads are checked by their decoded length, and writes by any
        principal (here the platform admin) count against the bucket owner's quota."""
        name, adm = self.new_tenant("qstream", max_bytes=100000)
        b = self.bucket(adm, "qstream")
        data = h.random_bytes(60000, seed="stream")
        resp = self.server.streaming_put(b, "signed", data, h.STREAM_SIGNED)
        self.assertEqual(resp.status, 200, resp)
        resp = self.server.streaming_put(b, "unsigned", data, h.STREAM_UNSIGNED_TRAILER,
                                         checksum_alg="crc32c")
        self.assertEqual((resp.status, resp.error_code), (403, "QuotaExceeded"), resp)
        self.assertIn(b"100000", resp.body)
        resp = self.server.streaming_put(b, "unsigned", data[:40000],
                                         h.STREAM_UNSIGNED_TRAILER, checksum_alg="crc32c")
        self.assertEqual(resp.status, 200, resp)
        self.assertUsage(name, (100000, 2), {b: (100000, 2)})
        self.assertQuota("root PutObject into the full tenant", 100000, self.s3.put_object,
                         Bucket=b, Key="by-root", Body=b"r")

    def test_bucket_owner_change_moves_usage_and_quota(self):
        """`gzy admin bucket owner`: the bucket's usage moves to the new tenant, whose quota
        then applies to it."""
        src, src_adm = self.new_tenant("qmove-from")
        dst, dst_adm = self.new_tenant("qmove-to", max_bytes=5000)
        b = self.bucket(src_adm, "qmove")
        src_adm.s3.put_object(Bucket=b, Key="k", Body=b"k" * 4000)
        self.assertUsage(src, (4000, 1))
        self.ten.admin("bucket", "owner", b, dst)
        self.assertUsage(src, (0, 0))
        self.assertUsage(dst, (4000, 1), {b: (4000, 1)})
        self.assertQuota("new owner's quota", 5000, dst_adm.s3.put_object, Bucket=b, Key="x",
                         Body=b"x" * 1001)
        dst_adm.s3.put_object(Bucket=b, Key="x", Body=b"x" * 1000)
        self.assertDenied("old owner writes", src_adm.s3.put_object, Bucket=b, Key="y",
                          Body=b"y")
        self.assertUsage(dst, (5000, 2))

    # ---- races ----

    def race(self, who, fns):
        """Runs every fn at once (a barrier releases them together); returns the list of
        (status, code) per fn."""
        barrier = threading.Barrier(len(fns))

        def run(fn):
            barrier.wait(timeout=30)
            status, code, _ = t.client_error(fn)
            return status, code

        with concurrent.futures.ThreadPoolExecutor(len(fns)) as pool:
            return list(pool.map(run, fns))

    def assertRaceOutcome(self, results, winners):
        ok = [r for r in results if r[1] is None]
        refused = [r for r in results if r[1] == "QuotaExceeded"]
        self.assertEqual(len(ok) + len(refused), len(results),
                         "only success or QuotaExceeded expected: %s" % results)
        self.assertTrue(all(r[0] == 403 for r in refused), results)
        self.assertEqual(len(ok), winners, "successes in the race: %s" % results)

    def test_race_for_the_last_bytes(self):
        name, adm = self.new_tenant("qrace", max_bytes=50000)
        b = self.bucket(adm, "qrace")
        adm.s3.put_object(Bucket=b, Key="prefill", Body=b"p" * 20000)
        clients = [adm.client() for _ in range(8)]
        body = h.random_bytes(10000, seed="race")
        fns = [lambda c=c, i=i: c.put_object(Bucket=b, Key="racer-%d" % i, Body=body)
               for i, c in enumerate(clients)]
        results = self.race(adm, fns)
        self.assertRaceOutcome(results, 3)
        self.assertEqual(len(self.keys(adm, b)), 4)
        self.assertUsage(name, (50000, 4), {b: (50000, 4)})

    def test_race_for_the_last_objects(self):
        name, adm = self.new_tenant("qraceobj", max_objects=6)
        b = self.bucket(adm, "qraceobj")
        for i in range(4):
            adm.s3.put_object(Bucket=b, Key="prefill-%d" % i, Body=b"x")
        clients = [adm.client() for _ in range(8)]
        fns = [lambda c=c, i=i: c.put_object(Bucket=b, Key="racer-%d" % i, Body=b"yy")
               for i, c in enumerate(clients)]
        self.assertRaceOutcome(self.race(adm, fns), 2)
        self.assertUsage(name, (8, 6), {b: (8, 6)})

    def test_race_of_multipart_completions(self):
        name, adm = self.new_tenant("qracemp", max_bytes=50000)
        b = self.bucket(adm, "qracemp")
        b2 = self.bucket(adm, "qracemp-2")
        adm.s3.put_object(Bucket=b2, Key="prefill", Body=b"p" * 20000)
        uploads = []
        for i in range(8):
            key = "mp-%d" % i
            up = adm.s3.create_multipart_upload(Bucket=b, Key=key)["UploadId"]
            p = adm.s3.upload_part(Bucket=b, Key=key, UploadId=up, PartNumber=1,
                                   Body=b"m" * 10000)
            uploads.append((key, up, p["ETag"]))
        clients = [adm.client() for _ in range(8)]
        fns = [lambda c=c, u=u: c.complete_multipart_upload(
            Bucket=b, Key=u[0], UploadId=u[1],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": u[2]}]})
            for c, u in zip(clients, uploads)]
        self.assertRaceOutcome(self.race(adm, fns), 3)
        self.assertUsage(name, (50000, 4), {b: (30000, 3), b2: (20000, 1)})

    # ---- usage accounting ----

    def test_usage_exact_and_after_kill9(self):
        name, adm = self.new_tenant("qusage")
        s3 = adm.s3
        b1, b2 = self.bucket(adm, "qusage-1"), self.bucket(adm, "qusage-2")
        self.assertUsage(name, (0, 0), {b1: (0, 0), b2: (0, 0)})
        s3.put_object(Bucket=b1, Key="a", Body=b"a" * 1000)
        s3.put_object(Bucket=b1, Key="b", Body=b"b" * 2500)
        s3.put_object(Bucket=b1, Key="c", Body=b"")
        self.assertUsage(name, (3500, 3), {b1: (3500, 3)})
        s3.put_object(Bucket=b1, Key="a", Body=b"A" * 300)  # overwrite, smaller
        self.assertUsage(name, (2800, 3), {b1: (2800, 3)})
        s3.delete_object(Bucket=b1, Key="b")
        s3.delete_object(Bucket=b1, Key="never-existed")
        self.assertUsage(name, (300, 2), {b1: (300, 2)})
        s3.copy_object(Bucket=b1, Key="d", CopySource={"Bucket": b1, "Key": "a"})
        s3.put_object(Bucket=b2, Key="x", Body=b"x" * 7)
        s3.copy_object(Bucket=b2, Key="x", CopySource={"Bucket": b1, "Key": "a"})  # 7 -> 300
        self.assertUsage(name, (900, 4), {b1: (600, 3), b2: (300, 1)})
        # Multipart: pending parts do not count; the completed object does.
        parts = [h.random_bytes(5 * h.MiB, seed="u1"), b"tail" * 25]
        up = s3.create_multipart_upload(Bucket=b1, Key="mp")["UploadId"]
        done = []
        for n, p in enumerate(parts, 1):
            r = s3.upload_part(Bucket=b1, Key="mp", UploadId=up, PartNumber=n, Body=p)
            done.append({"PartNumber": n, "ETag": r["ETag"]})
        abandoned = s3.create_multipart_upload(Bucket=b2, Key="gone")["UploadId"]
        s3.upload_part(Bucket=b2, Key="gone", UploadId=abandoned, PartNumber=1, Body=b"g" * 999)
        self.assertUsage(name, (900, 4))
        s3.complete_multipart_upload(Bucket=b1, Key="mp", UploadId=up,
                                     MultipartUpload={"Parts": done})
        s3.abort_multipart_upload(Bucket=b2, Key="gone", UploadId=abandoned)
        mp_size = 5 * h.MiB + 100
        self.assertUsage(name, (900 + mp_size, 5), {b1: (600 + mp_size, 4), b2: (300, 1)})
        r = s3.delete_objects(Bucket=b1, Delete={"Objects": [{"Key": "c"}, {"Key": "d"},
                                                             {"Key": "not-there"}]})
        self.assertFalse(r.get("Errors"), r)
        self.assertUsage(name, (600 + mp_size, 3), {b1: (300 + mp_size, 2)})
        s3.put_object(Bucket=b1, Key="mp", Body=b"small")  # a multipart object overwritten
        expect = {b1: (305, 2), b2: (300, 1)}
        self.assertUsage(name, (605, 3), expect)
        # Usage is in the index with the objects it counts: exact after a crash.
        self.server.kill9()
        self.server.start(port=self.server.port)
        self.assertUsage(name, (605, 3), expect)
        adm._s3 = None
        adm.s3.put_object(Bucket=b2, Key="after-crash", Body=b"z" * 95)
        adm.s3.delete_object(Bucket=b1, Key="a")
        self.assertUsage(name, (400, 3), {b1: (5, 1), b2: (395, 2)})
        # A clean restart keeps it too.
        self.server.restart()
        self.assertUsage(name, (400, 3), {b1: (5, 1), b2: (395, 2)})
        # Deleting a bucket's last objects empties its row; the tenant's totals follow.
        adm._s3 = None
        adm.s3.delete_object(Bucket=b1, Key="mp")
        adm.s3.delete_bucket(Bucket=b1)
        total, buckets = self.ten.usage(name)
        self.assertEqual(total, {"bytes": 395, "objects": 2})
        self.assertNotIn(b1, buckets)

    def test_usage_json_shape(self):
        name, adm = self.new_tenant("qshape", max_bytes=1 << 30, max_objects=1000)
        b = self.bucket(adm, "qshape")
        adm.s3.put_object(Bucket=b, Key="k", Body=b"12345")
        out = self.ten.admin("usage", "--tenant", name)
        self.assertEqual(len(out["tenants"]), 1, out)
        row = out["tenants"][0]
        self.assertEqual((row["name"], row["bytes"], row["objects"]), (name, 5, 1), row)
        self.assertEqual(row["quota"], {"max_bytes": 1 << 30, "max_objects": 1000}, row)
        self.assertEqual([(x["name"], x["bytes"], x["objects"]) for x in row["buckets"]],
                         [(b, 5, 1)], row)
        # The human-readable table names the tenant and the bucket.
        p = t.gzy_admin(self.server, "usage", "--tenant", name, as_json=False)
        self.assertIn(name, p.stdout)
        self.assertTrue(re.search(re.escape(b), p.stdout), p.stdout)


if __name__ == "__main__":
    unittest.main()
