"""Hostile raw HTTP requests (issue 6): runs every tests/cases/*.case against one server.

Each case is sent as exact bytes over a fresh socket; its status and S3 error code are checked,
then the server must still serve (a signed GET of the sentinel objects returns their bytes) and
no stored data may have changed beyond what the case's `expect-change:` lines name: sentinel
checksums, the bucket list, the listing of every bucket (keys, sizes, ETags), every object file
under DATA/objects (its bytes), and no new file outside DATA/objects (a write that escaped the
store would land there or beside the data folder). All failing cases are reported at once.
The format is described in tests/cases/README.md. Cases in tests/cases/known-failures/ are known
server bugs and only run with GZY_CASES_KNOWN=1 (they are expected to fail until fixed).

  GZY_CASES=substring       run only cases whose file name contains it
  GZY_CASES_PROBE=1         print what the server answered for every case (writing cases)
"""

import glob
import hashlib
import os
import re
import socket
import unittest
import urllib.parse

import harness as h

CASES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cases")
SENTINEL_BUCKET = "sentinel-cases"
SENTINELS = {"a.txt": 1000, "dir/b.bin": 70000}
CASE_TIMEOUT_S = 10.0
HEADER_KEYS = ("name", "expect-status", "expect-code", "sign", "setup", "note", "expect-change")
# files outside DATA/objects that come and go on their own (WAL, audit log, job journal)
VOLATILE = re.compile(r"(-wal|-shm|-journal|\.log|\.tmp\.[0-9a-f]+)$|^data/(audit|migrate)/")


class CaseError(Exception):
    pass


