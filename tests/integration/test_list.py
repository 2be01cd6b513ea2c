"""ListObjects (v1) and ListObjectsV2 through boto3: prefixes, delimiters, CommonPrefixes,
pagination through every page, StartAfter/Marker, FetchOwner, EncodingType=url, and UTF-8
binary key order."""

import concurrent.futures
import unittest
import urllib.parse

import harness as h


def utf8_sorted(keys):
    return sorted(keys, key=lambda k: k.encode("utf-8"))


KEYS = (["photos/2024/img%03d.jpg" % i for i in range(150)]
        + ["photos/2025/a.jpg", "photos/2025/b.jpg", "photos/top.jpg"]
        + ["docs/readme%02d.txt" % i for i in range(50)]
        + ["root%03d" % i for i in range(80)]
        + ["docs", "zzz/last"])


class ListTests(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = h.unique_bucket("list")
        cls.s3.create_bucket(Bucket=cls.b)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda k: cls.s3.put_object(Bucket=cls.b, Key=k, Body=k.encode()),
                          KEYS))
        cls.sorted_keys = utf8_sorted(KEYS)

    def test_v2_pages_through_every_key(self):
        got, token, pages = [], None, 0
        while True:
            kw = {"ContinuationToken": token} if token else {}
            r = self.s3.list_objects_v2(Bucket=self.b, MaxKeys=37, **kw)
            pages += 1
            contents = [o["Key"] for o in r.get("Contents", [])]
            self.assertEqual(r["KeyCount"], len(contents))
            self.assertEqual(r["MaxKeys"], 37)
            got += contents
            if not r["IsTruncated"]:
                self.assertNotIn("NextContinuationToken", r)
                break
            self.assertEqual(len(contents), 37)
            token = r["NextContinuationToken"]
            self.assertTrue(token)
            self.assertLess(pages, 100, "pagination does not end")
        self.assertEqual(got, self.sorted_keys)
        self.assertEqual(pages, (len(KEYS) + 36) // 37)

    def test_v1_pages_with_marker(self):
        got, marker = [], None
        for _ in range(100):
            kw = {"Marker": marker} if marker else {}
            r = self.s3.list_objects(Bucket=self.b, MaxKeys=50, **kw)
            contents = [o["Key"] for o in r.get("Contents", [])]
            got += contents
            if not r["IsTruncated"]:
                break
            marker = r.get("NextMarker") or contents[-1]
            self.assertEqual(marker, contents[-1])
        self.assertEqual(got, self.sorted_keys)

    def test_paginator_v2(self):
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.b, PaginationConfig={"PageSize": 100})
        keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
        self.assertEqual(keys, self.sorted_keys)

    def test_delimiter_top_level(self):
        r = self.s3.list_objects_v2(Bucket=self.b, Delimiter="/")
        prefixes = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        self.assertEqual(prefixes, ["docs/", "photos/", "zzz/"])
        keys = [o["Key"] for o in r.get("Contents", [])]
        self.assertEqual(keys, utf8_sorted([k for k in KEYS if "/" not in k]))
        self.assertEqual(r["KeyCount"], len(keys) + len(prefixes))
        self.assertEqual(r["Delimiter"], "/")

    def test_prefix_and_delimiter(self):
        r = self.s3.list_objects_v2(Bucket=self.b, Prefix="photos/", Delimiter="/")
        self.assertEqual([p["Prefix"] for p in r.get("CommonPrefixes", [])],
                         ["photos/2024/", "photos/2025/"])
        self.assertEqual([o["Key"] for o in r.get("Contents", [])], ["photos/top.jpg"])
        self.assertEqual(r["Prefix"], "photos/")
        r = self.s3.list_objects(Bucket=self.b, Prefix="photos/2025/", Delimiter="/")
        self.assertEqual([o["Key"] for o in r["Contents"]],
                         ["photos/2025/a.jpg", "photos/2025/b.jpg"])
        self.assertNotIn("CommonPrefixes", r)

    def test_prefix_without_match(self):
        r = self.s3.list_objects_v2(Bucket=self.b, Prefix="nothing-here/")
        self.assertEqual(r["KeyCount"], 0)
        self.assertNotIn("Contents", r)
        self.assertFalse(r["IsTruncated"])

    def test_delimiter_pagination_counts_prefixes(self):
        for version in ("v1", "v2"):
            with self.subTest(version=version):
                seen, token = [], None
                for _ in range(100):
                    if version == "v2":
                        kw = {"ContinuationToken": token} if token else {}
                        r = self.s3.list_objects_v2(Bucket=self.b, Delimiter="/", MaxKeys=7,
                                                    **kw)
                    else:
                        kw = {"Marker": token} if token else {}
                        r = self.s3.list_objects(Bucket=self.b, Delimiter="/", MaxKeys=7, **kw)
                    items = ([o["Key"] for o in r.get("Contents", [])]
                             + [p["Prefix"] for p in r.get("CommonPrefixes", [])])
                    self.assertLessEqual(len(items), 7)
                    seen += items
                    if not r["IsTruncated"]:
                        break
                    token = r["NextContinuationToken" if version == "v2" else "NextMarker"]
                expected = utf8_sorted([k for k in KEYS if "/" not in k]
                                       + ["docs/", "photos/", "zzz/"])
                self.assertEqual(utf8_sorted(seen), expected)
                self.assertEqual(len(seen), len(set(seen)), "no item listed twice")

    def test_start_after(self):
        r = self.s3.list_objects_v2(Bucket=self.b, StartAfter="photos/2024/img100.jpg",
                                    MaxKeys=3)
        self.assertEqual([o["Key"] for o in r["Contents"]],
                         ["photos/2024/img101.jpg", "photos/2024/img102.jpg",
                          "photos/2024/img103.jpg"])
        self.assertEqual(r["StartAfter"], "photos/2024/img100.jpg")
        r = self.s3.list_objects_v2(Bucket=self.b, StartAfter="zzz/last")
        self.assertEqual(r["KeyCount"], 0)
        r = self.s3.list_objects(Bucket=self.b, Marker="root078")
        self.assertEqual([o["Key"] for o in r["Contents"]], ["root079", "zzz/last"])

    def test_fetch_owner_and_fields(self):
        r = self.s3.list_objects_v2(Bucket=self.b, Prefix="docs/readme0", MaxKeys=2)
        for o in r["Contents"]:
            self.assertNotIn("Owner", o)
            self.assertEqual(o["Size"], len(o["Key"]))
            self.assertEqual(o["ETag"], '"%s"' % h.md5_hex(o["Key"].encode()))
            self.assertEqual(o["StorageClass"], "STANDARD")
            self.assertIn("LastModified", o)
        r = self.s3.list_objects_v2(Bucket=self.b, Prefix="docs/readme0", MaxKeys=2,
                                    FetchOwner=True)
        for o in r["Contents"]:
            self.assertTrue(o["Owner"]["ID"])
        r = self.s3.list_objects(Bucket=self.b, Prefix="docs/readme0", MaxKeys=2)
        for o in r["Contents"]:
            self.assertTrue(o["Owner"]["ID"], "ListObjects v1 always includes Owner")

    def test_max_keys_over_1000_is_capped_not_rejected(self):
        r = self.s3.list_objects_v2(Bucket=self.b, MaxKeys=5000)
        self.assertEqual(r["KeyCount"], len(KEYS))
        self.assertFalse(r["IsTruncated"])

    def test_empty_bucket(self):
        b = self.new_bucket()
        r = self.s3.list_objects_v2(Bucket=b)
        self.assertEqual(r["KeyCount"], 0)
        self.assertNotIn("Contents", r)
        self.assertFalse(r["IsTruncated"])
        self.assertEqual(r["Name"], b)


