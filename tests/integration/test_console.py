"""The web console in a real browser (issue 5): Debian's Chromium driven by playwright-core
(tests/console/*.mjs, one node process per scenario). This module starts gzy (harness.py) and a
moto_server source, creates the users the scenarios sign in as through the admin API, and runs
each scenario as one unittest test, showing the scenario's output when it fails.

Screenshots of every page at 1280 and 390 px go to build/test-artifacts/console/ (override with
GZY_CONSOLE_ARTIFACTS). Needs node, /usr/bin/chromium (GZY_CHROMIUM) and console/node_modules
(`make` runs `npm ci` there); without them the tests are skipped with the reason.
"""

import datetime
import json
import os
import secrets
import shutil
import subprocess
import time
import unittest
import zoneinfo


import harness as h
from motopeer import MOTO_KEY, HookProxy, Moto, free_port as _free_port
import tenancy as tn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUNNER = os.path.join(ROOT, "tests", "console", "run.mjs")
CHROMIUM = os.environ.get("GZY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = os.environ.get("GZY_CONSOLE_ARTIFACTS",
                           os.path.join(ROOT, "build", "test-artifacts", "console"))
SCENARIO_TIMEOUT_S = 240
DENIED_KEY = "locked/denied.bin"


def _deny_proxy(upstream_port):
    """moto behind a proxy that answers 403 AccessDenied to every read of DENIED_KEY: a job
    through it lists the object and fails it, with the source's reason."""
    def before(handler, key):
        if handler.command in ("GET", "HEAD") and key == DENIED_KEY:
            return 403, {"Content-Type": "application/xml"}, (
                b"<Error><Code>AccessDenied</Code><Message>denied by the console test</Message>"
                b"</Error>")
        return None
    return HookProxy(upstream_port, before=before)


def _missing_tools():
    if shutil.which("node") is None:
        return "node is not installed"
    if not os.path.exists(CHROMIUM):
        return "no Chromium at %s (apt-get install chromium, or set GZY_CHROMIUM)" % CHROMIUM
    if not os.path.isdir(os.path.join(ROOT, "console", "node_modules", "playwright-core")):
        return "console/node_modules/playwright-core is missing (run `cd console && npm ci`)"
    return None


