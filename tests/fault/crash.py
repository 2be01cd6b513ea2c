#!/usr/bin/env python3
"""crash.py - crash-consistency harness for `gzy serve` (issue 6; README.md in this folder).

Each round: several client threads drive PUT (new keys and overwrites), DELETE, CopyObject
and multipart uploads (create, parts, complete, abort) against the server with SigV4-signed
raw HTTP requests; every answered request is recorded; at a random moment the server is
killed with SIGKILL (now and then a second time while it recovers), restarted on the same
data folder, and checked:

  * every key holds one of its allowed values, bytes (SHA-256), size, ETag, user metadata
    and Content-Type all from the same value (nothing torn, nothing mixed);
  * the allowed values of a key: the value of the last acknowledged (200) operation on it,
    plus the value of any operation on it whose answer never came (in flight at the kill, or
    refused with an error). DELETED counts as a value. Operations on one key are serialised
    by the harness (one at a time per key, a copy holds its source and destination), so
    "last acknowledged" is exact; after the check a key's allowed set becomes what was read;
  * listing agrees with GET, and the usage counters (GET /admin/v1/usage) equal the sum of
    the listed objects' stored sizes per bucket and for the tenant (an object encrypted at
    rest occupies its envelope: stored_size() of each body);
  * no orphan files in DATA/objects after start-up (every file has a `files` row in the
    index and every `files` row has its file);
  * every acknowledged part of an upload that was neither completed nor aborted is still
    listed with its ETag;
  * no sanitizer report in the server's stderr.

State accumulates across rounds on the same data. A failure raises CrashFailure naming the
round, the bucket/key and the evidence (what was read, what was allowed, the key's history).

  tests/fault/crash.py --rounds 500 [--threads 4] [--seed N] [--bin build/san/gzy] [-v]
      [--sse 0.3] [--time-budget SECONDS]
  tests/fault/crash.py --powerloss drop|keep-some|garble|mixed ...   (power loss instead
      of kill -9: only what was fsynced survives; README.md, "Power loss")
"""

import argparse
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness as h  # noqa: E402
import tenancy  # noqa: E402

MiB = 1024 * 1024
SSE_SEG = 64 * 1024  # plaintext bytes per segment of the encryption envelope
DELETED = "DELETED"
KEYS_PER_BUCKET = 12
KEY_NAMES = ["k%02d" % i for i in range(KEYS_PER_BUCKET - 3)] + \
            ["dir/sub/k-deep", "ключ/ü-utf8", "space key+plus"]
CONTENT_TYPES = ["application/octet-stream", "text/plain", "image/png", "application/json"]


class CrashFailure(AssertionError):
    pass


def stored_size(plain):
    """Bytes one body of `plain` plaintext bytes occupies encrypted at rest (docs/encryption.md,
    src/s3/sse_crypto.c s3__sse_stored_size): a 16-byte header, then each segment of up to
    64 KiB with its 16-byte tag; an empty body is one empty segment."""
    nseg = 1 if plain == 0 else (plain + SSE_SEG - 1) // SSE_SEG
    return 16 + plain + 16 * nseg


class Stop(Exception):
    """The server was killed: the thread stops issuing operations."""


class Value:
    """One possible content of a key: the bytes' SHA-256, MD5 and size, the ETag (one of
    `etags`), user metadata and Content-Type. `bodies`: the plaintext size of each body it is
    stored as (its parts, for a multipart upload; one otherwise: a copy is one body), which
    gives its stored size when it is encrypted at rest."""

    __slots__ = ("sha", "md5", "size", "etags", "meta", "ctype", "origin", "bodies")

    def __init__(self, sha, md5, size, etags, meta, ctype, origin, bodies=None):
        self.sha, self.md5, self.size = sha, md5, size
        self.bodies = tuple(bodies) if bodies is not None else (size,)
        self.etags = tuple(etags)  # a copy may keep the source's ETag or get the bytes' MD5
        self.meta = tuple(sorted(meta.items()))
        self.ctype = ctype
        self.origin = origin  # "r3 t1 put #57": which operation wrote it

    def stored(self, encrypted):
        """What it adds to the usage counters (bytes on disk)."""
        return sum(stored_size(n) for n in self.bodies) if encrypted else self.size

    @property
    def etag(self):
        return self.etags[0]

    def same(self, got):
        """Does got (a value read back, one ETag) match this allowed value in every part?"""
        return (self.sha, self.size, self.meta, self.ctype) == \
               (got.sha, got.size, got.meta, got.ctype) and got.etag in self.etags

    def __repr__(self):
        return "<%s sha256=%s.. size=%d etag=%s meta=%s type=%s>" % (
            self.origin, self.sha[:12], self.size, "|".join(self.etags), dict(self.meta),
            self.ctype)


def value_of(data, etag, meta, ctype, origin):
    return Value(hashlib.sha256(data).hexdigest(), h.md5_hex(data), len(data), [etag], meta,
                 ctype, origin)


class KeyState:
    def __init__(self, bucket, key):
        self.bucket, self.key = bucket, key
        self.lock = threading.Lock()
        self.possible = [DELETED]  # allowed values now
        self.encrypted = False     # at the last check: encrypted at rest
        self.inflight = None       # value of the operation waiting for its answer
        self.history = []          # recent events, for the evidence

    def log(self, text):
        self.history.append(text)
        del self.history[:-12]

    def single(self):
        return self.possible[0] if len(self.possible) == 1 else None