class ListEncodingTests(h.ServerTestCase):
    ODD = ["a b", "a+b", "ctl\x01x", "ü/ñ", "percent%25", "amp&lt", "tab\there", "中文/x"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = h.unique_bucket("enc")
        cls.s3.create_bucket(Bucket=cls.b)
        for k in cls.ODD:
            cls.s3.put_object(Bucket=cls.b, Key=k, Body=b"x")

    def test_botocore_default_roundtrips_odd_keys(self):
        # botocore asks for EncodingType=url itself and decodes the answer.
        keys = [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.b)["Contents"]]
        self.assertEqual(keys, utf8_sorted(self.ODD))
        keys = [o["Key"] for o in self.s3.list_objects(Bucket=self.b)["Contents"]]
        self.assertEqual(keys, utf8_sorted(self.ODD))

    def test_encoding_type_url_encodes_keys(self):
        r = self.s3.list_objects_v2(Bucket=self.b, EncodingType="url", Delimiter="/")
        self.assertEqual(r.get("EncodingType"), "url")
        keys = [o["Key"] for o in r["Contents"]]
        prefixes = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        for raw in keys + prefixes:
            self.assertNotRegex(raw, r"[\x00-\x20\x7f+&]",
                                "EncodingType=url leaves %r unencoded" % raw)
        decoded = [urllib.parse.unquote_plus(k) for k in keys]
        self.assertEqual(decoded, utf8_sorted([k for k in self.ODD if "/" not in k]))
        self.assertEqual([urllib.parse.unquote_plus(p) for p in prefixes], ["ü/", "中文/"])

    def test_raw_xml_without_encoding_is_escaped(self):
        resp = self.server.request("GET", "/" + self.b, query=[("list-type", "2"),
                                                             ("prefix", "amp")])
        self.assertEqual(resp.status, 200, resp.body[:300])
        self.assertIn(b"<Key>amp&amp;lt</Key>", resp.body)
        root = h.xml_strip_ns(resp.body)
        self.assertEqual(root.tag, "ListBucketResult")
        self.assertEqual([c.findtext("Key") for c in root.findall("Contents")], ["amp&lt"])

    def test_utf8_binary_order(self):
        b = self.new_bucket()
        keys = ["a", "B", "b", "ä", "z", "Z", "中", "é", "~", "0", "ab", "a/", "a-",
                "\U0001F600"]
        for k in keys:
            self.put(b, k, b"")
        got = [o["Key"] for o in self.s3.list_objects_v2(Bucket=b)["Contents"]]
        self.assertEqual(got, utf8_sorted(keys))


if __name__ == "__main__":
    unittest.main()
