#!/usr/bin/env python3
"""run.py - guoziyun's test runner (standard library only).

Runs (a) every C unit test binary BUILD/tests/test_* (and SAN/tests/test_* with --san-build),
counting TAP "ok"/"not ok" lines, and (b) the integration suite: every
tests/integration/test_*.py module, loaded with unittest in its own process, against the server
binary (SAN/gzy with --san-build, else BUILD/gzy), passed as GZY_BIN.

Ends with exactly one line "N passed, N failed[, N skipped]"; exits 1 if anything failed.

  python3 tests/run.py --build build --san-build build/san [--only unit|integration]
                       [-k SUBSTRING] [-v] [-j JOBS]
"""

import argparse
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION_DIR = os.path.join(HERE, "integration")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
# Started first, longest first, so the parallel workers finish together.
SLOW_MODULES = ["test_migrate_radosgw.py", "test_console.py", "test_fault_crash.py",
                "test_fault_powerloss.py", "test_bitrot.py",
                "test_valgrind.py", "test_migrate_copy.py", "test_migrate_jobs.py",
                "test_migrate_features.py",
                "test_awscli.py", "test_tools.py", "test_multipart.py", "test_restart.py",
                "test_streaming.py"]
UNIT_TIMEOUT_S = 300
MODULE_TIMEOUT_S = int(os.environ.get("GZY_TEST_MODULE_TIMEOUT", "900"))
TAP_LINE = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*-?\s*(.*)$")


class Totals:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def line(self):
        s = "%d passed, %d failed" % (self.passed, self.failed)
        if self.skipped:
            s += ", %d skipped" % self.skipped
        return s


def out(msg=""):
    print(msg, flush=True)


def indent(text, prefix="    "):
    return "\n".join(prefix + line for line in text.rstrip("\n").split("\n"))


# ------------------------------------------------------------------------------------------
# Unit tests (TAP)
# ------------------------------------------------------------------------------------------

def unit_binaries(build_dir):
    found = []
    for path in sorted(glob.glob(os.path.join(build_dir, "tests", "test_*"))):
        if os.path.isfile(path) and os.access(path, os.X_OK) and not path.endswith((".d", ".o")):
            found.append(path)
    return found


