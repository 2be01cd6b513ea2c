"""Crash consistency (issue 6): tests/fault/crash.py for a bounded number of rounds (50 by
default, GZY_CRASH_ROUNDS to change) within a time budget (GZY_CRASH_BUDGET seconds, 300 by
default: no round starts after it, and fewer rounds than asked is a failure), with a fraction
of the writes encrypted at rest (GZY_CRASH_SSE, 0.3), then `gzy fsck` on the data it leaves
(refused while the server runs, clean once it is stopped) and `gzy scrub`. The harness's own checks are shown to
fail: damage made by hand between a kill and the restart (a flipped byte, a lost index row, a
tampered usage counter) must be caught, and `gzy fsck` must name the same object."""

import json
import os
import sys
import unittest

import harness as h
import tenancy as t

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
import crash  # noqa: E402

ROUNDS = int(os.environ.get("GZY_CRASH_ROUNDS", "50"))
BUDGET = float(os.environ.get("GZY_CRASH_BUDGET", "300"))
SSE = float(os.environ.get("GZY_CRASH_SSE", "0.3"))


def fsck(data_dir, *args):
    p = t.run_gzy("fsck", "--data", data_dir, "--json", *args, check=False)
    try:
        doc = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        raise AssertionError("gzy fsck printed no JSON: %r %r" % (p.stdout[-2000:], p.stderr))
    return p, doc


@h.requires_gzy()
class CrashHarnessTests(unittest.TestCase):
    def harness(self, **kw):
        kw.setdefault("sse", SSE)
        hr = crash.Harness(out=lambda s: sys.stdout.write(s + "\n"), **kw)
        self.addCleanup(hr.close)
        return hr.start()

    def test_rounds_then_fsck_clean(self):
        hr = self.harness(rounds=ROUNDS, threads=4, recovery_kill_every=8, fsck_every=10)
        stats = hr.run(time_budget=BUDGET, min_rounds=ROUNDS)
        self.assertEqual(stats.rounds, ROUNDS)
        acked = sum(stats.acked.values())
        self.assertGreater(acked, ROUNDS * 5, "too little load to mean anything: %s"
                           % hr.summary())
        for kind in ("put", "delete", "copy", "mpu-complete"):
            self.assertGreater(stats.acked.get(kind, 0), 0, "no acknowledged %s: %s"
                               % (kind, hr.summary()))
        self.assertGreater(sum(stats.unknown.values()), 0, "no operation was ever in flight at"
                           " a kill: %s" % hr.summary())

        data = hr.server.data_dir
        p, _ = fsck(data)
        self.assertEqual(p.returncode, 2, "fsck must refuse while the server runs: %s %s"
                         % (p.stdout, p.stderr))
        self.assertIn("in use", p.stderr)

        hr.server.stop()
        p, doc = fsck(data)
        self.assertEqual(p.returncode, 0, "%s\n%s" % (p.stdout[-6000:], p.stderr[-2000:]))
        self.assertTrue(doc["clean"], doc)
        self.assertEqual(doc["problems"], [])
        present = sum(1 for k in hr.keys.values() if k.possible[0] is not crash.DELETED)
        self.assertEqual(doc["stats"]["objects"], present, doc["stats"])
        # Every object and every pending part had its body checked: against its ETag, or
        # (encrypted at rest: the ETag is the plaintext's) against its block CRCs only.
        st = doc["stats"]
        encrypted = sum(1 for k in hr.keys.values()
                        if k.possible[0] is not crash.DELETED and k.encrypted)
        self.assertGreaterEqual(st["verified"] + st["unverified"], present, st)
        self.assertGreaterEqual(st["unverified"], encrypted, st)
        self.assertGreaterEqual(st["verified"], present - encrypted, st)
        self.assertGreaterEqual(st["crc_checked"] + st["unprotected"], present, st)
        if SSE > 0:
            self.assertGreater(encrypted, 0, "no encrypted object at the end: %s" % hr.summary())
        s = t.run_gzy("scrub", "--data", data, "--rate", "0", check=False)
        self.assertEqual(s.returncode, 0, s.stdout + s.stderr)
        self.assertIn("clean", s.stdout)

    def _damaged(self, kind):
        hr = self.harness(rounds=3, threads=3, recovery_kill_every=0, sabotage=(2, kind))
        with self.assertRaises(crash.CrashFailure) as cm:
            hr.run()
        self.assertEqual(hr.round, 2, "caught in the round of the damage")
        hr.server.stop()
        return hr, str(cm.exception)

    def test_detects_flipped_byte(self):
        hr, msg = self._damaged("flip")
        bucket, key = hr.sabotaged
        # Read-time checksums refuse the damaged body (500 InternalError, never wrong bytes);
        # a damaged block the GET did not need to check first would show as wrong content.
        self.assertTrue("GET answered 500 InternalError" in msg or "not allowed" in msg, msg)
        # The first key checked may be a copy sharing the damaged file: fsck names them all.
        self.assertIn("key %s/" % bucket, msg)
        p, doc = fsck(hr.server.data_dir)
        self.assertEqual(p.returncode, 1, p.stdout)
        content = [x for x in doc["problems"] if x["kind"] == "content"]
        # The damaged object, and any copy sharing its file.
        self.assertIn((bucket, key), [(x["bucket"], x["key"]) for x in content], doc)

    def test_detects_lost_row(self):
        hr, msg = self._damaged("lose")
        bucket, key = hr.sabotaged
        self.assertIn("acknowledged write lost", msg)
        self.assertIn("key %s/%s" % (bucket, key), msg)

    def test_detects_usage_counter(self):
        hr, msg = self._damaged("usage")
        self.assertIn("usage of bucket %s" % hr.sabotaged[0], msg)
        data = hr.server.data_dir
        p, doc = fsck(data)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual({x["kind"] for x in doc["problems"]}, {"usage"}, doc)
        p, doc = fsck(data, "--repair")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertTrue(all(x["repaired"] for x in doc["problems"]), doc)
        p, doc = fsck(data)
        self.assertEqual(p.returncode, 0, p.stdout)


if __name__ == "__main__":
    unittest.main()
