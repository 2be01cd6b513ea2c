"""Migration evidence: `gzy migrate copy --manifest` writes a signed manifest, `gzy migrate
verify-manifest` checks it against what gzy stores (a changed object is named as mismatched, a
deleted one as missing, an edited manifest fails its signature before any request), and
`gzy migrate estimate` reports exact counts, bytes, histogram and archive classes of a
moto_server source."""

import hashlib
import json
import os
import subprocess
import tempfile
import unittest


import harness as h
from motopeer import MOTO_KEY, Moto, MotoServerCase, free_port, moto_binary

KiB = 1024
AWKWARD = ["with space.txt", "plus+sign", "per%cent", "unicode-\u00e9\u4e2d\u6587.bin",
           "deep/a/b/c/d/e/f/g.txt", "dots/../up", 'quote"and\\back']


def gzy():
    return os.environ.get("GZY_BIN", "build/gzy")


@unittest.skipIf(moto_binary() is None, "moto_server is not installed")
class MigrateEvidenceTests(MotoServerCase):
    TMP_PREFIX = "gzy-ev-"

    # ---- helpers ----

    def run_gzy(self, *args, env=None, timeout=300):
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run([gzy(), "migrate"] + list(args), capture_output=True,
                           timeout=timeout, env=e)
        err = p.stderr.decode(errors="replace")
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)
        return p

    def dest_args(self):
        return ["--endpoint", self.server.endpoint, "--access-key", self.server.access_key,
                "--secret-key", self.server.secret_key]

    def verify(self, manifest, *extra, key_args=None):
        args = ["verify-manifest", manifest] + (key_args or
                                                ["--data", self.server.data_dir])
        p = self.run_gzy(*(args + self.dest_args() + ["--json"] + list(extra)))
        out = p.stdout.decode()
        self.assertTrue(out.strip(), "no output; stderr: %s" % p.stderr.decode())
        return p.returncode, json.loads(out.strip().splitlines()[-1])

    def populate(self, bucket):
        m = self.moto.s3
        m.create_bucket(Bucket=bucket)
        bodies = {}
        for i in range(25):
            bodies["small/%03d" % i] = h.random_bytes(i * 131 % 5000, seed=i)
        for k in AWKWARD:
            bodies[k] = ("body of " + k).encode()
        bodies["empty"] = b""
        for k, b in bodies.items():
            m.put_object(Bucket=bucket, Key=k, Body=b)
        key = "big/multipart"
        up = m.create_multipart_upload(Bucket=bucket, Key=key)
        parts, data = [], b""
        for i, sz in enumerate([5 * h.MiB, 1 * h.MiB + 7]):
            body = h.random_bytes(sz, seed=1000 + i)
            data += body
            r = m.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=i + 1,
                              Body=body)
            parts.append({"PartNumber": i + 1, "ETag": r["ETag"]})
        m.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                    MultipartUpload={"Parts": parts})
        bodies[key] = data
        return bodies

    def copy_with_manifest(self, src, dst, manifest, *extra):
        return self.run_gzy(
            "copy", "--source-endpoint", self.moto.endpoint, "--source-bucket", src,
            "--source-access-key", MOTO_KEY, "--source-secret-key", MOTO_KEY,
            "--dest-endpoint", self.server.endpoint, "--dest-bucket", dst,
            "--dest-access-key", self.server.access_key,
            "--dest-secret-key", self.server.secret_key, "--concurrency", "4",
            "--manifest", manifest, *extra)

    def check_signature_independently(self, raw, pub_hex):
        try:
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        except ImportError:
            return
        body, sig_line = raw.rsplit(b'\n"signature":"', 1)
        body += b"\n"
        self.assertEqual(sig_line[128:], b'"}\n')
        stmt = b"gzy-manifest-v1\n" + hashlib.sha256(body).hexdigest().encode() + b"\n"
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(pub_hex))
        key.verify(bytes.fromhex(sig_line[:128].decode()), stmt)
        with self.assertRaises(InvalidSignature):
            key.verify(bytes.fromhex(sig_line[:128].decode()), stmt.replace(b"v1", b"v2"))

    # ---- tests ----

    def test_manifest_copy_verify_and_failures(self):
        src, dst = "ev-src", self.new_bucket("ev-dst")
        bodies = self.populate(src)
        manifest = os.path.join(self.tmp, "m1.json")
        p = self.copy_with_manifest(src, dst, manifest, "--data", self.server.data_dir)
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 0, out[-2000:] + p.stderr.decode()[-2000:])
        events = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        ev = [e for e in events if e.get("event") == "manifest"]
        self.assertEqual(len(ev), 1, out[-2000:])
        self.assertEqual(ev[0]["objects"], len(bodies))
        self.assertEqual(ev[0]["path"], manifest)

        # the manifest: one JSON document, every object with its size and SHA-256, sorted
        with open(manifest, "rb") as f:
            raw = f.read()
        doc = json.loads(raw)
        self.assertEqual(list(doc.keys()), ["version", "label", "pass", "created", "source",
                                            "destination", "counts", "objects", "public_key",
                                            "signature"])
        self.assertEqual(doc["version"], 1)
        self.assertEqual(doc["source"], {"endpoint": self.moto.endpoint, "bucket": src,
                                         "prefix": ""})
        self.assertEqual(doc["destination"], {"bucket": dst})
        self.assertEqual(doc["counts"]["objects"], len(bodies))
        self.assertEqual(doc["counts"]["bytes"], sum(len(b) for b in bodies.values()))
        keys = [o["key"] for o in doc["objects"]]
        self.assertEqual(keys, sorted(bodies, key=lambda k: k.encode()))
        for o in doc["objects"]:
            self.assertEqual(o["size"], len(bodies[o["key"]]), o["key"])
            self.assertEqual(o["sha256"], hashlib.sha256(bodies[o["key"]]).hexdigest(), o)
            self.assertIn(o["method"], ("md5", "size+sha256", "crc64", "mpu-md5"))
        mp = [o for o in doc["objects"] if o["key"] == "big/multipart"][0]
        self.assertTrue(mp["source_etag"].endswith("-2"), mp)

        # the documented signature scheme, checked independently of gzy
        self.check_signature_independently(raw, doc["public_key"])

        # the platform key printed for supervisors is the one embedded
        p = self.run_gzy("manifest-key", "--data", self.server.data_dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        pub = p.stdout.decode().strip()
        self.assertEqual(pub, doc["public_key"])

        # verifies: by the platform key, by the public key, with keys from the environment
        rc, r = self.verify(manifest)
        self.assertEqual((rc, r["status"], r["ok"], r["missing"], r["mismatched"]),
                         (0, "ok", len(bodies), 0, 0), r)
        self.assertTrue(r["signature_ok"])
        p = self.run_gzy("verify-manifest", manifest, "--public-key", pub, "--endpoint",
                         self.server.endpoint, "--concurrency", "2",
                         env={"GZY_ACCESS_KEY": self.server.access_key,
                              "GZY_SECRET_KEY": self.server.secret_key})
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        self.assertIn("missing 0, mismatched 0", p.stdout.decode())

        # a wrong trusted key fails
        rc, r = self.verify(manifest, key_args=["--public-key", "ab" * 32])
        self.assertEqual((rc, r["status"], r["signature_ok"]), (1, "bad-manifest", False), r)
        self.assertIn("not the trusted key", r["error"])

        # an object overwritten at the destination with other bytes of the same size
        victim = "small/007"
        self.s3.put_object(Bucket=dst, Key=victim,
                           Body=bytes(b ^ 0xFF for b in bodies[victim]))
        rc, r = self.verify(manifest)
        self.assertEqual((rc, r["status"], r["mismatched"], r["missing"]), (1, "failed", 1, 0), r)
        self.assertEqual(r["problems"][0]["key"], victim)
        self.assertEqual(r["problems"][0]["problem"], "mismatched")
        self.assertIn("sha256", r["problems"][0]["detail"])
        # text mode names it too
        p = self.run_gzy("verify-manifest", manifest, "--data", self.server.data_dir,
                         *self.dest_args())
        self.assertEqual(p.returncode, 1)
        self.assertIn("mismatched", p.stdout.decode())
        self.assertIn(victim, p.stdout.decode())

        # a deleted object is missing (a key with awkward characters)
        gone = AWKWARD[3]
        self.s3.delete_object(Bucket=dst, Key=gone)
        rc, r = self.verify(manifest)
        self.assertEqual((rc, r["mismatched"], r["missing"], r["ok"]),
                         (1, 1, 1, len(bodies) - 2), r)
        byk = {x["key"]: x["problem"] for x in r["problems"]}
        self.assertEqual(byk, {victim: "mismatched", gone: "missing"})

        # an edited manifest (a size changed, JSON still valid) fails the signature, before any
        # request: the destination given is unreachable and is never contacted
        text = raw.decode()
        edited = os.path.join(self.tmp, "edited.json")
        needle = '"key":"small/003","size":%d' % len(bodies["small/003"])
        self.assertIn(needle, text)
        with open(edited, "w") as f:
            f.write(text.replace(needle, '"key":"small/003","size":%d'
                                 % (len(bodies["small/003"]) + 1)))
        with open(edited) as f:
            json.loads(f.read())
        p = self.run_gzy("verify-manifest", edited, "--data", self.server.data_dir, "--json",
                         "--endpoint", "http://127.0.0.1:%d" % free_port(), "--access-key",
                         "x", "--secret-key", "y")
        r = json.loads(p.stdout.decode().strip())
        self.assertEqual((p.returncode, r["status"], r["signature_ok"]),
                         (1, "bad-manifest", False), r)
        # a changed hash keeps counts consistent: caught by the signature itself
        sha = hashlib.sha256(bodies["small/003"]).hexdigest()
        with open(edited, "w") as f:
            f.write(text.replace(sha, hashlib.sha256(b"other").hexdigest()))
        p = self.run_gzy("verify-manifest", edited, "--data", self.server.data_dir, "--json",
                         "--endpoint", "http://127.0.0.1:%d" % free_port(), "--access-key",
                         "x", "--secret-key", "y")
        r = json.loads(p.stdout.decode().strip())
        self.assertEqual((p.returncode, r["status"]), (1, "bad-manifest"), r)
        self.assertIn("signature does not verify", r["error"])
        self.assertEqual(r["objects"], 0)

        # wrong destination credentials: a clear error, not a list of failures
        p = self.run_gzy("verify-manifest", manifest, "--data", self.server.data_dir,
                         "--endpoint", self.server.endpoint, "--access-key",
                         self.server.access_key, "--secret-key", "wrong-secret")
        self.assertEqual(p.returncode, 1)
        self.assertIn("403", p.stderr.decode())

    def test_copy_manifest_needs_the_platform_key(self):
        src, dst = "ev-nokey-src", self.new_bucket("ev-nokey")
        self.moto.s3.create_bucket(Bucket=src)
        self.moto.s3.put_object(Bucket=src, Key="a", Body=b"a")
        empty = tempfile.mkdtemp(dir=self.tmp)
        manifest = os.path.join(self.tmp, "nokey.json")
        p = self.copy_with_manifest(src, dst, manifest, "--data", empty)
        self.assertEqual(p.returncode, 1)
        self.assertIn("master.key", p.stderr.decode())
        self.assertFalse(os.path.exists(manifest))
        # nothing was copied: the key is checked before the pass
        self.assertEqual(self.s3.list_objects_v2(Bucket=dst).get("KeyCount"), 0)

    def test_estimate_exact(self):
        src = "ev-estimate"
        m = self.moto.s3
        m.create_bucket(Bucket=src)
        sizes = {"a0": 0, "a1": 100, "a2": 4095, "b0": 4096, "b1": 16383, "c0": 20000,
                 "d0": 70000, "e0": 300000, "f0": 1 * h.MiB + 5, "g0": 5 * h.MiB}
        for k, n in sizes.items():
            m.put_object(Bucket=src, Key=k, Body=h.random_bytes(n, seed=n))
        m.put_object(Bucket=src, Key="z-cold", Body=b"frozen bytes", StorageClass="GLACIER")
        m.put_object(Bucket=src, Key="z-ir", Body=b"instant", StorageClass="GLACIER_IR")
        total = sum(sizes.values()) + 12 + 7
        base = ["estimate", "--source-endpoint", self.moto.endpoint, "--source-bucket", src,
                "--source-access-key", MOTO_KEY, "--source-secret-key", MOTO_KEY]
        p = self.run_gzy(*(base + ["--rate", "1M", "--rate-objects", "100", "--json"]))
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        r = json.loads(p.stdout.decode())
        self.assertEqual((r["objects"], r["bytes"], r["complete"], r["truncated"]),
                         (12, total, True, False), r)
        hist = {b["bucket"]: (b["objects"], b["bytes"]) for b in r["histogram"]}
        self.assertEqual(len(r["histogram"]), 12)
        self.assertEqual(hist["<4 KiB"], (5, 0 + 100 + 4095 + 12 + 7))
        self.assertEqual(hist["4-16 KiB"], (2, 4096 + 16383))
        self.assertEqual(hist["16-64 KiB"], (1, 20000))
        self.assertEqual(hist["64-256 KiB"], (1, 70000))
        self.assertEqual(hist["256-1024 KiB"], (1, 300000))
        self.assertEqual(hist["1-4 MiB"], (1, 1 * h.MiB + 5))
        self.assertEqual(hist["4-16 MiB"], (1, 5 * h.MiB))
        self.assertEqual(hist[">=4 GiB"], (0, 0))
        self.assertEqual(r["histogram"][0]["min"], 0)
        self.assertEqual(r["histogram"][0]["max"], 4096)
        self.assertIsNone(r["histogram"][-1]["max"])
        self.assertEqual(r["archive"], {"objects": 1, "bytes": 12, "classes": {"GLACIER": 1}})
        self.assertEqual(r["rate_source"], "given")
        self.assertEqual(r["rate_bps"], 1024 * 1024)
        # the readable objects (11: not the GLACIER one): bytes at --rate plus a cost per
        # object at --rate-objects, so many small objects are not projected as free
        self.assertEqual((r["rate_objects_source"], r["rate_objects_per_s"]), ("given", 100))
        self.assertAlmostEqual(r["duration_bytes_s"], (total - 12) / (1024 * 1024), places=3)
        self.assertAlmostEqual(r["duration_objects_s"], 11 / 100, places=6)
        self.assertAlmostEqual(r["duration_s"], (total - 12) / (1024 * 1024) + 0.11, places=3)
        self.assertIsNone(r["extrapolated"])
        # --no-measure and no --rate-objects: the bytes alone, and said so
        p = self.run_gzy(*(base + ["--rate", "1M", "--no-measure", "--json"]))
        r = json.loads(p.stdout.decode())
        self.assertEqual((r["rate_objects_source"], r["rate_objects_per_s"]), ("none", 0))
        self.assertAlmostEqual(r["duration_s"], (total - 12) / (1024 * 1024), places=3)
        # --rate alone: the cost of an object is measured (GETs of the smallest objects)
        p = self.run_gzy(*(base + ["--rate", "1M", "--json"]))
        r = json.loads(p.stdout.decode())
        self.assertEqual(r["rate_objects_source"], "measured", r)
        self.assertGreater(r["rate_objects_per_s"], 0)
        self.assertEqual(r["measured"]["small_objects"], 4)
        self.assertAlmostEqual(r["duration_objects_s"], 11 / r["rate_objects_per_s"], places=6)
        self.assertGreater(r["duration_s"], (total - 12) / (1024 * 1024))

        # a sample smaller than the bucket: truncated, and said so
        p = self.run_gzy(*(base + ["--sample", "3", "--rate", "1M", "--json"]))
        r = json.loads(p.stdout.decode())
        self.assertEqual((r["objects"], r["bytes"], r["truncated"], r["complete"], r["sample"]),
                         (3, 0 + 100 + 4095, True, False, 3), r)
        p = self.run_gzy(*(base + ["--sample", "3", "--rate", "1M", "--rate-objects", "100",
                                   "--total-objects", "12", "--json"]))
        r = json.loads(p.stdout.decode())
        self.assertEqual(r["extrapolated"]["objects"], 12)
        self.assertEqual(r["extrapolated"]["bytes"], (0 + 100 + 4095) * 4)
        self.assertAlmostEqual(r["extrapolated"]["duration_s"],
                               (0 + 100 + 4095) * 4 / (1024 * 1024) + 12 / 100, places=3)
        p = self.run_gzy(*(base + ["--sample", "3", "--rate", "1M"]))
        self.assertIn("truncated", p.stdout.decode())
        # a sample as large as the bucket is the whole listing, not truncated
        p = self.run_gzy(*(base + ["--sample", "12", "--rate", "1M", "--json"]))
        r = json.loads(p.stdout.decode())
        self.assertEqual((r["objects"], r["truncated"], r["extrapolated"]), (12, False, None))

        # measured rate: a few GETs of listed objects
        p = self.run_gzy(*(base + ["--json"]))
        r = json.loads(p.stdout.decode())
        self.assertEqual(r["rate_source"], "measured", r)
        self.assertGreater(r["rate_bps"], 0)
        self.assertGreaterEqual(r["measured"]["objects"], 1)
        self.assertGreater(r["duration_s"], 0)
        self.assertEqual(r["rate_objects_source"], "measured", r)
        # text output
        p = self.run_gzy(*base)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = p.stdout.decode()
        for word in ("objects: 12", "size histogram", "GLACIER 1", "projected duration",
                     "per object:"):
            self.assertIn(word, out)

        # bad credentials and a bad rate
        p = self.run_gzy("estimate", "--source-endpoint", self.moto.endpoint, "--source-bucket",
                         "no-such-bucket-ev", "--source-access-key", MOTO_KEY,
                         "--source-secret-key", MOTO_KEY)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no-such-bucket-ev", p.stderr.decode())
        p = self.run_gzy(*(base + ["--rate", "fast"]))
        self.assertEqual(p.returncode, 2)
        p = self.run_gzy(*(base + ["--rate-objects", "0"]))
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    unittest.main()