def run_unit_binary(path, label, totals, args, sanitized):
    name = os.path.basename(path)
    env = dict(os.environ)
    if sanitized:
        env.update(SAN_ENV)
    start = time.monotonic()
    timed_out = False
    try:
        p = subprocess.run([os.path.abspath(path)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                           timeout=UNIT_TIMEOUT_S, cwd=os.path.dirname(HERE))
        output, rc = p.stdout.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        output = (e.stdout or b"").decode("utf-8", "replace")
        rc, timed_out = None, True
    elapsed = time.monotonic() - start

    whole = args.k is None or args.k in name
    passed = failed = 0
    failures = []
    for line in output.splitlines():
        m = TAP_LINE.match(line.strip())
        if not m:
            continue
        if not whole and args.k not in line:
            continue
        if m.group(1) == "ok":
            passed += 1
            if args.verbose:
                out("    " + line.strip())
        else:
            failed += 1
            failures.append(line.strip())
    problems = []
    if timed_out:
        problems.append("timed out after %ds" % UNIT_TIMEOUT_S)
    elif rc != 0 and not failures:
        problems.append("exited with status %s and no 'not ok' line%s"
                        % (rc, " (killed by signal %d)" % -rc if rc < 0 else ""))
    if sanitized and any(m in output for m in SANITIZER_MARKERS):
        problems.append("sanitizer report in output")
    if not timed_out and rc == 0 and passed == 0 and failed == 0 and whole:
        problems.append("printed no TAP result lines")
    failed += len(problems)
    if not whole and passed == 0 and failed == 0:
        return
    totals.passed += passed
    totals.failed += failed
    out("[%s] %-28s %d passed, %d failed  (%.1fs)" % (label, name, passed, failed, elapsed))
    if failed:
        for f in failures:
            out("  FAIL " + f)
        for p in problems:
            out("  FAIL %s: %s" % (name, p))
        out("  --- output of %s ---" % path)
        out(indent(output[-20000:] or "(no output)"))


def run_units(args, totals):
    sets = [(args.build, "unit", False)]
    if args.san_build:
        sets.append((args.san_build, "unit-san", True))
    for build_dir, label, sanitized in sets:
        bins = unit_binaries(build_dir)
        if not bins:
            out("[%s] no unit test binaries in %s/tests" % (label, build_dir))
            totals.failed += 1
            continue
        for path in bins:
            run_unit_binary(path, label, totals, args, sanitized)


# ------------------------------------------------------------------------------------------
# Integration tests: one worker process per module
# ------------------------------------------------------------------------------------------

def _iter_tests(suite):
    import unittest
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _iter_tests(t)
        else:
            yield t


def worker_main(module_path, results_path, k, verbose):
    """Runs one test module with unittest; writes one JSON line per outcome."""
    import unittest

    sys.path.insert(0, os.path.dirname(module_path))
    rfile = open(results_path, "a", buffering=1)

    def emit(test, outcome, details="", duration=0.0):
        rfile.write(json.dumps({"id": test.id() if hasattr(test, "id") else str(test),
                                "outcome": outcome, "details": details,
                                "duration": round(duration, 3)}) + "\n")

    class Result(unittest.TestResult):
        def startTest(self, test):
            super().startTest(test)
            self._t0 = time.monotonic()

        def _dur(self):
            return time.monotonic() - getattr(self, "_t0", time.monotonic())

        def addSuccess(self, test):
            super().addSuccess(test)
            emit(test, "pass", duration=self._dur())

        def addFailure(self, test, err):
            super().addFailure(test, err)
            emit(test, "fail", self._exc_info_to_string(err, test), self._dur())

        def addError(self, test, err):
            super().addError(test, err)
            emit(test, "error", self._exc_info_to_string(err, test), self._dur())

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            emit(test, "skip", reason)

        def addExpectedFailure(self, test, err):
            super().addExpectedFailure(test, err)
            emit(test, "pass", duration=self._dur())

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            emit(test, "fail", "unexpected success", self._dur())

        def addSubTest(self, test, subtest, err):
            super().addSubTest(test, subtest, err)
            if err is not None:
                kind = "fail" if issubclass(err[0], test.failureException) else "error"
                emit(subtest, kind, self._exc_info_to_string(err, test))

    try:
        name = os.path.splitext(os.path.basename(module_path))[0]
        module = __import__(name)
        suite = unittest.defaultTestLoader.loadTestsFromModule(module)
        if k:
            suite = unittest.TestSuite(t for t in _iter_tests(suite) if k in t.id())
        suite.run(Result())
    except Exception:
        rfile.write(json.dumps({"id": module_path, "outcome": "error",
                                "details": traceback.format_exc(), "duration": 0}) + "\n")
    rfile.close()
    return 0


class ModuleRun:
    def __init__(self, path, args, env):
        self.path = path
        self.name = os.path.basename(path)
        fd, self.results = tempfile.mkstemp(prefix="gzy-run-", suffix=".jsonl")
        os.close(fd)
        fd, self.log = tempfile.mkstemp(prefix="gzy-run-", suffix=".log")
        os.close(fd)
        cmd = [sys.executable, os.path.abspath(__file__), "--_worker", path,
               "--_results", self.results]
        if args.k:
            cmd += ["-k", args.k]
        self.logf = open(self.log, "wb")
        self.start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        self.timed_out = False

    def poll(self):
        if self.proc.poll() is not None:
            return True
        if time.monotonic() - self.start > MODULE_TIMEOUT_S:
            self.timed_out = True
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            return True
        return False

    def report(self, args, totals):
        elapsed = time.monotonic() - self.start
        self.logf.close()
        records = []
        with open(self.results, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    records.append(json.loads(line))
        with open(self.log, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        os.unlink(self.results)
        os.unlink(self.log)
        passed = sum(r["outcome"] == "pass" for r in records)
        skipped = sum(r["outcome"] == "skip" for r in records)
        failed_recs = [r for r in records if r["outcome"] in ("fail", "error")]
        extra = []
        if self.timed_out:
            extra.append("module timed out after %ds (killed)" % MODULE_TIMEOUT_S)
        elif self.proc.returncode != 0:
            extra.append("worker exited with status %s" % self.proc.returncode)
        failed = len(failed_recs) + len(extra)
        if not records and not extra:
            return  # nothing selected by -k
        totals.passed += passed
        totals.failed += failed
        totals.skipped += skipped
        summary = "%d passed, %d failed" % (passed, failed)
        if skipped:
            summary += ", %d skipped" % skipped
        out("[integration] %-26s %s  (%.1fs)" % (self.name, summary, elapsed))
        if args.verbose:
            for r in records:
                out("    %-5s %s (%.2fs)%s" % (r["outcome"], r["id"], r["duration"],
                                               ": " + r["details"].splitlines()[0]
                                               if r["outcome"] == "skip" and r["details"]
                                               else ""))
        for r in failed_recs:
            out("  %s: %s" % (r["outcome"].upper(), r["id"]))
            out(indent(r["details"][-12000:]))
        for e in extra:
            out("  FAIL %s: %s" % (self.name, e))
        if extra and log.strip():
            out("  --- worker output ---")
            out(indent(log[-8000:]))


def run_integration(args, totals):
    env = dict(os.environ)
    if not os.environ.get("GZY_TEST_ENDPOINT"):
        if args.san_build:
            binary, sanitized = os.path.join(args.san_build, "gzy"), True
        else:
            binary, sanitized = os.path.join(args.build, "gzy"), False
        binary = os.path.abspath(binary)
        if not os.path.isfile(binary):
            out("[integration] server binary %s does not exist" % binary)
            totals.failed += 1
            return
        env["GZY_BIN"] = binary
        env["GZY_SANITIZED"] = "1" if sanitized else "0"
        # the uninstrumented build, for tools that cannot run a sanitized one (valgrind)
        env["GZY_RELEASE_BIN"] = os.path.abspath(os.path.join(args.build, "gzy"))
        out("[integration] server: %s%s" % (binary, " (ASan+UBSan)" if sanitized else ""))
    else:
        out("[integration] external endpoint %s (gzy-only tests skipped)"
            % os.environ["GZY_TEST_ENDPOINT"])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    modules = sorted(glob.glob(os.path.join(args.integration_dir, "test_*.py")))
    # Start the longest modules first so that -j keeps both cores busy to the end.
    modules.sort(key=lambda m: (os.path.basename(m) not in SLOW_MODULES,
                                SLOW_MODULES.index(os.path.basename(m))
                                if os.path.basename(m) in SLOW_MODULES else 0, m))
    pending = list(modules)
    running = []
    try:
        while pending or running:
            while pending and len(running) < max(1, args.jobs):
                running.append(ModuleRun(pending.pop(0), args, env))
            done = [r for r in running if r.poll()]
            for r in done:
                running.remove(r)
                r.report(args, totals)
            if not done:
                time.sleep(0.05)
    finally:
        for r in running:  # interrupted: take the workers and their servers down
            try:
                os.killpg(r.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--san-build", default=None)
    ap.add_argument("--only", choices=("unit", "integration"))
    ap.add_argument("-k", default=None, help="only tests whose name contains SUBSTRING")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("GZY_TEST_JOBS", "2")),
                    help="integration modules run at once (default 2)")
    ap.add_argument("--integration-dir", default=INTEGRATION_DIR, help=argparse.SUPPRESS)
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    ap.add_argument("--_results", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._worker:
        return worker_main(args._worker, args._results, args.k, args.verbose)

    totals = Totals()
    start = time.monotonic()
    if args.only in (None, "unit"):
        run_units(args, totals)
    if args.only in (None, "integration"):
        run_integration(args, totals)
    out("total time %.1fs" % (time.monotonic() - start))
    out(totals.line())
    return 1 if totals.failed else 0


if __name__ == "__main__":
    sys.exit(main())