class ConsoleDictionaryTest(unittest.TestCase):
    """Both languages have every string (same keys, same placeholders), and every t('key')
    the sources use exists."""

    def test_dictionaries(self):
        if shutil.which("node") is None:
            self.skipTest("node is not installed")
        p = subprocess.run(["node", os.path.join(ROOT, "tests", "console", "check-i18n.mjs")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode("utf-8", "replace"))


@h.requires_gzy("the console test drives gzy's own admin listener")
class ConsoleBrowserTest(unittest.TestCase):
    """One gzy, one moto_server and one set of users for all scenarios; the scenarios run in
    the order of the test names (later ones look at what earlier ones did)."""

    @classmethod
    def setUpClass(cls):
        why = _missing_tools()
        if why:
            raise unittest.SkipTest(why)
        cls.server = h.GzyServer()
        cls.moto = cls.proxy = None
        try:
            cls.server.start()
            cls.moto = Moto()
            cls._prepare()
        except BaseException:
            cls._teardown()
            raise

    @classmethod
    def tearDownClass(cls):
        cls._teardown()

    @classmethod
    def _teardown(cls):
        if cls.proxy is not None:
            cls.proxy.close()
        if cls.moto is not None:
            cls.moto.close()
        cls.server.close()

    @classmethod
    def _api(cls, method, path, body=None, query=(), want=(200, 201, 204)):
        r = tn.admin_request(cls.server, method, path, body=body, query=query)
        if r.status not in want:
            raise AssertionError("%s %s -> %r" % (method, path, r))
        return r.json

    @classmethod
    def _prepare(cls):
        srv = cls.server
        ten = tn.Tenancy(srv)
        suffix = secrets.token_hex(3)
        a, b = "huabei-%s" % suffix, "jinhai-%s" % suffix
        ten.tenant_add(a, contact="Alice")
        ten.tenant_add(b, contact="Bob")
        sup = ten.principal("platform", "inspector", "supervisor")
        alice = ten.principal(a, "alice", "tenant-admin")
        bob = ten.principal(b, "bob", "tenant-admin")
        # what the object browser offers depends on the role (bucket_roles scenario)
        member = ten.principal(a, "mei", "tenant-member")
        reader = ten.principal(a, "rui", "tenant-reader")

        # Buckets: one per tenant, created by the tenant's own admin.
        bucket_a, bucket_b = "files-%s" % suffix, "secret-%s" % suffix
        s3a = srv.client(access_key=alice.access_key, secret_key=alice.secret_key)
        s3a.create_bucket(Bucket=bucket_a)
        s3a.put_object(Bucket=bucket_a, Key="docs/readme.md", Body=b"# readme\n")
        s3a.put_object(Bucket=bucket_a, Key="hello.txt", Body=b"hello\n")
        s3a.put_object(Bucket=bucket_a, Key="q&a #1?/答案 x.txt", Body=b"42\n")
        s3b = srv.client(access_key=bob.access_key, secret_key=bob.secret_key)
        s3b.create_bucket(Bucket=bucket_b)
        s3b.put_object(Bucket=bucket_b, Key="private.txt", Body=b"bob's\n")

        # A policy without the 2022 final deadline, so that a tenant can be "verified" today
        # rather than overdue; grace and notice date stay the Tianjin preset's.
        policy_name = "e2e-city-%s" % suffix
        cls._api("PUT", "/admin/v1/policy", {"name": policy_name, "final_deadline": None})
        cls._api("POST", "/admin/v1/contracts",
                 {"tenant": a, "provider": "aws", "services": ["S3"], "buckets": ["src"],
                  "signed": "2021-01-15", "expiry": "2035-06-30"})
        cls._api("POST", "/admin/v1/contracts",
                 {"tenant": b, "provider": "tencent", "signed": "2019-05-01",
                  "expiry": "2036-12-31"})
        at_risk = "dongli-%s" % suffix
        cls._at_risk_tenant(ten, at_risk)

        # The source: a dozen objects in moto_server.
        src_bucket = "src-%s" % suffix
        cls.moto.s3.create_bucket(Bucket=src_bucket)
        sizes = [0, 1, 100, 4096, 65536, 300000, 1 << 20, 7, 12345, 2 << 20, 99, 500000]
        for i, n in enumerate(sizes):
            key = "data/%02d-%s.bin" % (i, "对象" if i % 3 == 0 else "obj")
            cls.moto.s3.put_object(Bucket=src_bucket, Key=key, Body=h.random_bytes(n, seed=i),
                                   Metadata={"n": str(i)})

        # A job of the other tenant, never started: tenant A must not see it.
        job_b = "b-hidden-%s" % suffix
        hidden = cls._api("POST", "/admin/v1/migrations",
                 {"tenant": b, "name": job_b, "dest_bucket": "bdest-%s" % suffix,
                  "start": False,
                  "source": {"provider": "generic", "endpoint": cls.moto.endpoint,
                             "region": h.REGION, "bucket": src_bucket,
                             "access_key": MOTO_KEY, "secret_key": MOTO_KEY}})

        # A job of the other tenant, throttled and paused part-way: stable numbers with a
        # rate and a projected finish for the overview to show.
        slow = cls._api("POST", "/admin/v1/migrations",
                        {"tenant": b, "name": "b-paused-%s" % suffix,
                         "dest_bucket": "bslow-%s" % suffix, "bandwidth_limit": 256 << 10,
                         "concurrency": 1, "start": True,
                         "source": {"provider": "generic", "endpoint": cls.moto.endpoint,
                                    "region": h.REGION, "bucket": src_bucket,
                                    "access_key": MOTO_KEY, "secret_key": MOTO_KEY}})
        cls._wait_job(slow["id"], lambda j: (j["stats"].get("copied_bytes") or 0) > 0
                      and j.get("eta_s") is not None, "copying")
        cls._api("POST", "/admin/v1/migrations/%s/pause" % slow["id"], {})
        cls._wait_job(slow["id"], lambda j: j["state"] == "paused", "paused")
        cls._wait_still(slow["id"])
        cls.slow_job = slow["id"]

        # A source with one object the source refuses to read (the failed-objects table).
        deny_bucket = "deny-%s" % suffix
        cls.moto.s3.create_bucket(Bucket=deny_bucket)
        for i, key in enumerate(["ok/one.txt", DENIED_KEY, "ok/two.txt"]):
            cls.moto.s3.put_object(Bucket=deny_bucket, Key=key, Body=h.random_bytes(100 + i))
        cls.proxy = _deny_proxy(cls.moto.port)

        # Quotas: the tenant's and one bucket's (the tenant page shows usage against them).
        cls._api("PUT", "/admin/v1/tenants/%s/quota" % a,
                 {"max_bytes": 300 << 20, "max_objects": 5000})
        cls._api("PUT", "/admin/v1/buckets/%s/quota" % bucket_a, {"max_objects": 40})

        # A denied call in the audit log (the audit scenario filters on it).
        r = tn.admin_request(srv, "GET", "/admin/v1/tenants/" + b,
                             access_key=alice.access_key, secret_key=alice.secret_key)
        if r.status != 403:
            raise AssertionError("tenant A's admin reading tenant B: expected 403, got %r" % r)

        os.makedirs(ARTIFACTS, exist_ok=True)
        for name in os.listdir(ARTIFACTS):  # a failure's screenshot from an earlier run
            if name.startswith("failed-") and name.endswith(".png"):
                os.remove(os.path.join(ARTIFACTS, name))
        cls.config = {
            "base": srv.admin_endpoint,
            "artifacts": ARTIFACTS,
            "users": {
                "root": {"ak": srv.access_key, "sk": srv.secret_key, "user": "root"},
                "supervisor": {"ak": sup.access_key, "sk": sup.secret_key, "user": "inspector"},
                "admin_a": {"ak": alice.access_key, "sk": alice.secret_key, "user": "alice"},
                "admin_b": {"ak": bob.access_key, "sk": bob.secret_key, "user": "bob"},
                "member_a": {"ak": member.access_key, "sk": member.secret_key, "user": "mei"},
                "reader_a": {"ak": reader.access_key, "sk": reader.secret_key, "user": "rui"},
            },
            "tenants": {"a": a, "b": b, "at_risk": at_risk},
            "new_tenant": {"name": "xinqiao-%s" % suffix, "uscc": tn.make_uscc("120116")},
            "bucket_a": bucket_a,
            "bucket_b": bucket_b,
            "job_b_name": job_b,
            "job_b_id": hidden["id"],
            "policy_name": policy_name,
            "dead_endpoint": "http://127.0.0.1:%d" % _free_port(),  # nothing listens there
            "deny": {"endpoint": cls.proxy.endpoint, "bucket": deny_bucket, "key": DENIED_KEY,
                     "objects": 3},
            "manifest_out": os.path.join(ARTIFACTS, "manifest-downloaded.json"),
            "moto": {"endpoint": cls.moto.endpoint, "bucket": src_bucket, "ak": MOTO_KEY,
                     "sk": MOTO_KEY, "objects": len(sizes), "bytes": sum(sizes),
                     "dest_bucket": "migrated-%s" % suffix},
        }

    @classmethod
    def _at_risk_tenant(cls, ten, name):
        """A tenant whose deadline is about 10 days away with nothing moved yet (no job: work
        outstanding of unknown size): at risk under the policy's at-risk days (30)."""
        ten.tenant_add(name, contact="Dong")
        pol = cls._api("GET", "/admin/v1/policy")
        today = datetime.datetime.now(zoneinfo.ZoneInfo(pol.get("time_zone") or "Asia/Shanghai"))
        deadline = today.date() + datetime.timedelta(days=10)
        while deadline.day > 28:  # no end-of-month clamp: expiry + grace months is this date
            deadline += datetime.timedelta(days=1)
        if (deadline - today.date()).days >= pol["at_risk_days"]:
            raise AssertionError("the policy's at-risk days (%s) are too few for the fixture"
                                 % pol["at_risk_days"])
        months = deadline.year * 12 + deadline.month - 1 - pol["grace_months"]
        expiry = datetime.date(months // 12, months % 12 + 1, deadline.day)
        c = cls._api("POST", "/admin/v1/contracts",
                     {"tenant": name, "provider": "huawei", "services": ["OBS"],
                      "signed": "2020-03-02", "expiry": expiry.isoformat()})
        if c.get("deadline") != deadline.isoformat():
            raise AssertionError("at-risk tenant: expected deadline %s, got %r" % (deadline, c))
        row = cls._api("GET", "/admin/v1/status", query=[("tenant", name)])["tenants"][0]
        if row.get("status") != "at-risk":
            raise AssertionError("the tenant meant to be at risk is not: %r" % row)

    @classmethod
    def _wait_job(cls, jid, ok, what, timeout=60):
        deadline = time.time() + timeout
        j = None
        while time.time() < deadline:
            j = cls._api("GET", "/admin/v1/migrations/" + jid)
            if ok(j):
                return j
            time.sleep(0.2)
        raise AssertionError("job %s: timed out waiting for %s: %s" % (jid, what, j))

    @classmethod
    def _wait_still(cls, jid, timeout=30):
        """Until a paused job's numbers stop moving (an object in flight when it paused
        finishes first)."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            j = cls._api("GET", "/admin/v1/migrations/" + jid)
            now = (j["state"], j["stats"], j.get("rate_bps"))
            if now == last:
                return
            last = now
            time.sleep(1)
        raise AssertionError("job %s kept changing after pausing: %s" % (jid, last))

    def report_json(self):
        """`gzy report --json` against the server, as the root credential."""
        p = subprocess.run(
            [self.server.bin, "report", "--json", "--admin-endpoint", self.server.admin_endpoint,
             "--access-key", self.server.access_key, "--secret-key", self.server.secret_key],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, env=self.server._env())
        if p.returncode != 0:
            self.fail("gzy report --json failed (exit %d): %s" % (p.returncode,
                                                                    p.stderr.decode()[-2000:]))
        return json.loads(p.stdout)

    def scenario(self, name, extra_env=None):
        env = dict(os.environ)
        env["GZY_CONSOLE_CONFIG"] = json.dumps(self.config)
        env["GZY_CHROMIUM"] = CHROMIUM
        env.update(extra_env or {})
        try:
            p = subprocess.run(["node", RUNNER, name], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=SCENARIO_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode("utf-8", "replace")
            self.fail("scenario %s timed out after %d s\n%s" % (name, SCENARIO_TIMEOUT_S, out))
        out = p.stdout.decode("utf-8", "replace")
        if os.environ.get("GZY_CONSOLE_VERBOSE") == "1":
            print(out)
        if p.returncode != 0:
            self.fail("browser scenario %s failed (exit %d):\n%s\n%s"
                      % (name, p.returncode, out[-6000:], self.server.logs(2000)))
        self.assertIn("ok %s" % name, out)

    def test_01_signin_and_language(self):
        self.scenario("signin_language")

    def test_02_tenant_and_contract_deadline(self):
        self.scenario("tenant_contract")

    def test_03_migration_from_moto_to_verified(self):
        self.scenario("migration")

    def test_04_overview_equals_report(self):
        rep = self.report_json()
        # The page's own source must agree with the CLI's (both are the status document).
        status = self._api("GET", "/admin/v1/status")
        for k in ("tenants", "bytes_total", "bytes_moved", "at_risk", "overdue", "violations"):
            self.assertEqual(status["totals"].get(k), rep["totals"].get(k),
                             "totals.%s: GET /admin/v1/status vs gzy report" % k)
        self.scenario("overview", {"GZY_CONSOLE_REPORT": json.dumps(rep)})

    def test_04b_overview_live_rate(self):
        """The paused job runs again while the overview is open: the rate shows."""
        jid = self.slow_job
        self._api("POST", "/admin/v1/migrations/%s/resume" % jid, {})
        try:
            # the tenant has a rate once an object was copied since the job resumed
            tenant = self.config["tenants"]["b"]
            deadline = time.time() + 30
            while time.time() < deadline:
                row = self._api("GET", "/admin/v1/status", query=[("tenant", tenant)])["tenants"][0]
                if (row.get("rate_bps") or 0) > 0:
                    break
                time.sleep(0.2)
            else:
                self.fail("tenant %s never showed a rate: %s" % (tenant, row))
            self.scenario("overview_live")
        finally:
            j = self._api("GET", "/admin/v1/migrations/" + jid)
            if j["state"] == "running":
                self._api("POST", "/admin/v1/migrations/%s/pause" % jid, {})
                self._wait_job(jid, lambda x: x["state"] != "running", "paused")
                self._wait_still(jid)

    def test_05_tenant_isolation(self):
        self.scenario("isolation")

    def test_06_buckets_upload_download_delete(self):
        self.scenario("buckets")

    def test_06b_bucket_page_by_role(self):
        self.scenario("bucket_roles")

    def test_07_audit_filter_export(self):
        self.scenario("audit")

    def test_08_policy(self):
        self.scenario("policy")

    def test_09_screens_and_phone(self):
        self.scenario("screens")

    def test_10_signout(self):
        self.scenario("signout")

    def test_11_job_pause_resume_cancel_and_failure(self):
        self.scenario("job_controls")

    def test_12_start_button_and_every_manifest(self):
        out = self.config["manifest_out"]
        if os.path.exists(out):
            os.remove(out)
        self.scenario("start_manifests")
        # what the page downloaded is the signed manifest gzy itself accepts
        p = subprocess.run(
            [self.server.bin, "migrate", "verify-manifest", out, "--data", self.server.data_dir,
             "--endpoint", self.server.endpoint, "--access-key", self.server.access_key,
             "--secret-key", self.server.secret_key, "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, env=self.server._env())
        self.assertEqual(p.returncode, 0, "verify-manifest: %s %s" % (p.stdout.decode()[-2000:],
                                                                      p.stderr.decode()[-2000:]))
        res = json.loads(p.stdout.decode().strip().splitlines()[-1])
        with open(out, "rb") as f:
            doc = json.load(f)
        self.assertEqual(res.get("ok"), doc["counts"]["objects"], res)
        self.assertEqual(doc["counts"]["objects"], self.config["moto"]["objects"], doc["counts"])

    def test_13_usage_against_quotas(self):
        self.scenario("usage")

    def test_99_no_stray_requests(self):
        """The browsing above made no request the admin API could not name (such as a
        /favicon.ico outside /console/, which would be audited as a denied call)."""
        entries = self._api("GET", "/admin/v1/audit", query=[("limit", "10000")])["entries"]
        if not any(e.get("action") == "admin:ConsoleSignIn" for e in entries):
            self.skipTest("no browser scenario ran before this test")
        stray = [e for e in entries if e.get("action") == "admin:Unknown"]
        self.assertEqual(stray, [], "requests the admin API could not name")


if __name__ == "__main__":
    unittest.main()
