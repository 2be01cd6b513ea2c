"""Supervision (issue 5): contracts, the deadline policy, per-tenant status, reports and
`gzy report`, against a real server; a migration from moto_server takes a tenant to verified.
"""

import hashlib
import http.client
import json
import os
import re
import tempfile
import time
import unittest
import urllib.parse

import harness as h
import tenancy as t
from motopeer import moto_binary

C = "/admin/v1/contracts"


def raw_request(server, path, query=(), access_key=None, secret_key=None):
    """A signed GET returning (status, content-type, body bytes): reports are not JSON."""
    u = urllib.parse.urlsplit(t.admin_endpoint(server))
    headers = {"Host": u.netloc}
    enc = h.uri_encode(path, encode_slash=False)
    query = list(query)
    h.sigv4_sign("GET", enc, query, headers, hashlib.sha256(b"").hexdigest(),
                 access_key or server.access_key, secret_key or server.secret_key)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.putrequest("GET", enc + ("?" + h.wire_query(query) if query else ""),
                        skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        conn.close()


class RegistryTests(h.ServerTestCase, t.TenancyMixin):
    gzy_only = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ten = t.Tenancy(cls.server)
        cls.ta, cls.tb = t.unique_tenant("ra"), t.unique_tenant("rb")
        cls.ten.tenant_add(cls.ta)
        cls.ten.tenant_add(cls.tb)
        cls.admin_a = cls.ten.principal(cls.ta, "boss", "tenant-admin")
        cls.admin_b = cls.ten.principal(cls.tb, "boss", "tenant-admin")
        cls.member_a = cls.ten.principal(cls.ta, "worker", "tenant-member")
        cls.ten.user_add("platform", "sasac", "supervisor")
        ak, sk = cls.ten.key_create("platform", "sasac")
        cls.sup = t.Principal(cls.server, "platform", "sasac", "supervisor", ak, sk)

    # ---- helpers ----

    def api(self, method, path, body=None, who=None, query=()):
        if who is None:
            return t.admin_request(self.server, method, path, body, query)
        return who.admin(method, path, body, query)

    def contract(self, tenant, **fields):
        body = {"tenant": tenant, "provider": "aliyun", "services": ["oss"],
                "buckets": ["b1"], "signed": "2019-05-01", "start": "2019-06-01",
                "expiry": "2021-12-31"}
        body.update(fields)
        r = self.api("POST", C, body)
        self.assertEqual(r.status, 201, r)
        return r.json

    def status(self, as_of, who=None, tenant=None):
        q = [("as_of", as_of)] + ([("tenant", tenant)] if tenant else [])
        r = self.api("GET", "/admin/v1/status", who=who, query=q)
        self.assertEqual(r.status, 200, r)
        return r.json

    def row(self, doc, tenant):
        rows = [x for x in doc["tenants"] if x["tenant"] == tenant]
        self.assertEqual(len(rows), 1, "tenant %s in %s" % (tenant, json.dumps(doc)[:2000]))
        return rows[0]

    def assertBad(self, r, field, status=400, code="InvalidArgument"):
        self.assertEqual((r.status, r.error_code), (status, code), r)
        if field:
            self.assertIn(field, r.error_message, r)

    def new_tenant(self, prefix):
        name = t.unique_tenant(prefix)
        self.ten.tenant_add(name)
        return name

    # ---- contracts ----

    def test_contract_crud(self):
        c = self.contract(self.ta, notes="三年期合同")
        self.assertRegex(c["id"], r"^[0-9a-f]{16}$")
        self.assertEqual((c["tenant"], c["deadline"], c["state"], c["violation"]),
                         (self.ta, "2022-02-28", "open", False))
        self.assertEqual((c["services"], c["buckets"], c["notes"]), (["oss"], ["b1"], "三年期合同"))
        r = self.api("GET", C + "/" + c["id"])
        self.assertEqual((r.status, r.json["expiry"]), (200, "2021-12-31"), r)
        r = self.api("PUT", C + "/" + c["id"], {"expiry": "2023-12-31", "renewed": True,
                                                "renewed_date": "2021-08-12"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["deadline"], r.json["violation"]), ("2022-09-30", False),
                         "capped by the final deadline; renewal on the notice date is allowed")
        r = self.api("PUT", C + "/" + c["id"], {"renewed_date": "2021-08-13"})
        self.assertEqual((r.json["violation"], r.json["violation_reason"]),
                         (True, "renewed 2021-08-13, after the notice date 2021-08-12"), r)
        r = self.api("POST", C + "/" + c["id"] + "/close", {"date": "2022-01-15"})
        self.assertEqual((r.status, r.json["closed"], r.json["state"]),
                         (200, "2022-01-15", "closed"), r)
        r = self.api("GET", C, query=[("tenant", self.ta)])
        self.assertIn(c["id"], [x["id"] for x in r.json["contracts"]])
        self.assertTrue(all(x["tenant"] == self.ta for x in r.json["contracts"]))
        self.assertEqual(self.api("DELETE", C + "/" + c["id"]).status, 204)
        self.assertBad(self.api("GET", C + "/" + c["id"]), c["id"], 404, "NotFound")
        self.assertBad(self.api("DELETE", C + "/" + c["id"]), None, 404, "NotFound")

    def test_contract_validation(self):
        ok = {"tenant": self.ta, "provider": "aws", "signed": "2020-01-01",
              "expiry": "2021-06-30"}
        cases = [
            ({"provider": "azure"}, "provider"),
            ({"expiry": "2021-02-30"}, "expiry"),
            ({"signed": "yesterday"}, "signed"),
            ({"start": "2022-01-01"}, "start"),
            ({"renewed": True}, "renewed_date"),
            ({"services": "oss"}, "services"),
            ({"colour": "red"}, "colour"),
            ({"closed": "2019-01-01"}, "closed"),
            ({"jobs": ["0123456789abcdef"]}, "jobs"),
            ({"jobs": [""]}, "jobs"),
        ]
        for change, field in cases:
            body = dict(ok)
            body.update(change)
            self.assertBad(self.api("POST", C, body), field)
        body = dict(ok)
        del body["signed"]
        self.assertBad(self.api("POST", C, body), "signed")
        body = dict(ok, tenant="no-such-tenant")
        self.assertBad(self.api("POST", C, body), "no-such-tenant", 404, "NotFound")
        self.assertBad(self.api("POST", C, dict(ok, tenant="platform")), "tenant")
        self.assertBad(self.api("POST", C, {k: v for k, v in ok.items() if k != "tenant"}),
                       "tenant")
        c = self.contract(self.ta)
        self.assertBad(self.api("POST", C + "/" + c["id"] + "/close", {"date": "2019-01-01"}),
                       "date")
        self.assertBad(self.api("POST", C + "/" + c["id"] + "/close", {"date": "2022-13-01"}),
                       "date")
        self.assertBad(self.api("PUT", C + "/" + c["id"], {"tenant": self.tb}), "tenant")
        r = self.api("GET", C + "/" + c["id"])
        self.assertEqual((r.json["tenant"], r.json["closed"]), (self.ta, None),
                         "refused changes leave the contract as it was")
        self.assertBad(self.api("GET", "/admin/v1/status", query=[("as_of", "2022-02-30")]),
                       "as_of")
        self.assertBad(self.api("GET", "/admin/v1/report", query=[("format", "pdf")]), "format")

    def test_roles(self):
        ca = self.contract(self.ta)
        cb = self.contract(self.tb)
        # tenant-admin of A: own contracts and status only
        r = self.api("GET", C, who=self.admin_a)
        self.assertEqual(r.status, 200, r)
        self.assertEqual({x["tenant"] for x in r.json["contracts"]}, {self.ta})
        self.assertIn(ca["id"], [x["id"] for x in r.json["contracts"]])
        self.assertBad(self.api("GET", C, who=self.admin_a, query=[("tenant", self.tb)]), None,
                       403, "AccessDenied")
        self.assertBad(self.api("GET", C + "/" + cb["id"], who=self.admin_a), None, 403,
                       "AccessDenied")
        self.assertEqual(self.api("GET", C + "/" + ca["id"], who=self.admin_a).status, 200)
        self.assertBad(self.api("POST", C, {"tenant": self.ta, "provider": "aws",
                                            "signed": "2020-01-01", "expiry": "2021-01-01"},
                                who=self.admin_a), None, 403, "AccessDenied")
        self.assertBad(self.api("PUT", C + "/" + ca["id"], {"notes": "x"}, who=self.admin_a),
                       None, 403, "AccessDenied")
        self.assertBad(self.api("PUT", "/admin/v1/policy", {"grace_months": 12},
                                who=self.admin_a), None, 403, "AccessDenied")
        self.assertEqual(self.api("GET", "/admin/v1/policy", who=self.admin_a).status, 200)
        doc = self.status("2022-01-10", who=self.admin_a)
        self.assertEqual([x["tenant"] for x in doc["tenants"]], [self.ta])
        self.assertBad(self.api("GET", "/admin/v1/status", who=self.admin_a,
                                query=[("tenant", self.tb)]), None, 403, "AccessDenied")
        st, _, body = raw_request(self.server, "/admin/v1/report", [("format", "csv")],
                                  self.admin_a.access_key, self.admin_a.secret_key)
        self.assertEqual(st, 200)
        self.assertNotIn(self.tb, body.decode())
        # members: nothing
        self.assertBad(self.api("GET", "/admin/v1/status", who=self.member_a), None, 403,
                       "AccessDenied")
        # supervisor: reads everything, writes nothing
        doc = self.status("2022-01-10", who=self.sup)
        names = {x["tenant"] for x in doc["tenants"]}
        self.assertTrue({self.ta, self.tb} <= names and "platform" not in names, names)
        r = self.api("GET", C, who=self.sup)
        self.assertTrue({ca["id"], cb["id"]} <= {x["id"] for x in r.json["contracts"]})
        self.assertBad(self.api("POST", C + "/" + cb["id"] + "/close", {}, who=self.sup), None,
                       403, "AccessDenied")
        self.assertBad(self.api("DELETE", C + "/" + cb["id"], who=self.sup), None, 403,
                       "AccessDenied")
        self.assertBad(self.api("PUT", "/admin/v1/policy", {"preset": "tianjin-2021"},
                                who=self.sup), None, 403, "AccessDenied")

    # ---- status and policy ----

    def test_status_deadlines_and_precedence(self):
        quiet, late, edge, none = (self.new_tenant(p) for p in ("sq", "sl", "se", "sn"))
        self.contract(quiet, expiry="2021-12-31")
        self.contract(quiet, expiry="2022-05-31", provider="tencent")
        self.contract(late, signed="2021-08-13", expiry="2022-08-31")
        self.contract(edge, signed="2021-08-12", expiry="2022-08-31")
        doc = self.status("2022-01-10")
        q = self.row(doc, quiet)
        self.assertEqual((q["status"], q["deadline"], q["days_left"], q["contracts"]),
                         ("not-started", "2022-02-28", 49, 2), q)
        self.assertEqual((q["bytes_total"], q["bytes_moved"], q["projected_finish"]),
                         (0, 0, None))
        v = self.row(doc, late)
        self.assertEqual(v["status"], "violation")
        self.assertEqual(v["violations"][0]["reason"],
                         "signed 2021-08-13, after the notice date 2021-08-12")
        self.assertEqual((self.row(doc, edge)["status"], self.row(doc, edge)["deadline"]),
                         ("not-started", "2022-09-30"), "on the notice date: allowed; capped")
        n = self.row(doc, none)
        self.assertEqual((n["status"], n["deadline"], n["days_left"]),
                         ("not-started", None, None))
        self.assertEqual(doc["as_of"], "2022-01-10")
        self.assertEqual(doc["policy"]["name"], "tianjin-2021")
        self.assertEqual(self.row(self.status("2022-01-29"), quiet)["status"], "at-risk",
                         "30 days left with nothing moved")
        self.assertEqual(self.row(self.status("2022-01-28"), quiet)["status"], "not-started")
        self.assertEqual(self.row(self.status("2022-02-28"), quiet)["status"], "at-risk",
                         "on the deadline day")
        self.assertEqual(self.row(self.status("2022-03-01"), quiet)["status"], "overdue")
        # closing the earliest contract moves the deadline to the next open one
        cid = self.api("GET", C, query=[("tenant", quiet)]).json["contracts"][0]["id"]
        self.api("POST", C + "/" + cid + "/close", {"date": "2022-02-01"})
        row = self.row(self.status("2022-03-01"), quiet)
        self.assertEqual((row["status"], row["deadline"], row["open_contracts"]),
                         ("not-started", "2022-07-31", 1), row)
        # totals add up
        doc = self.status("2022-01-10")
        self.assertEqual(doc["totals"]["tenants"], len(doc["tenants"]))
        self.assertEqual(doc["totals"]["violations"],
                         sum(1 for x in doc["tenants"] if x["status"] == "violation"))
        # without as_of: today in Asia/Shanghai
        r = self.api("GET", "/admin/v1/status")
        want = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
        self.assertIn(r.json["as_of"], (want, time.strftime("%Y-%m-%d",
                                                            time.gmtime(time.time() + 8 * 3600))))

    def test_policy_change_recomputes_and_is_audited(self):
        tn = self.new_tenant("pc")
        self.contract(tn, expiry="2021-12-31")
        r = self.api("GET", "/admin/v1/policy")
        self.assertEqual((r.json["name"], r.json["notice_date"], r.json["grace_months"],
                          r.json["final_deadline"], r.json["time_zone"],
                          r.json["at_risk_days"]),
                         ("tianjin-2021", "2021-08-12", 2, "2022-09-30", "Asia/Shanghai", 30))
        v0 = r.json["version"]
        try:
            self.assertBad(self.api("PUT", "/admin/v1/policy", {"grace_months": -3}),
                           "grace_months")
            self.assertBad(self.api("PUT", "/admin/v1/policy", {"time_zone": "Mars/Olympus"}),
                           "time_zone")
            self.assertBad(self.api("PUT", "/admin/v1/policy", {"preset": "nowhere"}), "preset")
            r = self.api("PUT", "/admin/v1/policy", {"grace_months": 6,
                                                     "notice_date": "2021-09-30"})
            self.assertEqual((r.status, r.json["name"], r.json["version"]),
                             (200, "custom", v0 + 1), r)
            row = self.row(self.status("2022-01-10"), tn)
            self.assertEqual((row["deadline"], row["days_left"]), ("2022-06-30", 171), row)
            r = self.api("PUT", "/admin/v1/policy", {"name": "another-city",
                                                     "final_deadline": "2022-03-31"})
            self.assertEqual(self.row(self.status("2022-01-10"), tn)["deadline"], "2022-03-31")
            self.assertEqual(self.status("2022-01-10")["policy"]["name"], "another-city")
        finally:
            r = self.api("PUT", "/admin/v1/policy", {"preset": "tianjin-2021"})
            self.assertEqual((r.status, r.json["name"], r.json["grace_months"]),
                             (200, "tianjin-2021", 2), r)
        self.assertEqual(self.row(self.status("2022-01-10"), tn)["deadline"], "2022-02-28")
        r = self.api("GET", "/admin/v1/audit", query=[("limit", "1000")])
        acts = [e for e in r.json["entries"] if e.get("action") == "admin:SetPolicy"]
        self.assertGreaterEqual(len(acts), 3, r.raw[:2000])
        self.assertTrue(all(e.get("outcome") == "allow" for e in acts[-3:]), acts)
        self.assertIn("policy/v%d" % (v0 + 1), [e.get("resource") for e in acts])
        self.assertTrue(any(e.get("action") == "admin:CreateContract" for e in r.json["entries"]))

    # ---- reports and gzy report ----

    def report(self, fmt, as_of="2022-01-10", **who):
        st, ctype, body = raw_request(self.server, "/admin/v1/report",
                                      [("as_of", as_of), ("format", fmt)], **who)
        self.assertEqual(st, 200, body[:500])
        return ctype, body

    def test_report_formats(self):
        self.contract(self.ta, expiry="2022-03-31")
        status = self.status("2022-01-10")
        ctype, body = self.report("json")
        self.assertEqual((ctype, json.loads(body)), ("application/json", status))
        ctype, body = self.report("csv")
        self.assertTrue(ctype.startswith("text/csv"), ctype)
        lines = body.decode().split("\r\n")
        self.assertTrue(lines[0].startswith("tenant,tenant_id,status,deadline,days_left,"),
                        lines[0])
        self.assertEqual(len([x for x in lines[1:] if x]), len(status["tenants"]))
        row = [x for x in lines if x.startswith(self.ta + ",")][0].split(",")
        mine = self.row(status, self.ta)
        self.assertEqual(row[2:5], [mine["status"], mine["deadline"], str(mine["days_left"])])
        ctype, body = self.report("html")
        html = body.decode()
        self.assertTrue(ctype.startswith("text/html"), ctype)
        self.assertIn("<svg", html)
        self.assertIn(self.ta, html)
        self.assertNotIn("<script", html.lower())
        self.assertEqual(re.findall(r"(?:src|href)\s*=", html), [], "no external resources")
        self.assertEqual(set(re.findall(r"https?://[^\s\"'<]+", html)),
                         {"http://www.w3.org/2000/svg"})

    def gzy_report(self, *args, check=True):
        return t.run_gzy("report", "--admin-endpoint", t.admin_endpoint(self.server),
                         "--access-key", self.server.access_key, "--secret-key",
                         self.server.secret_key, *args, check=check)

    def test_gzy_report_matches_the_api(self):
        self.contract(self.tb, expiry="2021-11-30")
        status = self.status("2022-01-10")
        p = self.gzy_report("--json", "--as-of", "2022-01-10")
        self.assertEqual(json.loads(p.stdout), status)
        p = self.gzy_report("--as-of", "2022-01-10", "--tenant", self.tb)
        lines = p.stdout.splitlines()
        self.assertIn("as of 2022-01-10, policy tianjin-2021: 1 tenants", lines[0])
        self.assertEqual(lines[2].split()[:4], ["TENANT", "STATUS", "DEADLINE", "DAYS"])
        row = self.row(self.status("2022-01-10", tenant=self.tb), self.tb)
        cells = lines[3].split()
        self.assertEqual(cells[:4], [self.tb, row["status"], row["deadline"],
                                     str(row["days_left"])])
        p = self.gzy_report("--as-of", "2022-01-10")
        for x in status["tenants"]:
            line = [ln for ln in p.stdout.splitlines() if ln.startswith(x["tenant"] + " ")]
            self.assertEqual(len(line), 1, (x["tenant"], p.stdout))
            want = [x["tenant"], x["status"], x["deadline"] or "-",
                    "-" if x["days_left"] is None else str(x["days_left"])]
            self.assertEqual(line[0].split()[:4], want)
        with tempfile.TemporaryDirectory() as d:
            for fmt in ("csv", "html"):
                out = os.path.join(d, "r." + fmt)
                self.gzy_report("--" + fmt, "-o", out, "--as-of", "2022-01-10")
                with open(out, "rb") as f:
                    self.assertEqual(f.read(), self.report(fmt)[1], fmt)
        p = self.gzy_report("--as-of", "2022-02-30", check=False)
        self.assertEqual(p.returncode, 2, p)
        self.assertIn("--as-of", p.stderr)
        p = self.gzy_report("--tenant", "no-such-tenant", check=False)
        self.assertEqual(p.returncode, 1, p)
        p = t.run_gzy("report", "--admin-endpoint", t.admin_endpoint(self.server),
                      "--access-key", self.admin_a.access_key, "--secret-key",
                      self.admin_a.secret_key, "--json", check=True)
        self.assertEqual([x["tenant"] for x in json.loads(p.stdout)["tenants"]], [self.ta])


@unittest.skipIf(moto_binary() is None, "moto_server is not installed")
class RegistryMigrationTests(t.MotoTenancyCase):
    def api(self, method, path, body=None, query=()):
        return t.admin_request(self.server, method, path, body, query)

    def test_migration_moves_tenant_to_verified(self):
        tn = t.unique_tenant("mv")
        self.ten.tenant_add(tn)
        src = h.unique_bucket("src")
        self.moto.s3.create_bucket(Bucket=src)
        sizes = [1000 + i * 37 for i in range(12)]
        for i, n in enumerate(sizes):
            self.moto.s3.put_object(Bucket=src, Key="k/%02d" % i, Body=h.random_bytes(n, seed=i))
        r = self.api("POST", C, {"tenant": tn, "provider": "aws", "signed": "2020-01-01",
                                 "expiry": "2022-06-30", "buckets": [src]})
        self.assertEqual(r.status, 201, r)
        cid = r.json["id"]
        before = [x for x in self.api("GET", "/admin/v1/status", query=[
            ("as_of", "2022-01-10"), ("tenant", tn)]).json["tenants"]][0]
        self.assertEqual(before["status"], "not-started")
        r = self.api("POST", "/admin/v1/migrations", {
            "tenant": tn, "name": "to verified",
            "source": {"provider": "generic", "endpoint": self.moto.endpoint, "bucket": src,
                       "access_key": "testing", "secret_key": "testing"},
            "dest_bucket": h.unique_bucket("dst"), "concurrency": 4, "start": True})
        self.assertEqual(r.status, 201, r)
        job = r.json["id"]
        r = self.api("PUT", C + "/" + cid, {"jobs": [job]})
        self.assertEqual((r.status, r.json["jobs"]), (200, [job]), r)
        other = t.unique_tenant("mo")
        self.ten.tenant_add(other)
        r = self.api("POST", C, {"tenant": other, "provider": "aws", "signed": "2020-01-01",
                                 "expiry": "2022-06-30", "jobs": [job]})
        self.assertEqual((r.status, r.error_code), (400, "InvalidArgument"), r)
        self.assertIn("another tenant", r.error_message)
        deadline = time.time() + 180
        row = None
        while time.time() < deadline:
            row = self.api("GET", "/admin/v1/status", query=[
                ("as_of", "2022-01-10"), ("tenant", tn)]).json["tenants"][0]
            if row["status"] == "verified":
                break
            self.assertIn(row["status"], ("not-started", "migrating"), row)
            time.sleep(0.5)
        self.assertEqual(row["status"], "verified",
                         "%s\njob: %s" % (row, self.api("GET", "/admin/v1/migrations/" + job).raw))
        self.assertEqual((row["bytes_total"], row["bytes_moved"]), (sum(sizes), sum(sizes)), row)
        self.assertEqual((row["objects_total"], row["objects_moved"], row["jobs"]),
                         (len(sizes), len(sizes), 1), row)
        # past the deadline with the contract still open: overdue wins over verified
        row = self.api("GET", "/admin/v1/status", query=[
            ("as_of", "2022-09-01"), ("tenant", tn)]).json["tenants"][0]
        self.assertEqual(row["status"], "overdue")
        # the source contract ended and the evidence filed: cut over
        self.api("POST", C + "/" + cid + "/close", {"date": "2022-02-01"})
        row = self.api("GET", "/admin/v1/status", query=[
            ("as_of", "2022-09-01"), ("tenant", tn)]).json["tenants"][0]
        self.assertGreaterEqual(row["manifests"], 1, row)
        self.assertEqual((row["status"], row["open_contracts"]), ("cut-over", 0), row)


if __name__ == "__main__":
    unittest.main()
