"""Supervision (issue 5): contracts, the deadline policy, per-tenant status, reports and
`gzy report`, against a real server; a migration from moto_server takes a tenant to verified.
"""

import datetime
import hashlib
import http.client
import json
import os
import re
import socket
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
        # no job, no estimate: how much there is to move is unknown, not 0 B
        self.assertEqual((q["bytes_total"], q["objects_total"], q["bytes_moved"],
                          q["projected_finish"]), (None, None, 0, None))
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
        self.assertEqual(self.row(self.status("2022-01-30"), quiet)["status"], "at-risk",
                         "29 days left with nothing moved: fewer than N = 30")
        self.assertEqual(self.row(self.status("2022-01-29"), quiet)["status"], "not-started",
                         "30 days left: not fewer than N")
        self.assertEqual(self.row(self.status("2022-02-28"), quiet)["status"], "at-risk",
                         "on the deadline day")
        self.assertEqual(self.row(self.status("2022-03-01"), quiet)["status"], "overdue")
        # closing the earliest contract moves the deadline to the next open one
        cid = self.api("GET", C, query=[("tenant", quiet)]).json["contracts"][0]["id"]
        self.api("POST", C + "/" + cid + "/close", {"date": "2022-02-01"})
        row = self.row(self.status("2022-03-01"), quiet)
        self.assertEqual((row["status"], row["deadline"], row["open_contracts"]),
                         ("not-started", "2022-07-31", 1), row)
        # as of the day before the contract closed, its deadline still counts: overdue
        row = self.row(self.status("2022-01-31"), quiet)
        self.assertEqual((row["deadline"], row["open_contracts"]), ("2022-02-28", 2), row)
        # violation hides overdue, but the totals count who is past the deadline with work
        # left, whatever the status: late's deadline is 2022-10-31 capped to 2022-09-30
        doc = self.status("2027-07-01")
        v = self.row(doc, late)
        self.assertEqual((v["status"], v["past_deadline"]), ("violation", True), v)
        self.assertEqual(doc["totals"]["overdue"],
                         sum(1 for x in doc["tenants"] if x["status"] == "overdue"))
        self.assertEqual(doc["totals"]["past_deadline"],
                         sum(1 for x in doc["tenants"] if x["past_deadline"]))
        self.assertGreater(doc["totals"]["past_deadline"], doc["totals"]["overdue"], doc["totals"])
        self.assertFalse(self.row(self.status("2022-09-30"), late)["past_deadline"],
                         "on the deadline day: not past")
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

    def wait_job(self, jid, ok, what, timeout=90):
        deadline = time.time() + timeout
        j = None
        while time.time() < deadline:
            j = self.api("GET", "/admin/v1/migrations/" + jid).json
            if ok(j):
                return j
            time.sleep(0.3)
        self.fail("job %s: timed out waiting for %s: %s" % (jid, what, j))

    def test_unsized_work_is_outstanding(self):
        """A job that listed nothing (created with start false, its estimate impossible) and a
        job that failed before its listing finished leave the size of the work unknown: that
        work is outstanding, so the tenant is at risk near its deadline, and its size and
        projected finish are null, never 0 B and "today"."""
        with socket.socket() as s:  # a port nothing listens on: the source is unreachable
            s.bind(("127.0.0.1", 0))
            dead = "http://127.0.0.1:%d" % s.getsockname()[1]
        idle, failed, nojob = (self.new_tenant(p) for p in ("ui", "uf", "un"))
        jobs = {}
        for tn, start in ((idle, False), (failed, True)):
            self.contract(tn, expiry="2021-12-31")  # deadline 2022-02-28
            r = self.api("POST", "/admin/v1/migrations", {
                "tenant": tn, "start": start, "dest_bucket": h.unique_bucket("ud"),
                "source": {"provider": "generic", "endpoint": dead, "bucket": "src",
                           "access_key": "k", "secret_key": "s"}})
            self.assertEqual(r.status, 201, r)
            jobs[tn] = r.json["id"]
        self.contract(nojob, expiry="2021-12-31")
        # the created job got an automatic estimate, which fails; the started job fails
        self.wait_job(jobs[idle], lambda j: (j["estimate"] or {}).get("state") == "failed",
                      "the estimate to fail")
        j = self.wait_job(jobs[failed], lambda j: j["state"] == "failed", "the job to fail")
        self.assertEqual(j["passes_done"], 0, j)
        for as_of, want in (("2022-01-10", "migrating"), ("2022-02-26", "at-risk")):
            doc = self.status(as_of)
            for tn in (idle, failed):
                row = self.row(doc, tn)
                self.assertEqual(row["status"], want, (as_of, row))
                self.assertEqual((row["bytes_total"], row["objects_total"],
                                  row["projected_finish"], row["unsized_jobs"], row["rate_bps"]),
                                 (None, None, None, 1, 0), row)
            self.assertEqual(self.row(doc, nojob)["status"],
                             "not-started" if want == "migrating" else "at-risk", as_of)
        self.assertEqual(self.row(self.status("2022-02-26"), failed)["failed_jobs"], 1)
        # the reports show it as unknown, not as a number
        st, _, body = raw_request(self.server, "/admin/v1/report",
                                  [("as_of", "2022-02-26"), ("format", "csv")])
        self.assertEqual(st, 200)
        rec = [r for r in csv.DictReader(io.StringIO(body.decode())) if r["tenant"] == idle][0]
        self.assertEqual((rec["status"], rec["bytes_total"], rec["projected_finish"]),
                         ("at-risk", "", ""), rec)
        st, _, body = raw_request(self.server, "/admin/v1/report",
                                  [("as_of", "2022-02-26"), ("format", "html")])
        p = _ReportHTML()
        p.feed(body.decode())
        row = [r for r in p.rows if r and r[0] == idle][0]
        self.assertEqual(row[1], "有风险 At risk", row)
        self.assertEqual(row[4], "0 B / 未知 unknown", row)
        self.assertEqual(row[8], "未知 unknown", row)
        p = self.gzy_report("--as-of", "2022-02-26", "--tenant", idle)
        line = [ln for ln in p.stdout.splitlines() if ln.startswith(idle + " ")][0]
        self.assertIn("0 B / unknown", line)
        self.assertEqual(line.split()[-1], "unknown", line)
        for tn in (idle, failed):
            self.api("DELETE", "/admin/v1/migrations/" + jobs[tn])

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
        self.assertIn("0 B verified", lines[0])
        self.assertTrue(lines[0].endswith("past deadline with work outstanding %d" % self.status(
            "2022-01-10", tenant=self.tb)["totals"]["past_deadline"]), lines[0])
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

    def wait_job(self, jid, ok, what, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            j = self.api("GET", "/admin/v1/migrations/" + jid).json
            if ok(j):
                return j
            time.sleep(0.3)
        self.fail("job %s: timed out waiting for %s: %s" % (jid, what, j))

    def test_partial_pass_is_not_cut_over(self):
        """A pass with a failed object files a manifest, but the migration is not complete:
        with every contract closed the tenant is not cut over until a clean pass. Moved and
        verified are apart: an object found already at the destination is moved, not
        verified; objects verified by a pass stay verified when a later pass skips them."""
        from motopeer import HookProxy
        tn = t.unique_tenant("po")
        self.ten.tenant_add(tn)
        src, dst = h.unique_bucket("posrc"), h.unique_bucket("podst")
        self.moto.s3.create_bucket(Bucket=src)
        bodies = {"k/%d" % i: h.random_bytes(3000 + i * 100, seed=40 + i) for i in range(4)}
        bodies["k/there"] = b"already at the destination, same bytes"
        for k, v in bodies.items():
            self.moto.s3.put_object(Bucket=src, Key=k, Body=v)
        # the tenant put one object there itself (another tool): same size and ETag
        admin = self.ten.principal(tn, "po-admin", "tenant-admin")
        admin.s3.create_bucket(Bucket=dst)
        admin.s3.put_object(Bucket=dst, Key="k/there", Body=bodies["k/there"])
        deny = {"on": True}

        def before(handler, key):
            if deny["on"] and handler.command == "GET" and key == "k/1":
                return (403, {"Content-Type": "application/xml"},
                        b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>"
                        b"<Message>denied by the test</Message></Error>")
            return None

        proxy = HookProxy(self.moto.port, before=before)
        self.addCleanup(proxy.close)
        r = self.api("POST", C, {"tenant": tn, "provider": "aws", "signed": "2020-01-01",
                                 "expiry": "2022-06-30", "buckets": [src]})
        self.assertEqual(r.status, 201, r)
        cid = r.json["id"]
        r = self.api("POST", "/admin/v1/migrations", {
            "tenant": tn, "name": "partial",
            "source": {"provider": "generic", "endpoint": proxy.endpoint, "bucket": src,
                       "access_key": "testing", "secret_key": "testing"},
            "dest_bucket": dst, "concurrency": 2, "start": True})
        self.assertEqual(r.status, 201, r)
        job = r.json["id"]
        j = self.wait_job(job, lambda j: j["state"] in ("failed", "completed"), "the pass")
        self.assertEqual((j["state"], j["stats"]["failed"]), ("failed", 1), j)
        self.assertTrue(j["manifest"], "the partial pass filed a manifest: %s" % j)
        # a closing date after today is refused; today's is accepted
        r = self.api("POST", C + "/" + cid + "/close", {"date": "2099-01-01"})
        self.assertEqual((r.status, r.error_code), (400, "InvalidArgument"), r)
        self.assertIn("'date'", r.error_message)
        r = self.api("PUT", C + "/" + cid, {"closed": "2099-01-01"})
        self.assertEqual((r.status, r.error_code), (400, "InvalidArgument"), r)
        self.assertIn("'closed'", r.error_message)
        r = self.api("POST", C + "/" + cid + "/close", {})
        self.assertEqual(r.status, 200, r)
        closed = r.json["closed"]
        q = [("tenant", tn)]
        row = self.api("GET", "/admin/v1/status", query=q).json["tenants"][0]
        self.assertEqual(row["open_contracts"], 0, row)
        self.assertNotEqual(row["status"], "cut-over", row)
        self.assertEqual((row["objects_failed"], row["all_verified"], row["clean_manifests"],
                          row["missing_manifests"]), (1, False, 0, 1), row)
        # moved: 3 copied + 1 found there; verified: the 3 copied only
        copied = [k for k in bodies if k not in ("k/1", "k/there")]
        self.assertEqual((row["objects_moved"], row["objects_verified"]), (4, 3), row)
        self.assertEqual(row["bytes_verified"], sum(len(bodies[k]) for k in copied), row)
        self.assertEqual(row["bytes_moved"], row["bytes_verified"] + len(bodies["k/there"]), row)
        # as of the day before the closing date the contract was still open
        day_before = (datetime.date.fromisoformat(closed) - datetime.timedelta(days=1)).isoformat()
        row = self.api("GET", "/admin/v1/status", query=q + [("as_of", day_before)]).json
        self.assertEqual(row["tenants"][0]["open_contracts"], 1, row)
        # the object is fixed; a new pass copies it, skips the others: clean, cut over
        deny["on"] = False
        r = self.api("POST", "/admin/v1/migrations/%s/start" % job)
        self.assertEqual(r.status, 200, r)
        j = self.wait_job(job, lambda j: j["state"] in ("failed", "completed"), "the 2nd pass")
        self.assertEqual((j["state"], j["stats"]["failed"]), ("completed", 0), j)
        row = self.api("GET", "/admin/v1/status", query=q).json["tenants"][0]
        self.assertEqual((row["status"], row["clean_manifests"], row["missing_manifests"]),
                         ("cut-over", 1, 0), row)
        self.assertEqual((row["objects_moved"], row["objects_verified"]), (5, 4), row)
        self.assertEqual(row["bytes_verified"],
                         sum(len(v) for k, v in bodies.items() if k != "k/there"), row)
        self.assertEqual(row["bytes_total"], sum(len(v) for v in bodies.values()), row)
        tot = self.api("GET", "/admin/v1/status", query=q).json["totals"]
        self.assertEqual((tot["bytes_verified"], tot["objects_verified"], tot["cut_over"]),
                         (row["bytes_verified"], row["objects_verified"], 1), tot)
        # the numbers survive a restart (the skipped-but-verified count is stored)
        self.server.restart()
        row2 = self.api("GET", "/admin/v1/status", query=q).json["tenants"][0]
        for k in ("status", "objects_verified", "bytes_verified", "objects_moved"):
            self.assertEqual(row2[k], row[k], k)

    def wait_estimate(self, jid, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            j = self.api("GET", "/admin/v1/migrations/" + jid).json
            if (j["estimate"] or {}).get("state") not in (None, "running"):
                return j
            time.sleep(0.3)
        self.fail("job %s: the estimate did not end: %s" % (jid, j))

    def tenant_row(self, tn):
        return self.api("GET", "/admin/v1/status", query=[
            ("as_of", "2022-01-10"), ("tenant", tn)]).json["tenants"][0]

    def test_estimate_sizes_the_work_to_move(self):
        """A job created with start false is estimated at once (its credentials, prefix and
        filters; nothing copied); the estimate is the tenant's work to move until a pass lists,
        a sampled one is not (unknown); POST .../estimate and `gzy migrate estimate --job` run
        it again; it survives a restart."""
        tn = t.unique_tenant("es")
        self.ten.tenant_add(tn)
        src = h.unique_bucket("esrc")
        self.moto.s3.create_bucket(Bucket=src)
        sizes = [100, 2000, 30000, 400000, 5]
        for i, n in enumerate(sizes):
            self.moto.s3.put_object(Bucket=src, Key="d/a/%d" % i, Body=h.random_bytes(n, seed=i))
        self.moto.s3.put_object(Bucket=src, Key="d/a/skip.tmp", Body=b"x" * 777)
        self.moto.s3.put_object(Bucket=src, Key="d/b/0", Body=b"y" * 999)   # other prefix
        self.moto.s3.put_object(Bucket=src, Key="top", Body=b"z" * 99)       # other prefix
        self.api("POST", C, {"tenant": tn, "provider": "aws", "signed": "2020-01-01",
                             "expiry": "2021-12-31"})
        dest = h.unique_bucket("edst")
        r = self.api("POST", "/admin/v1/migrations", {
            "tenant": tn, "start": False, "dest_bucket": dest,
            "source": {"provider": "generic", "endpoint": self.moto.endpoint, "bucket": src,
                       "prefix": "d/a/", "exclude": ["**.tmp"],
                       "access_key": "testing", "secret_key": "testing"}})
        self.assertEqual(r.status, 201, r)
        jid = r.json["id"]
        j = self.wait_estimate(jid)
        e = j["estimate"]
        self.assertEqual((e["state"], e["objects"], e["bytes"], e["excluded"], e["exact"],
                          e["truncated"], e["archive_objects"], e["error"]),
                         ("done", len(sizes), sum(sizes), 1, True, False, 0, None), e)
        self.assertEqual((j["state"], j["stats"]["copied"]), ("created", 0), j)
        names = [b["name"] for b in self.api("GET", "/admin/v1/buckets").json["buckets"]]
        self.assertNotIn(dest, names, "an estimate creates nothing at the destination")
        row = self.tenant_row(tn)
        self.assertEqual((row["bytes_total"], row["objects_total"], row["bytes_moved"],
                          row["estimated_jobs"], row["unsized_jobs"], row["projected_finish"]),
                         (sum(sizes), len(sizes), 0, 1, 0, None), row)
        # a sample is a lower bound, not the size
        r = self.api("POST", "/admin/v1/migrations/%s/estimate" % jid, {"sample": 2})
        self.assertEqual(r.status, 202, r)
        self.assertIn(r.json["estimate"]["state"], ("running", "done"), r.json)
        e = self.wait_estimate(jid)["estimate"]
        self.assertEqual((e["state"], e["objects"], e["truncated"], e["exact"], e["sample"]),
                         ("done", 2, True, False, 2), e)
        row = self.tenant_row(tn)
        self.assertEqual((row["bytes_total"], row["unsized_jobs"]), (None, 1), row)
        r = self.api("POST", "/admin/v1/migrations/%s/estimate" % jid, {"sample": -1})
        self.assertEqual((r.status, r.error_code), (400, "InvalidArgument"), r)
        r = self.api("POST", "/admin/v1/migrations/nosuchjob0000000/estimate")
        self.assertEqual(r.status, 404, r)
        # the CLI, through the admin API
        cli = ("migrate", "estimate", "--job", jid, "--admin-endpoint",
               t.admin_endpoint(self.server), "--access-key", self.server.access_key,
               "--secret-key", self.server.secret_key)
        p = t.run_gzy(*cli, "--json")
        e = json.loads(p.stdout)["estimate"]
        self.assertEqual((e["state"], e["objects"], e["bytes"], e["exact"]),
                         ("done", len(sizes), sum(sizes), True), e)
        p = t.run_gzy(*cli)
        self.assertIn("estimate done", p.stdout)
        self.assertIn("objects: %d" % len(sizes), p.stdout)
        self.assertIn("exact", p.stdout)
        p = t.run_gzy("migrate", "estimate", "--job", "nosuchjob0000000", "--admin-endpoint",
                      t.admin_endpoint(self.server), "--access-key", self.server.access_key,
                      "--secret-key", self.server.secret_key, check=False)
        self.assertEqual(p.returncode, 1, p)
        self.assertEqual(self.tenant_row(tn)["bytes_total"], sum(sizes))
        # persisted with the job
        self.server.restart()
        e = self.api("GET", "/admin/v1/migrations/" + jid).json["estimate"]
        self.assertEqual((e["state"], e["objects"], e["bytes"], e["exact"]),
                         ("done", len(sizes), sum(sizes), True), e)
        # once a pass has listed, its listing is the size, not the estimate
        self.moto.s3.put_object(Bucket=src, Key="d/a/new", Body=b"n" * 1000)
        self.api("POST", "/admin/v1/migrations/%s/start" % jid)
        deadline = time.time() + 120
        while time.time() < deadline:
            j = self.api("GET", "/admin/v1/migrations/" + jid).json
            if j["state"] in ("completed", "failed"):
                break
            time.sleep(0.3)
        self.assertEqual(j["state"], "completed", j)
        row = self.tenant_row(tn)
        self.assertEqual((row["bytes_total"], row["bytes_moved"], row["objects_total"],
                          row["estimated_jobs"], row["rate_bps"]),
                         (sum(sizes) + 1000, sum(sizes) + 1000, len(sizes) + 1, 0, 0), row)
        self.assertEqual(row["status"], "verified", row)



# ---- the CSV and HTML reports' numbers against the JSON ----

import csv  # noqa: E402
import html.parser  # noqa: E402
import io  # noqa: E402
def _fmt_bytes(n):
    """registry_format_bytes(): "%lld B" below 1 KiB, else "%.1f UNIT" (binary units)."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    v, u = float(n), 0
    while v >= 1024 and u < 6:
        v /= 1024
        u += 1
    return "%d B" % n if u == 0 else "%.1f %s" % (v, units[u])


# The HTML report is bilingual throughout: a status reads as its summary card.
STATUS_LABELS = {"not-started": "未开始 Not started", "migrating": "迁移中 Migrating",
                 "at-risk": "有风险 At risk", "verified": "已校验 Verified",
                 "overdue": "逾期 Overdue", "cut-over": "已切换 Cut over",
                 "violation": "违规 Violation"}


class _ReportHTML(html.parser.HTMLParser):
    """The report page's numbers: cards {label: value} and the tenant table's rows (cells as
    text), nothing else."""

    def __init__(self):
        super().__init__()
        self.cards, self.rows = {}, []
        self._card = self._bold = None
        self._row = self._cell = None
        self._table = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div" and a.get("class") == "card":
            self._card = {"b": "", "label": ""}
        elif tag == "b" and self._card is not None:
            self._bold = True
        elif tag == "table":
            self._table = True
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "b" and self._card is not None:
            self._bold = None
        elif tag == "div" and self._card is not None:
            self.cards[self._card["label"].strip()] = self._card["b"].strip()
            self._card = None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = False

    def handle_data(self, data):
        if self._card is not None:
            self._card["b" if self._bold else "label"] += data
        if self._cell is not None:
            self._cell += data


@unittest.skipIf(moto_binary() is None, "moto_server is not installed")
class ReportNumbersTests(t.MotoTenancyCase):
    """Every number of the CSV and HTML reports equals the JSON report it was rendered from,
    with tenants in each state: a finished migration (bytes, rate), a paused throttled one
    (part moved, a projected finish), a job never started, no contract at all. Unknown
    values (null in the JSON) must not be shown as numbers."""

    def api(self, method, path, body=None, query=()):
        r = t.admin_request(self.server, method, path, body, query)
        self.assertIn(r.status, (200, 201, 204), r)
        return r.json

    def job(self, tenant, src, **extra):
        body = {"tenant": tenant, "name": "rn",
                "source": {"provider": "generic", "endpoint": self.moto.endpoint,
                           "bucket": src, "access_key": "testing", "secret_key": "testing"},
                "dest_bucket": h.unique_bucket("rnd"), "concurrency": 1}
        body.update(extra)
        return self.api("POST", "/admin/v1/migrations", body)["id"]

    def wait_job(self, jid, ok, what, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            j = self.api("GET", "/admin/v1/migrations/" + jid)
            if ok(j):
                return j
            time.sleep(0.3)
        self.fail("job %s: timed out waiting for %s: %s" % (jid, what, j))

    def setUp(self):
        src = h.unique_bucket("rns")
        self.moto.s3.create_bucket(Bucket=src)
        for i, n in enumerate([5000, 12345, 700000, 1 << 20]):
            self.moto.s3.put_object(Bucket=src, Key="k/%d" % i, Body=h.random_bytes(n, seed=i))
        self.done, self.slow, self.idle, self.bare = (t.unique_tenant(p)
                                                      for p in ("rnd", "rns", "rni", "rnb"))
        for name in (self.done, self.slow, self.idle, self.bare):
            self.ten.tenant_add(name)
        for name, expiry in ((self.done, "2035-06-30"), (self.slow, "2021-12-31"),
                             (self.idle, "2031-02-28")):
            self.api("POST", C, {"tenant": name, "provider": "aws", "signed": "2020-01-01",
                                 "expiry": expiry})
        done = self.job(self.done, src, start=True)
        slow = self.job(self.slow, src, start=True, bandwidth_limit=65536)
        idle = self.job(self.idle, src, start=False)
        self.wait_job(done, lambda j: j["state"] == "completed", "completed")
        # a job created without starting is sized by its automatic estimate
        self.wait_job(idle, lambda j: (j["estimate"] or {}).get("state") == "done", "estimate")
        self.wait_job(slow, lambda j: (j["stats"].get("copied_bytes") or 0) > 0, "bytes copied")
        self.api("POST", "/admin/v1/migrations/%s/pause" % slow)
        self.wait_job(slow, lambda j: j["state"] == "paused", "paused")

    def snapshot(self):
        """JSON, CSV and HTML of one unchanging moment (retried if the JSON moved)."""
        for _ in range(5):
            _, body = self.fetch("json", None)
            doc = json.loads(body)
            csv_body = self.fetch("csv", doc["as_of"])[1].decode()
            html_body = self.fetch("html", doc["as_of"])[1].decode()
            if json.loads(self.fetch("json", doc["as_of"])[1]) == doc:
                return doc, csv_body, html_body
            time.sleep(1)
        self.fail("the status document kept changing")

    def fetch(self, fmt, as_of):
        q = [("format", fmt)] + ([("as_of", as_of)] if as_of else [])
        st, ctype, body = raw_request(self.server, "/admin/v1/report", q)
        self.assertEqual(st, 200, body[:500])
        return ctype, body

    def assertUnknown(self, text, what):
        self.assertNotRegex(text, r"\d", "%s is unknown (null) but shown as %r" % (what, text))

    def test_csv_and_html_numbers_equal_the_json(self):
        doc, csv_body, html_body = self.snapshot()
        rows = {x["tenant"]: x for x in doc["tenants"]}
        for name in (self.done, self.slow, self.idle, self.bare):
            self.assertIn(name, rows)
        # the snapshot covers what the test is about (else it would compare zeros)
        size = 5000 + 12345 + 700000 + (1 << 20)
        self.assertEqual(rows[self.done]["bytes_moved"], rows[self.done]["bytes_total"])
        self.assertEqual(rows[self.done]["bytes_total"], size, rows[self.done])
        self.assertEqual((rows[self.done]["bytes_verified"], rows[self.done]["objects_verified"]),
                         (size, 4), rows[self.done])
        self.assertLessEqual(rows[self.slow]["bytes_verified"], rows[self.slow]["bytes_moved"])
        # slow's deadline (2022-02-28) has passed with work left: counted past the deadline
        self.assertTrue(rows[self.slow]["past_deadline"], rows[self.slow])
        self.assertEqual(doc["totals"]["past_deadline"],
                         sum(1 for x in doc["tenants"] if x["past_deadline"]))
        self.assertGreaterEqual(doc["totals"]["past_deadline"], 1)
        # nothing runs: no current rate (the finished and the paused job keep none)
        self.assertEqual((rows[self.done]["rate_bps"], rows[self.slow]["rate_bps"]), (0, 0))
        # ... but the paused pass's measured rate still projects its finish
        self.assertIsNotNone(rows[self.slow]["projected_finish"], rows[self.slow])
        self.assertGreater(rows[self.slow]["bytes_total"], rows[self.slow]["bytes_moved"])
        # never started: the estimate says how much there is to move
        self.assertEqual((rows[self.idle]["bytes_total"], rows[self.idle]["objects_total"],
                          rows[self.idle]["estimated_jobs"], rows[self.idle]["bytes_moved"]),
                         (size, 4, 1, 0), rows[self.idle])
        self.assertIsNone(rows[self.idle]["projected_finish"], "no rate measured yet")
        self.assertIsNone(rows[self.bare]["deadline"])
        self.assertIsNone(rows[self.bare]["bytes_total"], "no job, no estimate: unknown")
        self.assertEqual(doc["totals"]["unsized_tenants"],
                         sum(1 for x in doc["tenants"] if x["bytes_total"] is None))
        # CSV: every column of every row
        recs = list(csv.DictReader(io.StringIO(csv_body)))
        self.assertEqual([r["tenant"] for r in recs], [x["tenant"] for x in doc["tenants"]])
        for r in recs:
            x = rows[r["tenant"]]
            for col, got in r.items():
                if col == "as_of":
                    want = doc["as_of"]
                elif col == "violations":
                    want = str(len(x["violations"]))
                elif x[col] is None:
                    want = ""
                else:
                    want = str(x[col])
                self.assertEqual(got, want, "CSV %s of %s (JSON %r)" % (col, r["tenant"], x.get(col)))
        # HTML: the cards
        p = _ReportHTML()
        p.feed(html_body)
        tot = doc["totals"]
        self.assertEqual(p.cards["企业 Tenants"], str(tot["tenants"]), p.cards)
        moved = p.cards["已迁移 Data moved"].split(" / ")
        self.assertEqual(len(moved), 2, p.cards)
        for part, key in zip(moved, ("bytes_moved", "bytes_total")):
            if tot[key] is None:
                self.assertUnknown(part, "totals." + key)
            else:
                self.assertEqual(part, _fmt_bytes(tot[key]), "totals." + key)
        verified = p.cards["已校验数据 Data verified"].split(" / ")
        self.assertEqual(verified[0], _fmt_bytes(tot["bytes_verified"]), p.cards)
        self.assertEqual(verified[1], moved[1], p.cards)
        if tot["unsized_tenants"]:
            self.assertEqual(p.cards.get("规模未知 Size unknown"), str(tot["unsized_tenants"]),
                             p.cards)
        else:
            self.assertNotIn("规模未知 Size unknown", p.cards)
        for label, key in (("有风险 At risk", "at_risk"), ("逾期 Overdue", "overdue"),
                           ("违规 Violations", "violations"), ("已校验 Verified", "verified"),
                           ("已切换 Cut over", "cut_over"), ("迁移中 Migrating", "migrating"),
                           ("未开始 Not started", "not_started"),
                           ("逾期未完成 Past deadline", "past_deadline")):
            self.assertEqual(p.cards.get(label), str(tot[key]), "card %s in %s" % (label, p.cards))
        # HTML: the tenant table, every cell
        head, body_rows = p.rows[0], p.rows[1:]
        self.assertEqual(head, ["企业 Tenant", "状态 Status", "截止日期 Deadline",
                                "剩余天数 Days left", "已迁移 / 总量 Moved / total",
                                "对象 Objects", "已校验 Verified (bytes / objects)",
                                "速率 Rate", "预计完成 Projected", "合同 Contracts"])
        head = [x.split(" ", 1)[1] if x != "已迁移 / 总量 Moved / total" else "Moved / total"
                for x in head]
        self.assertEqual([r[0] for r in body_rows], [x["tenant"] for x in doc["tenants"]])
        for r in body_rows:
            x = rows[r[0]]
            cell = dict(zip(head, r))
            what = lambda c: "HTML %s of %s" % (c, x["tenant"])  # noqa: E731
            self.assertEqual(cell["Status"], STATUS_LABELS[x["status"]], what("status"))
            self.assertEqual(cell["Deadline"], x["deadline"] or "-", what("deadline"))
            self.assertEqual(cell["Days left"],
                             "-" if x["days_left"] is None else str(x["days_left"]),
                             what("days left"))
            for part, key in zip(cell["Moved / total"].split(" / "),
                                 ("bytes_moved", "bytes_total")):
                if x[key] is None:
                    self.assertUnknown(part, what(key))
                else:
                    self.assertEqual(part, _fmt_bytes(x[key]), what(key))
            for part, key in zip(cell["Objects"].split(" / "),
                                 ("objects_moved", "objects_total")):
                if x[key] is None:
                    self.assertUnknown(part, what(key))
                else:
                    self.assertEqual(part, str(x[key]), what(key))
            vb, vo = cell["Verified (bytes / objects)"].split(" / ")
            self.assertEqual((vb, vo), (_fmt_bytes(x["bytes_verified"]),
                                        str(x["objects_verified"])), what("verified"))
            self.assertEqual(cell["Rate"],
                             _fmt_bytes(x["rate_bps"]) + "/s" if x["rate_bps"] else "-",
                             what("rate"))
            self.assertEqual(cell["Projected"], x["projected_finish"] or "未知 unknown",
                             what("projected"))
            self.assertEqual(cell["Contracts"], str(x["contracts"]), what("contracts"))
        self.check_live_rate()

    def check_live_rate(self):
        """The paused job runs again: its tenant's rate moves between requests, so the CSV's
        and the HTML's must lie between the JSON's just before and just after (the HTML's
        rounded to one decimal of its unit)."""
        jobs = self.api("GET", "/admin/v1/migrations", query=[("tenant", self.slow)])
        self.api("POST", "/admin/v1/migrations/%s/resume" % jobs["migrations"][0]["id"])
        units = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
        q = [("tenant", self.slow)]

        def rate_now():
            return self.api("GET", "/admin/v1/status", query=q)["tenants"][0]["rate_bps"]

        deadline = time.time() + 60
        while time.time() < deadline:
            before = rate_now()
            csv_body = raw_request(self.server, "/admin/v1/report", [("format", "csv")] + q)[2]
            html_body = raw_request(self.server, "/admin/v1/report", [("format", "html")] + q)[2]
            after = rate_now()
            if not before or not after:
                time.sleep(0.3)  # not copying yet, or finished
                continue
            lo, hi = min(before, after), max(before, after)
            got = int(list(csv.DictReader(io.StringIO(csv_body.decode())))[0]["rate_bps"])
            self.assertTrue(lo <= got <= hi, "CSV rate %d outside [%d, %d]" % (got, lo, hi))
            p = _ReportHTML()
            p.feed(html_body.decode())
            cell = p.rows[1][7]
            m = re.fullmatch(r"([\d.]+) (B|KiB|MiB|GiB)/s", cell)
            self.assertIsNotNone(m, "HTML rate %r (row %s)" % (cell, p.rows[1]))
            v, unit = float(m.group(1)), units[m.group(2)]
            self.assertTrue(lo - 0.05 * unit <= v * unit <= hi + 0.05 * unit,
                            "HTML rate %s outside [%d, %d]" % (cell, lo, hi))
            return
        self.fail("the resumed job never showed a rate")


if __name__ == "__main__":
    unittest.main()