class Upload:
    """A multipart upload the harness created (its create was acknowledged)."""

    def __init__(self, bucket, key, upload_id):
        self.bucket, self.key, self.upload_id = bucket, key, upload_id
        self.parts = {}        # acknowledged: number -> ETag (quoted)
        self.maybe_gone = False  # a complete or abort was sent but not answered
        self.lock = threading.Lock()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}
        self.unknown = {}
        self.rounds = 0
        self.recovery_kills = 0
        self.fsck_runs = 0
        self.orphans_swept_max = 0
        self.checked_keys = 0

    def count(self, kind, acked):
        with self.lock:
            d = self.acked if acked else self.unknown
            d[kind] = d.get(kind, 0) + 1


POWERLOSS_DIR = os.path.join(HERE, "powerloss")
POWERLOSS_MODES = ("drop", "keep-some", "garble")


def powerloss_shim():
    """Builds (if missing or older than its source) and returns the path of the power-loss
    LD_PRELOAD shim, build/powerloss/powerloss.so of this checkout."""
    src = os.path.join(POWERLOSS_DIR, "powerloss.c")
    so = os.path.abspath(os.path.join(HERE, "..", "..", "build", "powerloss", "powerloss.so"))
    if not os.path.exists(so) or os.path.getmtime(so) < os.path.getmtime(src):
        p = subprocess.run(["make", "-s", "-C", POWERLOSS_DIR, "OUT=" + so],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise CrashFailure("building the power-loss shim failed:\n%s"
                               % p.stdout.decode("utf-8", "replace"))
    return so


def asan_runtime(binary):
    """The ASan runtime a sanitized binary links (it must come first in LD_PRELOAD), or
    None for an uninstrumented one."""
    p = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    for line in p.stdout.decode().splitlines():
        parts = line.split()
        if parts and parts[0].startswith("libasan.so") and len(parts) >= 3:
            return parts[2]
    return None


class PowerLossServer(h.GzyServer):
    """gzy under the power-loss shim (tests/fault/powerloss/powerloss.c) on its data folder.

    arm() arms the shim: the `after`-th mutating file call from then on loses power
    (SIGUSR1, GZY_POWERLOSS_AFTER); power_off() loses power now (SIGPWR), when the harness
    ends the load before that call came, or in the other rounds. Either way the shim throws
    away everything not fsynced and the process exits with 137. Each crash appends a JSON
    line to self.report_path."""

    def __init__(self, mode="drop", nosync=None, **kw):
        super().__init__(**kw)
        self.shim = powerloss_shim()
        self.mode = mode          # a POWERLOSS_MODES name, or "mixed" (one per start)
        self.nosync = nosync      # self-test: GZY_POWERLOSS_NOSYNC
        self.report_path = os.path.join(self.tmp, "powerloss.jsonl")
        self.rng = random.Random()
        self.next_at = 0          # GZY_POWERLOSS_AT of the next start (0: none)
        self.after = 1 << 40      # GZY_POWERLOSS_AFTER of the next start
        asan = asan_runtime(self.bin)
        self.preload = ((asan + " ") if asan else "") + self.shim

    def _env(self):
        env = super()._env()
        env["LD_PRELOAD"] = self.preload
        env["GZY_POWERLOSS_DIR"] = self.data_dir
        env["GZY_POWERLOSS_REPORT"] = self.report_path
        mode = self.mode if self.mode != "mixed" else self.rng.choice(POWERLOSS_MODES)
        env["GZY_POWERLOSS_MODE"] = mode
        env["GZY_POWERLOSS_SEED"] = str(self.rng.randrange(1, 1 << 62))
        env["GZY_POWERLOSS_AFTER"] = str(self.after)
        if self.next_at:
            env["GZY_POWERLOSS_AT"] = str(self.next_at)
        if self.nosync:
            env["GZY_POWERLOSS_NOSYNC"] = self.nosync
        if self.sanitized:
            # ASan's own check that it is first in the library list stays on.
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=1"
        return env

    def arm(self):
        """The GZY_POWERLOSS_AFTER-th mutating call from now on loses power."""
        self.proc.send_signal(signal.SIGUSR1)

    def power_off(self, proc=None):
        """Power loss now (SIGPWR); waits for the exit. Returns the exit status."""
        proc = proc or self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGPWR)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise CrashFailure("the power-loss shim did not end gzy within 60 s of SIGPWR")
        if proc is self.proc:
            self.proc = None
        return proc.returncode

    def reports(self):
        try:
            with open(self.report_path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []


def _meta_headers(meta):
    return {"x-amz-meta-" + k: v for k, v in meta.items()}


class Harness:
    def __init__(self, rounds=50, threads=4, seed=None, min_load=0.05, max_load=0.5,
                 recovery_kill_every=8, fsck_every=0, verbose=False, out=None, server=None,
                 sabotage=None, sse=0.0, check_usage=True, powerloss=False, max_calls=800):
        self.rounds = rounds
        self.threads = threads
        self.seed = seed if seed is not None else random.randrange(1 << 30)
        self.rng = random.Random(self.seed)
        self.min_load, self.max_load = min_load, max_load
        self.recovery_kill_every = recovery_kill_every
        self.fsck_every = fsck_every
        self.sabotage = sabotage  # (round, kind): damage the data after that round's kill
        self.sabotaged = None     # (bucket, key) damaged
        self.sse = sse            # fraction of PUTs and uploads encrypted at rest
        self.usage_checked = check_usage
        # Power-loss mode (server is a PowerLossServer): half of the rounds lose power at
        # the Nth mutating file call after the load starts (N in 1..max_calls), the others
        # (and those whose Nth call did not come) at a random moment (SIGPWR).
        self.powerloss = powerloss
        self.max_calls = max_calls
        self.early_power_offs = 0  # SIGPWR before the shim was set up (no report line)
        self.verbose = verbose
        self.out = out or (lambda s: print(s, flush=True))
        self.server = server or h.GzyServer(threads=2)
        self.stats = Stats()
        self.keys = {}
        self.uploads = {}
        self.uploads_lock = threading.Lock()
        self.killed = threading.Event()
        self.round = 0
        self.seq = 0
        self.seq_lock = threading.Lock()
        self.errors = []  # unexpected HTTP answers while the server was alive
        tag = "%08x" % (self.seed & 0xFFFFFFFF)
        self.buckets = ["crash-a-" + tag, "crash-b-" + tag]
        self.big = os.urandom(5 * MiB)  # the 5 MiB first part of two-part uploads (+ a salt)

    # ---- set-up ----

    def start(self):
        if self.powerloss:
            self.server.rng.seed(self.seed)
            self.server.after = self.rng.randint(1, self.max_calls)
        self.server.start()
        for b in self.buckets:
            r = self.server.request("PUT", "/" + b)
            if r.status != 200:
                raise CrashFailure("CreateBucket %s: %r" % (b, r))
            for k in KEY_NAMES:
                self.keys[(b, k)] = KeyState(b, k)
        return self

    def close(self):
        self.server.close()

    # ---- one request ----

    def _next_seq(self):
        with self.seq_lock:
            self.seq += 1
            return self.seq

    def request(self, method, bucket, key=None, query=(), headers=None, body=b""):
        """Sends one signed request. Returns the RawResponse, or raises Stop when no answer
        came (the server is down)."""
        path = "/" + bucket + ("/" + key if key is not None else "")
        try:
            return self.server.request(method, path, query=query, headers=headers or {},
                                       body=body)
        except (OSError, ValueError, ConnectionError) as e:
            if not self.killed.is_set():
                # The kill signal may be on its way: wait for the flag a moment.
                self.killed.wait(2.0)
            if not self.killed.is_set():
                self.errors.append("r%d: %s %s: no answer while the server was up: %r"
                                   % (self.round, method, path, e))
            raise Stop()

    def unexpected(self, what, resp):
        if not self.killed.is_set():
            self.errors.append("r%d: %s: HTTP %d %s %r" % (self.round, what, resp.status,
                                                          resp.error_code, resp.body[:200]))

    # ---- operations (each holds the locks of the keys it touches) ----

    def _body(self, rng):
        r = rng.random()
        if r < 0.05:
            return b""
        if r < 0.25:
            return os.urandom(rng.randint(1, 100))
        if r < 0.50:
            return os.urandom(rng.randint(1000, 60000))
        if r < 0.55:
            return os.urandom(rng.choice([65535, 65536, 65537]))
        if r < 0.92:
            return os.urandom(rng.randint(70000, 300000))
        return os.urandom(rng.randint(MiB, 2 * MiB))

    def _write(self, ks, kind, value, send):
        """Runs send() as the operation that would make ks hold value."""
        ks.inflight = value
        ks.log("%s %s sent" % (kind, value.origin if value is not DELETED else "delete"))
        try:
            resp = send()
        except Stop:
            ks.log("%s: no answer (in flight at the kill)" % kind)
            self.stats.count(kind, False)
            raise
        if resp.status in (200, 204):
            ks.possible = [value]
            ks.inflight = None
            ks.log("%s acknowledged" % kind)
            self.stats.count(kind, True)
            return resp
        ks.log("%s answered %d %s" % (kind, resp.status, resp.error_code))
        self.stats.count(kind, False)
        self.unexpected("%s %s/%s" % (kind, ks.bucket, ks.key), resp)
        ks.possible.append(value)  # an error answer: maybe applied, maybe not
        ks.inflight = None
        return resp

    def op_put(self, rng, tid, ks):
        data = self._body(rng)
        origin = "r%d t%d put #%d" % (self.round, tid, self._next_seq())
        meta = {"v": origin.replace(" ", "_").replace("#", ""), "t": str(tid)}
        ctype = rng.choice(CONTENT_TYPES)
        value = value_of(data, h.md5_hex(data), meta, ctype, origin)
        headers = dict(_meta_headers(meta))
        headers["Content-Type"] = ctype
        self._sse_maybe(rng, headers)
        self._write(ks, "put", value,
                    lambda: self.request("PUT", ks.bucket, ks.key, headers=headers, body=data))

    def op_delete(self, rng, tid, ks):
        resp = self._write(ks, "delete", DELETED,
                           lambda: self.request("DELETE", ks.bucket, ks.key))
        return resp

    def op_copy(self, rng, tid, src, dst):
        sv = src.single()
        if sv is None or sv is DELETED:
            return
        origin = "r%d t%d copy #%d from %s/%s" % (self.round, tid, self._next_seq(), src.bucket,
                                                  src.key)
        headers = {"x-amz-copy-source": "/%s/%s" % (src.bucket, h.uri_encode(src.key, False))}
        # gzy shares the source's files and keeps its ETag; a copy that rewrites the bytes
        # (an encrypted source) gets the MD5 of the bytes, as S3 does for a one-part copy.
        etags = [sv.etag] + ([sv.md5] if sv.md5 != sv.etag else [])
        if rng.random() < 0.5:
            value = Value(sv.sha, sv.md5, sv.size, etags, dict(sv.meta), sv.ctype, origin)
        else:
            meta = {"v": "copy%d" % self.seq, "c": "1"}
            ctype = rng.choice(CONTENT_TYPES)
            headers.update(_meta_headers(meta))
            headers["x-amz-metadata-directive"] = "REPLACE"
            headers["Content-Type"] = ctype
            value = Value(sv.sha, sv.md5, sv.size, etags, meta, ctype, origin)
        src.log("source of %s" % origin)
        resp = self._write(dst, "copy", value,
                           lambda: self.request("PUT", dst.bucket, dst.key, headers=headers))
        if resp.status == 200 and b"<Error>" in resp.body:
            raise CrashFailure("CopyObject answered 200 with an error body: %r" % resp.body)

    def _sse_maybe(self, rng, headers):
        if self.sse and rng.random() < self.sse:
            headers["x-amz-server-side-encryption"] = rng.choice(["AES256", "SM4"])

    def _upload_create(self, ks, meta, ctype, rng):
        headers = dict(_meta_headers(meta))
        headers["Content-Type"] = ctype
        self._sse_maybe(rng, headers)
        resp = self.request("POST", ks.bucket, ks.key, query=[("uploads", "")], headers=headers)
        if resp.status != 200:
            self.unexpected("CreateMultipartUpload", resp)
            return None
        uid = h.xml_strip_ns(resp.body).findtext("UploadId")
        up = Upload(ks.bucket, ks.key, uid)
        with self.uploads_lock:
            self.uploads[uid] = up
        self.stats.count("mpu-create", True)
        return up

    def _upload_part(self, up, num, data):
        resp = self.request("PUT", up.bucket, up.key,
                            query=[("partNumber", str(num)), ("uploadId", up.upload_id)],
                            body=data)
        if resp.status != 200:
            self.unexpected("UploadPart", resp)
            return False
        etag = resp.headers.get("etag", "")
        if etag.strip('"') != h.md5_hex(data):
            raise CrashFailure("UploadPart %s/%s #%d: ETag %s, want %s"
                               % (up.bucket, up.key, num, etag, h.md5_hex(data)))
        with up.lock:
            up.parts[num] = etag
        self.stats.count("mpu-part", True)
        return True

    def op_multipart(self, rng, tid, ks):
        origin = "r%d t%d multipart #%d" % (self.round, tid, self._next_seq())
        meta = {"v": origin.replace(" ", "_").replace("#", ""), "mp": "1"}
        ctype = rng.choice(CONTENT_TYPES)
        up = self._upload_create(ks, meta, ctype, rng)
        if up is None:
            return
        if rng.random() < 0.2:
            salt = os.urandom(16)
            parts = [salt + self.big[16:], os.urandom(rng.randint(1, 100000))]
        else:
            parts = [os.urandom(rng.randint(1, 300000))]
        for n, data in enumerate(parts, 1):
            if not self._upload_part(up, n, data):
                return
        if rng.random() < 0.15:
            return  # left pending: its parts must survive every crash until it is aborted
        body = "<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(
            "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (n, up.parts[n])
            for n in range(1, len(parts) + 1))
        whole = b"".join(parts)
        value = Value(hashlib.sha256(whole).hexdigest(), h.md5_hex(whole), len(whole),
                      [h.multipart_etag(parts).strip('"')], meta, ctype, origin,
                      bodies=[len(p) for p in parts])
        up.maybe_gone = True
        resp = self._write(ks, "mpu-complete", value, lambda: self.request(
            "POST", ks.bucket, ks.key, query=[("uploadId", up.upload_id)], body=body.encode()))
        if resp.status == 200 and b"<Error>" in resp.body:
            raise CrashFailure("CompleteMultipartUpload answered 200 with an error: %r"
                               % resp.body)
        if resp.status == 200:
            with self.uploads_lock:
                self.uploads.pop(up.upload_id, None)

    def op_abort(self, rng, tid):
        with self.uploads_lock:
            pending = [u for u in self.uploads.values() if not u.maybe_gone]
            if not pending:
                return
            up = rng.choice(pending)
            ks = self.keys[(up.bucket, up.key)]
            if not ks.lock.acquire(blocking=False):
                return
        try:
            up.maybe_gone = True
            resp = self.request("DELETE", up.bucket, up.key, query=[("uploadId", up.upload_id)])
            if resp.status == 204:
                with self.uploads_lock:
                    self.uploads.pop(up.upload_id, None)
                self.stats.count("mpu-abort", True)
            else:
                self.unexpected("AbortMultipartUpload", resp)
        finally:
            ks.lock.release()

    def _lock_one(self, rng):
        for _ in range(8):
            ks = self.keys[rng.choice(list(self.keys))]
            if ks.lock.acquire(blocking=False):
                return ks
        return None

    def one_op(self, rng, tid):
        r = rng.random()
        # Aborts keep the pending uploads (left on purpose, or cut off by a kill) few.
        if r < 0.03 or (len(self.uploads) > 8 and rng.random() < 0.3):
            return self.op_abort(rng, tid)
        ks = self._lock_one(rng)
        if ks is None:
            time.sleep(0.001)
            return
        try:
            if r < 0.50:
                self.op_put(rng, tid, ks)
            elif r < 0.65:
                self.op_delete(rng, tid, ks)
            elif r < 0.85:
                src = self._lock_one(rng)
                if src is None:
                    return
                try:
                    if src is not ks:
                        self.op_copy(rng, tid, src, ks)
                finally:
                    src.lock.release()
            else:
                self.op_multipart(rng, tid, ks)
        finally:
            ks.lock.release()

    def worker(self, tid, seed):
        rng = random.Random(seed)
        try:
            while not self.killed.is_set():
                self.one_op(rng, tid)
        except Stop:
            pass
        except CrashFailure as e:
            self.errors.append(str(e))
        except Exception as e:  # a harness bug must not pass as a clean round
            self.errors.append("r%d t%d: %r" % (self.round, tid, e))

    # ---- the round ----

    def kill_during_recovery(self):
        """Starts the server on the data and kills it after a few milliseconds (in the
        middle of opening the index, the orphan sweep, or the listener start-up)."""
        srv = self.server
        cmd = [srv.bin, "serve", "--data", srv.data_dir, "--listen", "127.0.0.1:0",
               "--admin-listen", "127.0.0.1:0", "--threads", "1"]
        if self.powerloss:
            srv.next_at = self.rng.randint(1, 60)  # a power loss while it recovers
        try:
            with open(srv.stdout_path, "ab") as o, open(srv.stderr_path, "ab") as e:
                p = subprocess.Popen(cmd, stdout=o, stderr=e, stdin=subprocess.DEVNULL,
                                     env=srv._env())
        finally:
            if self.powerloss:
                srv.next_at = 0
        time.sleep(self.rng.uniform(0.0, 0.15))
        if self.powerloss:
            rc = srv.power_off(p)
            # -SIGPWR: the signal came before the shim's constructor set its handler, i.e.
            # before gzy did anything: a power loss at the very start.
            if rc == -signal.SIGPWR:
                self.early_power_offs += 1
            elif rc != 137:
                self.fail("gzy under the power-loss shim, started on the crashed data, exited"
                          " with %s, not 137" % rc, extra=srv.logs(3000))
        else:
            p.send_signal(signal.SIGKILL)
            p.wait()
        self.stats.recovery_kills += 1

    def power_loss_during_load(self):
        srv = self.server
        proc = srv.proc
        deadline = time.monotonic() + self.rng.uniform(self.min_load, self.max_load)
        if self.rng.random() < 0.5:
            srv.arm()
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.005)
        if proc.poll() is not None:
            self.killed.set()  # clients stop at once: no "no answer while up" noise
        rc = srv.power_off(proc)
        if rc != 137:
            self.fail("gzy under the power-loss shim exited with %s, not 137 (the shim's"
                      " power loss)" % rc, extra=srv.logs(3000))

    def load_and_kill(self):
        self.killed.clear()
        workers = [threading.Thread(target=self.worker, args=(i, self.rng.randrange(1 << 30)),
                                    daemon=True) for i in range(self.threads)]
        for w in workers:
            w.start()
        if self.powerloss:
            self.power_loss_during_load()
        else:
            time.sleep(self.rng.uniform(self.min_load, self.max_load))
            self.server.kill9()
        self.killed.set()
        for w in workers:
            w.join(60)
            if w.is_alive():
                raise CrashFailure("r%d: a client thread did not stop after the kill"
                                   % self.round)
        for ks in self.keys.values():
            if ks.inflight is not None:
                if not any(v is ks.inflight for v in ks.possible):
                    ks.possible.append(ks.inflight)
                ks.inflight = None

    def run_round(self):
        self.round += 1
        self.load_and_kill()
        if self.errors:
            raise CrashFailure("round %d: unexpected answers before the kill:\n  %s"
                               % (self.round, "\n  ".join(self.errors[:10])))
        if self.recovery_kill_every and self.round % self.recovery_kill_every == 0:
            self.kill_during_recovery()
        if self.fsck_every and self.round % self.fsck_every == 0:
            self.fsck_repair_crashed()
        if self.sabotage and self.sabotage[0] == self.round:
            self.damage(self.sabotage[1])
        if self.powerloss:
            self.server.after = self.rng.randint(1, self.max_calls)
        try:
            self.server.start(port=self.server.port)
        except CrashFailure:
            raise
        except AssertionError as e:  # refused to start (e.g. an index lost beside its bodies)
            self.server.proc = None
            raise CrashFailure("round %d: the server refused to start after the crash:\n%s"
                               % (self.round, e)) from e
        self.verify()
        self.stats.rounds += 1

    def run(self, time_budget=None, min_rounds=None):
        """Runs the rounds; returns the stats. Raises CrashFailure. With time_budget (seconds),
        no round starts once it is spent (rounds are short: a round never starts past the
        budget, so the run ends at most one round after it); with min_rounds too, fewer rounds
        than that by then is a failure (the run was not bounded in time)."""
        t0 = time.monotonic()
        self.out("crash harness: seed %d, %d rounds, %d threads, server %s%s%s"
                 % (self.seed, self.rounds, self.threads, self.server.bin,
                    ", %.0f%% of writes encrypted at rest" % (100 * self.sse) if self.sse else "",
                    ", time budget %.0fs" % time_budget if time_budget is not None else ""))
        for _ in range(self.rounds):
            rt = time.monotonic()
            self.run_round()
            if self.verbose:
                self.out("round %d ok (%.2fs): %d keys present" % (
                    self.round, time.monotonic() - rt,
                    sum(1 for k in self.keys.values() if k.possible[0] is not DELETED)))
            if time_budget is not None and time.monotonic() - t0 > time_budget:
                break
        self.elapsed = time.monotonic() - t0
        self.out(self.summary())
        if min_rounds is not None and self.stats.rounds < min_rounds:
            raise CrashFailure("only %d rounds of at least %d ran within the time budget of"
                               " %.0fs (%s)" % (self.stats.rounds, min_rounds, time_budget,
                                                self.summary()))
        return self.stats

    def summary(self):
        s = self.stats
        present = sum(1 for k in self.keys.values() if k.possible[0] is not DELETED)
        return ("crash harness: %d rounds in %.1fs (seed %d): acknowledged %s; in flight at a"
                " kill %s; %d kills during recovery, %d offline fsck --repair runs; %d keys"
                " checked, %d present at the end, %d uploads pending"
                % (s.rounds, self.elapsed, self.seed, json.dumps(s.acked, sort_keys=True),
                   json.dumps(s.unknown, sort_keys=True), s.recovery_kills, s.fsck_runs,
                   s.checked_keys, present, len(self.uploads))) + self.powerloss_summary()

    def powerloss_stats(self):
        """Totals over the shim's crash reports: {"crashes", "at", "signal",
        "bytes_dropped", "ns_undone", "sectors_garbled", "blocks_restored"}."""
        tot = dict.fromkeys(("crashes", "at", "signal", "bytes_dropped", "ns_undone",
                             "sectors_garbled", "blocks_restored"), 0)
        for r in self.server.reports():
            if r["event"] == "exit":
                continue
            tot["crashes"] += 1
            tot[r["event"]] += 1
            for k in ("bytes_dropped", "ns_undone", "sectors_garbled", "blocks_restored"):
                tot[k] += r[k]
        return tot

    def powerloss_summary(self):
        if not self.powerloss:
            return ""
        t = self.powerloss_stats()
        return ("; power losses (%s): %d (%d at the Nth file call, %d by SIGPWR), %d unsynced"
                " bytes dropped, %d sectors garbled, %d name operations undone"
                % (self.server.mode, t["crashes"], t["at"], t["signal"], t["bytes_dropped"],
                   t["sectors_garbled"], t["ns_undone"]))

    # ---- self-test: damage the stopped server's data (the checks must notice) ----

    def damage(self, kind):
        """kind: 'flip' a byte of a file-backed object, 'lose' an object's index row, or
        tamper a bucket's 'usage' counter. Used by test_fault_crash.py to prove the checks
        can fail."""
        db = sqlite3.connect(os.path.join(self.server.data_dir, "index.db"), timeout=30)
        try:
            if kind == "usage":
                db.execute("UPDATE buckets SET bytes=bytes+1 WHERE name=?",
                           (self.buckets[0].encode(),))
                db.commit()
                self.sabotaged = (self.buckets[0], None)
                return
            for ks in sorted(self.keys.values(), key=lambda k: (k.bucket, k.key)):
                v = ks.single()
                if v is None or v is DELETED or v.size < 70000:
                    continue
                bid = db.execute("SELECT id FROM buckets WHERE name=?",
                                 (ks.bucket.encode(),)).fetchone()[0]
                kb = ks.key.encode()
                if kind == "lose":
                    db.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bid, kb))
                    db.commit()
                else:
                    row = db.execute("SELECT file FROM objects WHERE bucket=? AND key=? AND"
                                     " file IS NOT NULL UNION ALL SELECT file FROM object_parts"
                                     " WHERE bucket=? AND key=?", (bid, kb, bid, kb)).fetchone()
                    fid = bytes(row[0]).hex()
                    path = os.path.join(self.server.data_dir, "objects", fid[:2], fid)
                    with open(path, "r+b") as f:
                        f.seek(1000)
                        c = f.read(1)
                        f.seek(1000)
                        f.write(bytes([c[0] ^ 0x20]))
                self.sabotaged = (ks.bucket, ks.key)
                return
            raise CrashFailure("no file-backed object to damage (harness self-test)")
        finally:
            db.close()

    # ---- checks ----

    def fail(self, what, ks=None, extra=""):
        text = "round %d (seed %d): %s" % (self.round, self.seed, what)
        if ks is not None:
            text += "\n  key %s/%s\n  allowed: %s\n  history:\n    %s" % (
                ks.bucket, ks.key, ks.possible, "\n    ".join(ks.history))
        if extra:
            text += "\n" + extra
        raise CrashFailure(text)

    def fsck_repair_crashed(self):
        """gzy fsck --repair on the data of the killed server: at most orphans (bodies of
        writes in flight) may be found; the restart that follows must still find every
        acknowledged write."""
        srv = self.server
        p = tenancy.run_gzy("fsck", "--data", srv.data_dir, "--repair", "--no-content",
                            "--json", check=False)
        self.stats.fsck_runs += 1
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            self.fail("gzy fsck printed no JSON (exit %d): %s %s"
                      % (p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        bad = [x for x in doc["problems"] if x["kind"] != "orphan" or not x["repaired"]]
        if p.returncode not in (0, 1) or bad:
            self.fail("gzy fsck --repair after a kill -9 found more than orphans (exit %d):\n%s"
                      % (p.returncode, json.dumps(bad or doc, indent=1)[:6000]))

    def check_orphans(self):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.server.data_dir, "index.db"),
                             uri=True, timeout=30)
        try:
            rows = {bytes(r[0]).hex() for r in db.execute("SELECT id FROM files")}
        finally:
            db.close()
        on_disk = set()
        objdir = os.path.join(self.server.data_dir, "objects")
        for sub in os.listdir(objdir):
            for name in os.listdir(os.path.join(objdir, sub)):
                on_disk.add(name)
        orphans = sorted(on_disk - rows)
        missing = sorted(rows - on_disk)
        if orphans or missing:
            self.fail("after start-up, objects/ holds %d files no index row names %s and"
                      " misses %d files the index names %s"
                      % (len(orphans), orphans[:5], len(missing), missing[:5]),
                      extra=self.server.logs(2000))

    def list_bucket(self, bucket):
        s3 = self.s3
        listed = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                listed[o["Key"]] = (o["Size"], o["ETag"].strip('"'))
        return listed

    def read_value(self, ks):
        try:
            resp = self.server.request("GET", "/%s/%s" % (ks.bucket, ks.key))
        except (OSError, ValueError, ConnectionError) as e:
            # e.g. a body file shorter than its row: the answer breaks off after the headers
            self.fail("GET got no complete answer: %r" % e, ks, extra=self.server.logs(2000))
        if resp.status == 404 and resp.error_code == "NoSuchKey":
            return DELETED, resp
        if resp.status != 200:
            self.fail("GET answered %d %s" % (resp.status, resp.error_code), ks)
        meta = {k[len("x-amz-meta-"):]: v for k, v in resp.headers.items()
                if k.startswith("x-amz-meta-")}
        got = value_of(resp.body, resp.headers.get("etag", "").strip('"'), meta,
                       resp.headers.get("content-type"), "read in round %d" % self.round)
        return got, resp

    def check_key(self, ks, listed):
        got, resp = self.read_value(ks)
        self.stats.checked_keys += 1
        if got is DELETED:
            if ks.key in listed:
                self.fail("listed (%r) but GET says NoSuchKey" % (listed[ks.key],), ks)
            if DELETED not in ks.possible:
                self.fail("acknowledged write lost: the key is gone", ks)
            ks.possible = [DELETED]
            ks.log("round %d check: absent" % self.round)
            return 0, 0
        if ks.key not in listed:
            self.fail("GET finds %r but the listing does not show the key" % got, ks)
        match = [v for v in ks.possible if v is not DELETED and v.same(got)]
        if not match:
            self.fail("holds a value that is not allowed (torn, stale or resurrected): %r"
                      % got, ks)
        if listed[ks.key] != (got.size, got.etag):
            self.fail("listing says size/ETag %r, GET %r" % (listed[ks.key], (got.size, got.etag)),
                      ks)
        got.origin = match[0].origin
        got.bodies = match[0].bodies
        ks.possible = [got]
        ks.log("round %d check: %s" % (self.round, got.origin))
        # Usage counts stored bytes: an object encrypted at rest occupies its envelope.
        ks.encrypted = bool(resp.headers.get("x-amz-server-side-encryption"))
        return got.stored(ks.encrypted), 1

    def check_usage(self, totals):
        resp = tenancy.admin_request(self.server, "GET", "/admin/v1/usage")
        if resp.status != 200:
            self.fail("GET /admin/v1/usage: %r" % resp)
        seen = {}
        tenant_sum = {}
        for t in resp.json.get("tenants", []):
            for b in t.get("buckets", []):
                if b["name"] in totals:
                    seen[b["name"]] = (b["bytes"], b["objects"])
                    tenant_sum[t["name"]] = (t["bytes"], t["objects"])
        want_total = [0, 0]
        for b, (nbytes, nobj) in totals.items():
            want_total[0] += nbytes
            want_total[1] += nobj
            if seen.get(b) != (nbytes, nobj):
                self.fail("usage of bucket %s is %r; the listed objects' stored sizes add up"
                          " to %r"
                          % (b, seen.get(b), (nbytes, nobj)),
                          extra=json.dumps(resp.json, indent=1)[:3000])
        if len(tenant_sum) == 1:  # our buckets are the tenant's only buckets
            t = list(tenant_sum.values())[0]
            if list(t) != want_total:
                self.fail("tenant usage %r; the listed objects add up to %r" % (t, want_total))

    def check_uploads(self):
        s3 = self.s3
        live = {}
        for b in self.buckets:
            for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=b):
                for u in page.get("Uploads", []):
                    live[u["UploadId"]] = (b, u["Key"])
        with self.uploads_lock:
            tracked = list(self.uploads.values())
        for up in tracked:
            if up.upload_id not in live:
                if not up.maybe_gone:
                    self.fail("multipart upload %s of %s/%s (created and acknowledged, never"
                              " completed nor aborted) is gone" % (up.upload_id, up.bucket,
                                                                   up.key))
                with self.uploads_lock:
                    self.uploads.pop(up.upload_id, None)
                continue
            up.maybe_gone = False
            parts = {}
            for page in s3.get_paginator("list_parts").paginate(
                    Bucket=up.bucket, Key=up.key, UploadId=up.upload_id):
                for p in page.get("Parts", []):
                    parts[p["PartNumber"]] = p["ETag"]
            for num, etag in up.parts.items():
                if parts.get(num) != etag:
                    self.fail("acknowledged part %d (ETag %s) of upload %s of %s/%s: listed %r"
                              % (num, etag, up.upload_id, up.bucket, up.key, parts.get(num)))
        # Uploads whose create was in flight at a kill are unknown to us: abort them.
        for uid, (b, k) in live.items():
            if uid not in self.uploads:
                r = self.server.request("DELETE", "/%s/%s" % (b, k), query=[("uploadId", uid)])
                if r.status != 204:
                    self.fail("aborting unknown upload %s: %r" % (uid, r))

    def verify(self):
        report = self.server.sanitizer_report()
        if report:
            self.fail("sanitizer report in the server's stderr", extra=report)
        # The audit log must come through a crash or a power loss as a valid chain: a
        # "chain broken" at start-up would be a false tampering alarm.
        log = self.server.stderr_text()
        if "chain broken" in log:
            at = log.index("chain broken")
            self.fail("the audit chain did not survive the crash", extra=log[at - 200:at + 400])
        self.check_orphans()
        self.s3 = self.server.client()  # one per round: the old one's connections are dead
        totals = {}
        for b in self.buckets:
            listed = self.list_bucket(b)
            unknown = set(listed) - {k for (bb, k) in self.keys if bb == b}
            if unknown:
                self.fail("bucket %s lists keys nobody wrote: %s" % (b, sorted(unknown)))
            nbytes = nobj = 0
            for k in KEY_NAMES:
                size, count = self.check_key(self.keys[(b, k)], listed)
                nbytes += size
                nobj += count
            totals[b] = (nbytes, nobj)
        if self.usage_checked:
            self.check_usage(totals)
        self.check_uploads()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--bin", default=os.environ.get("GZY_BIN", "build/san/gzy"),
                    help="the gzy binary (default $GZY_BIN, else build/san/gzy)")
    ap.add_argument("--min-load", type=float, default=0.05, help="seconds of load, at least")
    ap.add_argument("--max-load", type=float, default=0.5, help="seconds of load, at most")
    ap.add_argument("--recovery-kill-every", type=int, default=8,
                    help="every Nth round also kills the restarting server (0 = never)")
    ap.add_argument("--fsck-every", type=int, default=10,
                    help="every Nth round runs gzy fsck --repair on the killed server's data"
                         " before the restart (0 = never)")
    ap.add_argument("--sse", type=float, default=0.0,
                    help="fraction of PUTs and multipart uploads encrypted at rest (AES256 or"
                         " SM4); 0 by default")
    ap.add_argument("--no-usage-check", action="store_true",
                    help="skip the usage counter check")
    ap.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                    help="start no round after SECONDS; fail if fewer than --rounds ran")
    ap.add_argument("--powerloss", metavar="MODE", default=None,
                    choices=POWERLOSS_MODES + ("mixed",),
                    help="simulate power losses instead of kill -9 (the LD_PRELOAD shim in"
                         " tests/fault/powerloss): drop, keep-some, garble or mixed")
    ap.add_argument("--max-calls", type=int, default=800,
                    help="power-loss mode: lose power at the Nth mutating file call, N in"
                         " 1..MAX (half of the rounds)")
    ap.add_argument("--nosync", default=None, metavar="TEXT",
                    help="power-loss self-test: ignore the fsyncs of files whose path contains"
                         " TEXT (e.g. objects/): the run must fail")
    ap.add_argument("--keep", action="store_true", help="keep the data folder")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    os.environ["GZY_BIN"] = os.path.abspath(args.bin)
    if "san" in args.bin and "GZY_SANITIZED" not in os.environ:
        os.environ["GZY_SANITIZED"] = "1"
    if args.keep:
        os.environ["GZY_KEEP_TMP"] = "1"
    if args.powerloss:
        server = PowerLossServer(mode=args.powerloss, nosync=args.nosync, threads=2)
    else:
        server = h.GzyServer(threads=2)
    hr = Harness(rounds=args.rounds, threads=args.threads, seed=args.seed,
                 min_load=args.min_load, max_load=args.max_load,
                 recovery_kill_every=args.recovery_kill_every, fsck_every=args.fsck_every,
                 verbose=args.verbose, server=server, sse=args.sse,
                 check_usage=not args.no_usage_check, powerloss=bool(args.powerloss),
                 max_calls=args.max_calls)
    rc = 0
    try:
        hr.start()
        hr.run(time_budget=args.time_budget,
               min_rounds=args.rounds if args.time_budget is not None else None)
        hr.server.stop()
        p = tenancy.run_gzy("fsck", "--data", hr.server.data_dir, check=False)
        print(p.stdout.strip())
        if p.returncode != 0:
            print("FAIL: gzy fsck after the last round exited %d\n%s" % (p.returncode, p.stderr))
            rc = 1
    except CrashFailure as e:
        print("FAIL: %s" % e)
        rc = 1
    finally:
        if args.keep:
            print("data kept in %s" % hr.server.data_dir)
        try:
            hr.close()
        except AssertionError as e:
            print("FAIL: %s" % e)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