def _unescape(text):
    """Expands \\r \\n \\t \\xHH \\\\ in text (a str of code points < 256) to bytes."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n in "rnt\\":
                out += {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}[n]
                i += 2
                continue
            if n == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2:i + 4]):
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
        out += c.encode("latin-1")
        i += 1
    return bytes(out)


def _expand_repeat(text):
    def rep(m):
        return m.group(1) * int(m.group(2))
    def numbered(m):
        return "".join(m.group(1).replace("{n}", str(i)) for i in range(1, int(m.group(2)) + 1))
    text = re.sub(r"\{\{numbered:(.*?):(\d+)\}\}", numbered, text)
    return re.sub(r"\{\{repeat:(.*?):(\d+)\}\}", rep, text)


def _parse_change(path, value):
    """'put BUCKET/KEY SIZE' or 'delete BUCKET/KEY' -> (kind, bucket, key, size)."""
    kind, _, rest = value.partition(" ")
    if kind == "put":
        target, _, size = rest.strip().rpartition(" ")
    elif kind == "delete":
        target, size = rest.strip(), None
    else:
        raise CaseError("%s: expect-change %r: put or delete" % (path, value))
    bucket, _, key = target.partition("/")
    if not bucket or not key or (size is not None and not size.isdigit()):
        raise CaseError("%s: expect-change %r" % (path, value))
    return kind, bucket, key, None if size is None else int(size)


def _dot_segments(key):
    return any(seg in (".", "..") for seg in key.split("/"))


def parse_case(path):
    with open(path, "rb") as f:
        raw = f.read().decode("utf-8")
    head, sep, req = raw.partition("\n---\n")
    if not sep:
        raise CaseError("%s: no '---' line" % path)
    case = {"file": os.path.basename(path), "setup": [], "sign": None, "note": "", "changes": []}
    for line in head.split("\n"):
        line = line.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key not in HEADER_KEYS:
            raise CaseError("%s: unknown header %r" % (path, key))
        if key == "setup":
            case["setup"].append(value)
        elif key == "expect-change":
            case["changes"].append(_parse_change(path, value))
        elif key == "note":
            case["note"] = (case["note"] + " " + value).strip()
        else:
            case[key] = value
    for key in ("name", "expect-status", "expect-code"):
        if key not in case:
            raise CaseError("%s: missing %s:" % (path, key))
    case["statuses"] = [int(s) if s.isdigit() else s for s in case["expect-status"].split("|")]
    case["codes"] = [None if c.strip() == "-" else c.strip()
                     for c in case["expect-code"].split("|")]
    lines = req.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    text = ""
    for line in lines:
        line = line.rstrip("\r")
        if line.endswith("\\") and not line.endswith("\\\\"):
            text += line[:-1]
        else:
            text += line + "\r\n"
    case["template"] = text
    return case


def load_cases(directory):
    only = os.environ.get("GZY_CASES")
    cases = []
    for path in sorted(glob.glob(os.path.join(directory, "*.case"))):
        if only and only not in os.path.basename(path):
            continue
        cases.append(parse_case(path))
    return cases


def _split_request(data):
    """(request line, [(name, value)], body) of a request whose head ends in CRLF CRLF."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise CaseError("sign: v4 needs a complete header block")
    lines = data[:end].split(b"\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
    return lines[0], headers, data[end + 4:]


def sign_v4(data, server):
    """Inserts x-amz-date, x-amz-content-sha256 (unless present) and a SigV4 Authorization
    over host and every x-amz-* header; the target is signed as sent."""
    request_line, headers, body = _split_request(data)
    parts = request_line.decode("latin-1").split(" ")
    method, target = parts[0], parts[1]
    path, _, qs = target.partition("?")
    query = []
    for item in qs.split("&") if qs else []:
        k, eq, v = item.partition("=")
        query.append((urllib.parse.unquote_to_bytes(k),
                      urllib.parse.unquote_to_bytes(v) if eq else None))
    names = {n.strip().lower() for n, _ in headers}
    given = {n.strip().lower(): v.strip() for n, v in headers}
    amz_date = given.get("x-amz-date") or h.amz_now()
    extra = {} if "x-amz-date" in given else {"x-amz-date": amz_date}
    if "x-amz-content-sha256" not in names:
        extra["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    payload = extra.get("x-amz-content-sha256") or next(
        v.strip() for n, v in headers if n.strip().lower() == "x-amz-content-sha256")
    signed = {}
    for n, v in headers + list(extra.items()):
        ln = n.strip().lower()
        if ln == "host" or ln.startswith("x-amz-"):
            v = " ".join(v.strip().split())
            signed[ln] = signed[ln] + "," + v if ln in signed else v
    sig_headers = dict(signed)
    h.sigv4_sign(method, path, [(k, v) for k, v in query], sig_headers, payload,
                 server.access_key, server.secret_key, amz_date=amz_date)
    add = "".join("%s: %s\r\n" % kv for kv in extra.items())
    add += "Authorization: %s\r\n" % sig_headers["Authorization"]
    first_end = data.find(b"\r\n") + 2
    return data[:first_end] + add.encode("latin-1") + data[first_end:]


def read_response(sock, method):
    """(status, body) or (0, reason) if the server closed without a full response."""
    conn = h.RawConnection.__new__(h.RawConnection)
    conn.sock, conn.buf = sock, b""
    try:
        resp = conn.read_response(method)
    except (ConnectionError, ValueError, OSError) as e:
        return 0, ("no response: %s" % e).encode()
    return resp.status, resp.body


class HostileCaseTests(h.ServerTestCase):
    gzy_only = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s3.create_bucket(Bucket=SENTINEL_BUCKET)
        cls.sentinel_data = {}
        for key, size in SENTINELS.items():
            data = h.random_bytes(size, seed=key)
            cls.s3.put_object(Bucket=SENTINEL_BUCKET, Key=key, Body=data)
            cls.sentinel_data[key] = hashlib.sha256(data).hexdigest()
        cls.buckets = {SENTINEL_BUCKET}
        cls.upload_id = ""

    # ---- setup and state ----

    def run_setup(self, line):
        kind, _, arg = line.partition(" ")
        arg = arg.strip()
        if kind == "bucket":
            if arg not in self.buckets:
                self.s3.create_bucket(Bucket=arg)
                self.buckets.add(arg)
        elif kind == "object":
            path, _, size = arg.partition(" ")
            bucket, _, key = path.partition("/")
            self.run_setup("bucket " + bucket)
            body = h.random_bytes(int(size or 0), seed=path)
            if _dot_segments(key):
                # sent as written: an HTTP client library may resolve the dot segments
                data, _ = self.server.signed_request_bytes("PUT", "/%s/%s" % (bucket, key),
                                                           body=body)
                with self.server.connect(timeout=CASE_TIMEOUT_S) as conn:
                    conn.send(data)
                    resp = conn.read_response("PUT")
                if resp.status != 200:
                    raise CaseError("setup %r: %s %r" % (line, resp.status, resp.body[:200]))
            else:
                self.s3.put_object(Bucket=bucket, Key=key, Body=body)
        elif kind == "upload":
            bucket, _, key = arg.partition("/")
            self.run_setup("bucket " + bucket)
            self.upload_id = self.s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        else:
            raise CaseError("unknown setup %r" % line)

    def listing(self, bucket):
        out = {}
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for page in pages:
            for o in page.get("Contents", []):
                out[o["Key"]] = (o["Size"], o["ETag"])
        return out

    def files(self):
        """Object files (relative path -> SHA-256) and every other path in the server's
        folder but the volatile ones (WAL, logs)."""
        objects, others = {}, set()
        for root, _dirs, names in os.walk(self.server.tmp):
            for name in names:
                path = os.path.join(root, name)
                rel = os.path.relpath(path, self.server.tmp)
                if rel.startswith("data/objects/"):
                    try:
                        with open(path, "rb") as f:
                            objects[rel] = hashlib.sha256(f.read()).hexdigest()
                    except FileNotFoundError:
                        pass  # removed meanwhile (a replaced object's file)
                elif not VOLATILE.search(rel) and rel not in ("stdout.log", "stderr.log"):
                    others.add(rel)
        return objects, others

    def snapshot(self):
        """What must not change: sentinel bytes, bucket names, every bucket's listing, object
        files, other files."""
        state = {}
        for key in SENTINELS:
            data, _ = self.server.signed_request_bytes("GET", "/%s/%s" % (SENTINEL_BUCKET, key))
            with self.server.connect(timeout=CASE_TIMEOUT_S) as conn:
                conn.send(data)
                resp = conn.read_response("GET")
            state["get " + key] = (resp.status, hashlib.sha256(resp.body).hexdigest())
        state["buckets"] = sorted(b["Name"] for b in self.s3.list_buckets()["Buckets"])
        for bucket in state["buckets"]:
            state["list " + bucket] = self.listing(bucket)
        state["files"], state["paths"] = self.files()
        return state

    def changed(self, case, before, after):
        """Differences between the snapshots that the case's expect-change lines do not
        explain, as text (empty list: none)."""
        problems = []
        for key, digest in self.sentinel_data.items():
            if after["get " + key] != (200, digest):
                problems.append("sentinel %s now %r" % (key, after["get " + key]))
        if after["buckets"] != before["buckets"]:
            problems.append("buckets %r -> %r" % (before["buckets"], after["buckets"]))
        want = {b: dict(before.get("list " + b, {})) for b in after["buckets"]}
        for kind, bucket, key, size in case["changes"]:
            lst = want.setdefault(bucket, {})
            if kind == "put":
                lst[key] = (size, after.get("list " + bucket, {}).get(key, (None, None))[1])
            else:
                lst.pop(key, None)
        for bucket in after["buckets"]:
            got = after["list " + bucket]
            if got != want[bucket]:
                diff = {k: (want[bucket].get(k), got.get(k))
                        for k in set(got) | set(want[bucket]) if got.get(k) != want[bucket].get(k)}
                problems.append("bucket %s: key: (expected, now) %r" % (bucket, diff))
        for rel, digest in before["files"].items():
            now = after["files"].get(rel)
            if now != digest and not (now is None and case["changes"]):
                problems.append("object file %s %s" % (rel, "changed" if now else "removed"))
        new_paths = after["paths"] - before["paths"]
        if new_paths:
            problems.append("new files outside DATA/objects: %r" % sorted(new_paths))
        return problems

    # ---- one case ----

    def build(self, case):
        host = "%s:%d" % (self.server.host, self.server.port)
        text = case["template"]
        text = text.replace("{{host}}", host).replace("{{akid}}", self.server.access_key)
        now = h.amz_now()
        text = text.replace("{{date}}", now).replace("{{date8}}", now[:8])
        text = text.replace("{{upload-id}}", self.upload_id)
        data = _unescape(_expand_repeat(text))
        if b"{{body-length}}" in data:
            end = data.find(b"\r\n\r\n")
            body_len = len(data) - end - 4 if end >= 0 else 0
            data = data.replace(b"{{body-length}}", str(body_len).encode())
        if b"{{body-md5}}" in data:
            end = data.find(b"\r\n\r\n")
            data = data.replace(b"{{body-md5}}", h.md5_b64(data[end + 4:]).encode())
        if case["sign"] == "v4":
            data = sign_v4(data, self.server)
        elif case["sign"]:
            raise CaseError("unknown sign: %r" % case["sign"])
        return data

    def send_case(self, data):
        method = data.split(b" ", 1)[0].decode("latin-1", "replace")
        sock = socket.create_connection((self.server.host, self.server.port),
                                        timeout=CASE_TIMEOUT_S)
        try:
            try:
                sock.sendall(data)
            except OSError:
                pass  # the server may answer and close before reading everything
            return read_response(sock, method)
        finally:
            sock.close()

    def run_case(self, case):
        """Returns a failure description or None."""
        for line in case["setup"]:
            self.run_setup(line)
        before = self.snapshot()
        data = self.build(case)
        status, body = self.send_case(data)
        code = h.xml_error_code(body)
        if os.environ.get("GZY_CASES_PROBE"):
            print("PROBE %-45s %s %s" % (case["file"], status, code or "-"), flush=True)
        problems = []
        if status not in case["statuses"]:
            problems.append("status %s, expected %s" % (status, case["expect-status"]))
        elif code not in case["codes"]:
            problems.append("code %s, expected %s" % (code, case["expect-code"]))
        if problems:
            problems[-1] += " (body %r)" % body[:200]
        try:
            after = self.snapshot()
        except Exception as e:  # noqa: BLE001 - any failure here means the server broke
            problems.append("server no longer serves: %r" % e)
        else:
            changes = self.changed(case, before, after)
            if changes:
                problems.append("stored state changed: " + "; ".join(changes))
        return "; ".join(problems) or None

    def run_all(self, directory):
        cases = load_cases(directory)
        failures = []
        for case in cases:
            try:
                problem = self.run_case(case)
            except Exception as e:  # noqa: BLE001 - report every case, not just the first
                problem = "harness error: %r" % e
            if problem:
                failures.append("%s (%s): %s" % (case["file"], case["name"], problem))
            if self.server.proc is not None and self.server.proc.poll() is not None:
                failures.append("server exited after %s" % case["file"])
                break
        return cases, failures

    def test_cases(self):
        cases, failures = self.run_all(CASES_DIR)
        if not os.environ.get("GZY_CASES"):
            self.assertGreaterEqual(len(cases), 100, "tests/cases/ should hold >= 100 cases")
        self.assertEqual(failures, [], "%d of %d cases failed:\n%s"
                         % (len(failures), len(cases), "\n".join(failures)))

    @unittest.skipUnless(os.environ.get("GZY_CASES_KNOWN"), "known server bugs (GZY_CASES_KNOWN=1)")
    def test_known_failures(self):
        cases, failures = self.run_all(os.path.join(CASES_DIR, "known-failures"))
        self.assertEqual(failures, [], "%d of %d known-failure cases still fail:\n%s"
                         % (len(failures), len(cases), "\n".join(failures)))


if __name__ == "__main__":
    unittest.main()
