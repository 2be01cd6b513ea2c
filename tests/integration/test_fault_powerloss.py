"""Power-loss simulation (issue 6): the LD_PRELOAD shim in tests/fault/powerloss/ throws away
whatever gzy did not fsync at a simulated power loss, and tests/fault/crash.py --powerloss runs
its crash checks after each one (every acknowledged write present and exact, acknowledged
deletes gone, nothing torn, no orphans after start-up, usage counters exact, `gzy fsck` clean).

  * test_shim_model: the shim's model itself, on a small Python program (what survives: fsynced
    data and names in fsynced folders; what does not: the rest).
  * test_rounds: GZY_POWERLOSS_ROUNDS (24) power losses under concurrent load against GZY_BIN
    (the ASan+UBSan server in `make test`: the ASan runtime is put first in LD_PRELOAD), in
    mixed modes (drop / keep-some / garble), some at the Nth file call, some during recovery,
    with GZY_POWERLOSS_SSE (0.3) of the writes encrypted at rest, within GZY_POWERLOSS_BUDGET
    seconds (240: no round starts after it; fewer rounds than asked fails).
  * test_missing_{body,wal}_fsync_is_caught: the shim told to ignore the fsyncs of object
    bodies, or of the index's WAL (a store that forgot them), must make the harness fail.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

import harness as h
import tenancy as t

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
import crash  # noqa: E402

ROUNDS = int(os.environ.get("GZY_POWERLOSS_ROUNDS", "24"))
BUDGET = float(os.environ.get("GZY_POWERLOSS_BUDGET", "240"))
SSE = float(os.environ.get("GZY_POWERLOSS_SSE", "0.3"))

MODEL_PROGRAM = textwrap.dedent(r"""
    import os, signal, sys, time
    d = sys.argv[1]
    def sync_dir(path):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(fd)
        os.close(fd)
    # durable: data fsynced, name in a fsynced folder
    fd = os.open(d + "/a", os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"A" * 5000)
    os.fsync(fd)
    os.mkdir(d + "/sub")
    sync_dir(d)
    os.write(fd, b"B" * 3000)                 # unsynced append: dropped
    os.pwrite(fd, b"C" * 100, 10)              # unsynced overwrite: reverted
    os.close(fd)
    fd = os.open(d + "/b", os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"b" * 10)
    os.fsync(fd)                               # data durable, the name is not
    os.close(fd)
    fd = os.open(d + "/sub/c", os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"c" * 7)
    os.fdatasync(fd)
    os.close(fd)
    sync_dir(d + "/sub")                       # durable
    fd = os.open(d + "/sub/e", os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"e" * 9)                     # name durable, data not: an empty file
    os.close(fd)
    sync_dir(d + "/sub")
    os.unlink(d + "/sub/c")                    # not durable: c comes back
    os.rename(d + "/a", d + "/sub/a2")         # not durable: a stays
    fd = os.open(d + "/sub/f", os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.rename(d + "/sub/f", d + "/sub/e")      # not durable: the old e stays
    os.kill(os.getpid(), signal.SIGPWR)
    time.sleep(10)
    print("still alive after SIGPWR")
""")


class ShimModelTests(unittest.TestCase):
    def test_shim_model(self):
        shim = crash.powerloss_shim()
        tmp = tempfile.mkdtemp(prefix="gzy-pl-")
        self.addCleanup(subprocess.run, ["rm", "-rf", tmp])
        d = os.path.join(tmp, "data")
        os.mkdir(d)
        prog = os.path.join(tmp, "prog.py")
        with open(prog, "w") as f:
            f.write(MODEL_PROGRAM)
        report = os.path.join(tmp, "report.jsonl")
        env = dict(os.environ, LD_PRELOAD=shim, GZY_POWERLOSS_DIR=d,
                   GZY_POWERLOSS_REPORT=report, GZY_POWERLOSS_MODE="drop")
        p = subprocess.run([sys.executable, prog, d], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 137, p.stdout + p.stderr)

        def read(name):
            with open(os.path.join(d, name), "rb") as f:
                return f.read()
        self.assertEqual(sorted(os.listdir(d)), ["a", "sub"])  # b gone, no trash left
        self.assertEqual(read("a"), b"A" * 5000)
        self.assertEqual(sorted(os.listdir(os.path.join(d, "sub"))), ["c", "e"])
        self.assertEqual(read("sub/c"), b"c" * 7)
        self.assertEqual(read("sub/e"), b"")
        with open(report) as f:
            lines = [json.loads(x) for x in f]
        crashes = [x for x in lines if x["event"] != "exit"]
        self.assertEqual(len(crashes), 1, lines)
        self.assertEqual(crashes[0]["event"], "signal")
        self.assertGreaterEqual(crashes[0]["ns_undone"], 4, crashes)

    def test_shim_modes_keep_synced_bytes(self):
        """keep-some and garble touch only the bytes written since the last fsync (SQLite's
        powersafe overwrite), per 512-byte sector; the size is the durable or the current
        one; drop restores the durable content exactly."""
        shim = crash.powerloss_shim()
        prog = textwrap.dedent(r'''
            import os, signal, sys, time
            d = sys.argv[1]
            fd = os.open(d + "/f", os.O_CREAT | os.O_RDWR, 0o600)
            os.write(fd, b"A" * 10000)
            os.fsync(fd)
            dfd = os.open(d, os.O_RDONLY)
            os.fsync(dfd)
            os.pwrite(fd, b"B" * 300, 1000)
            os.pwrite(fd, b"C" * 5000, 10000)
            os.kill(os.getpid(), signal.SIGPWR)
            time.sleep(10)
        ''')
        seen = {m: set() for m in crash.POWERLOSS_MODES}
        for mode in crash.POWERLOSS_MODES:
            for seed in range(1, 9):
                with tempfile.TemporaryDirectory(prefix="gzy-pl-") as tmp:
                    env = dict(os.environ, LD_PRELOAD=shim, GZY_POWERLOSS_DIR=tmp,
                               GZY_POWERLOSS_MODE=mode, GZY_POWERLOSS_SEED=str(seed))
                    p = subprocess.run([sys.executable, "-c", prog, tmp], env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       timeout=60)
                    self.assertEqual(p.returncode, 137, p.stderr)
                    with open(os.path.join(tmp, "f"), "rb") as f:
                        got = f.read()
                what = "%s seed %d" % (mode, seed)
                self.assertIn(len(got), (10000, 15000), what)
                self.assertEqual(got[:1000] + got[1300:10000], b"A" * 9700, what)
                if mode == "drop":
                    self.assertEqual(got, b"A" * 10000, what)
                    continue
                for lo, hi in ((1000, 1024), (1024, 1300), (10240, 10752)):
                    piece = got[lo:hi]
                    if hi > len(got):
                        continue
                    old = b"A" if lo < 10000 else b"\0"
                    new = b"B" if lo < 10000 else b"C"
                    kind = ("old" if piece == old * (hi - lo) else
                            "new" if piece == new * (hi - lo) else "garbage")
                    seen[mode].add(kind)
                    if mode == "keep-some":
                        self.assertNotEqual(kind, "garbage", what)
        self.assertEqual(seen["keep-some"], {"old", "new"}, seen)
        self.assertEqual(seen["garble"], {"old", "new", "garbage"}, seen)

    def test_shim_off_without_dir(self):
        """Without GZY_POWERLOSS_DIR the shim does nothing (SIGPWR keeps its default)."""
        shim = crash.powerloss_shim()
        with tempfile.TemporaryDirectory(prefix="gzy-pl-") as tmp:
            path = os.path.join(tmp, "x")
            code = "import os; fd=os.open(%r, os.O_CREAT|os.O_WRONLY); os.write(fd, b'x');" \
                   " os.close(fd); os.rename(%r, %r + '2')" % (path, path, path)
            env = {k: v for k, v in os.environ.items() if not k.startswith("GZY_POWERLOSS")}
            env["LD_PRELOAD"] = shim
            subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
            self.assertEqual(os.listdir(tmp), ["x2"])


def fsck(data_dir, *args):
    p = t.run_gzy("fsck", "--data", data_dir, "--json", *args, check=False)
    try:
        doc = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        raise AssertionError("gzy fsck printed no JSON: %r %r" % (p.stdout[-2000:], p.stderr))
    return p, doc


@h.requires_gzy()
class PowerLossRoundsTests(unittest.TestCase):
    def harness(self, mode="mixed", nosync=None, **kw):
        srv = crash.PowerLossServer(mode=mode, nosync=nosync, threads=2)
        kw.setdefault("sse", SSE)
        hr = crash.Harness(out=lambda s: sys.stdout.write(s + "\n"), server=srv,
                           powerloss=True, **kw)
        self.addCleanup(hr.close)
        return hr.start()

    def test_rounds(self):
        hr = self.harness(rounds=ROUNDS, threads=4, recovery_kill_every=6, fsck_every=7)
        stats = hr.run(time_budget=BUDGET, min_rounds=ROUNDS)
        self.assertEqual(stats.rounds, ROUNDS)
        self.assertGreater(sum(stats.acked.values()), ROUNDS * 5, hr.summary())
        for kind in ("put", "delete", "copy", "mpu-complete"):
            self.assertGreater(stats.acked.get(kind, 0), 0, hr.summary())
        pl = hr.powerloss_stats()
        # Every round and every recovery kill was a power loss of the shim, and the shim
        # really threw things away (unsynced bytes, name operations).
        self.assertEqual(pl["crashes"] + hr.early_power_offs, ROUNDS + stats.recovery_kills,
                         pl)
        self.assertGreater(pl["at"], 0, pl)
        self.assertGreater(pl["signal"], 0, pl)
        self.assertGreater(pl["bytes_dropped"], 0, pl)
        self.assertGreater(pl["ns_undone"], 0, pl)

        data = hr.server.data_dir
        hr.server.stop()
        p, doc = fsck(data)
        self.assertEqual(p.returncode, 0, "%s\n%s" % (p.stdout[-6000:], p.stderr[-2000:]))
        self.assertEqual(doc["problems"], [])
        present = sum(1 for k in hr.keys.values() if k.possible[0] is not crash.DELETED)
        self.assertEqual(doc["stats"]["objects"], present, doc["stats"])
        if SSE > 0:  # the usage check held with encrypted objects among them
            self.assertGreater(sum(1 for k in hr.keys.values() if k.encrypted), 0, hr.summary())

    def _forgotten_fsync(self, nosync):
        hr = self.harness(mode="drop", nosync=nosync, rounds=10, threads=4,
                          recovery_kill_every=0)
        with self.assertRaises(crash.CrashFailure) as cm:
            hr.run()
        return str(cm.exception)

    def test_missing_body_fsync_is_caught(self):
        # The bodies' fdatasync and their folders' fsync "forgotten": a body comes back
        # shorter than its row (or without its name).
        msg = self._forgotten_fsync("/objects/")
        self.assertNotIn("unexpected answers before the kill", msg)
        self.assertRegex(msg, r"key crash-[ab]-[0-9a-f]+/|objects/ holds", msg)
        self.assertRegex(msg, "GET got no complete answer|not allowed|GET answered|misses", msg)

    def test_missing_wal_fsync_is_caught(self):
        # The index's WAL fsyncs "forgotten": acknowledged commits are lost (this also proves
        # that SQLite's writes go through the shim).
        msg = self._forgotten_fsync("index.db")
        # index.db itself may come back empty (its checkpoints unsynced too): then the
        # bodies are orphans nobody sweeps, or the buckets are gone.
        self.assertNotIn("unexpected answers before the kill", msg)
        self.assertRegex(msg, r"acknowledged write lost|not allowed|is gone|objects/ holds|"
                         r"usage of|GET answered|GET got no complete answer", msg)


if __name__ == "__main__":
    unittest.main()
