"""Native TLS on the S3 and admin listeners (--tls-cert/--tls-key): boto3 and aws-cli against a
test CA, inline and file-backed bodies (the sendfile path becomes pread + encrypt), multipart,
ranges, protocol versions, plain HTTP to a TLS port, and certificate reload on SIGHUP."""

import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import warnings

import harness as h


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=gzy test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_leaf(d, name, cn):
    """Writes NAME.key and NAME.pem (chain: leaf) signed by the CA in d."""
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext",
            cwd=d)


def peer_cn(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
            return subject["commonName"]


class TlsTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if h.external_endpoint():
            raise unittest.SkipTest("needs the real gzy binary")
        cls.pki = tempfile.mkdtemp(prefix="gzy-tls-")
        make_ca(cls.pki)
        make_leaf(cls.pki, "one", "gzy one")
        make_leaf(cls.pki, "two", "gzy two")
        cls.cert = os.path.join(cls.pki, "server.pem")
        cls.key = os.path.join(cls.pki, "server.key")
        shutil.copy(os.path.join(cls.pki, "one.pem"), cls.cert)
        shutil.copy(os.path.join(cls.pki, "one.key"), cls.key)
        cls.server = h.GzyServer(extra_args=["--tls-cert", cls.cert, "--tls-key", cls.key])
        cls.server.ca_bundle = os.path.join(cls.pki, "ca.pem")
        try:
            cls.server.start()
        except BaseException:
            try:
                cls.server.close()
            except AssertionError:
                pass
            raise
        cls.s3 = cls.server.client()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.close()
        finally:
            shutil.rmtree(cls.pki, ignore_errors=True)

    def bucket(self):
        name = h.unique_bucket(self._testMethodName.replace("test_", "")[:20])
        self.s3.create_bucket(Bucket=name)
        return name

    def test_banner_and_endpoint_are_https(self):
        self.assertEqual(self.server.scheme, "https")
        self.assertTrue(self.server.endpoint.startswith("https://127.0.0.1:"))

    def test_boto3_small_and_large_objects(self):
        b = self.bucket()
        small = h.random_bytes(1000, seed="tls-small")
        large = h.random_bytes(3 * h.MiB + 17, seed="tls-large")  # a file: pread + encrypt
        self.s3.put_object(Bucket=b, Key="small", Body=small)
        self.s3.put_object(Bucket=b, Key="dir/large", Body=large, Metadata={"k": "v"})
        self.assertEqual(self.s3.get_object(Bucket=b, Key="small")["Body"].read(), small)
        got = self.s3.get_object(Bucket=b, Key="dir/large")
        self.assertEqual(got["Metadata"], {"k": "v"})
        self.assertEqual(hashlib.sha256(got["Body"].read()).hexdigest(),
                         hashlib.sha256(large).hexdigest())
        rng = self.s3.get_object(Bucket=b, Key="dir/large", Range="bytes=1048570-2097160")
        self.assertEqual(rng["Body"].read(), large[1048570:2097161])
        keys = [o["Key"] for o in self.s3.list_objects_v2(Bucket=b)["Contents"]]
        self.assertEqual(keys, ["dir/large", "small"])

    def test_sse_c_over_tls_without_the_plain_http_switch(self):
        b = self.bucket()
        key = os.urandom(32)
        args = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
        body = h.random_bytes(200000, seed="tls-ssec")
        self.s3.put_object(Bucket=b, Key="c", Body=body, **args)
        got = self.s3.get_object(Bucket=b, Key="c", **args)
        self.assertEqual(got["SSECustomerAlgorithm"], "AES256")
        self.assertEqual(got["Body"].read(), body)
        self.assertEqual(self.s3.head_object(Bucket=b, Key="c", **args)["ContentLength"],
                         len(body))
        with self.assertRaises(Exception) as cm:
            self.s3.get_object(Bucket=b, Key="c")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)

    def test_boto3_multipart(self):
        b = self.bucket()
        parts = [h.random_bytes(5 * h.MiB, seed="tls-p1"), h.random_bytes(123457, seed="tls-p2")]
        up = self.s3.create_multipart_upload(Bucket=b, Key="mp")
        done = []
        for n, p in enumerate(parts, 1):
            r = self.s3.upload_part(Bucket=b, Key="mp", UploadId=up["UploadId"], PartNumber=n,
                                    Body=p)
            done.append({"PartNumber": n, "ETag": r["ETag"]})
        self.s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up["UploadId"],
                                          MultipartUpload={"Parts": done})
        body = self.s3.get_object(Bucket=b, Key="mp")["Body"].read()
        self.assertEqual(body, b"".join(parts))

    def test_aws_cli_copy_up_and_down(self):
        b = self.bucket()
        src = os.path.join(self.server.tmp, "up.bin")
        data = h.random_bytes(9 * h.MiB, seed="tls-cli")  # aws-cli goes multipart above 8 MiB
        with open(src, "wb") as f:
            f.write(data)
        self.server.aws("s3", "cp", src, "s3://%s/cli.bin" % b)
        dst = os.path.join(self.server.tmp, "down.bin")
        self.server.aws("s3", "cp", "s3://%s/cli.bin" % b, dst)
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), data)

    def test_untrusted_certificate_is_refused_by_clients(self):
        client = h.boto3.session.Session().client(
            "s3", endpoint_url=self.server.endpoint, region_name=h.REGION,
            aws_access_key_id=self.server.access_key,
            aws_secret_access_key=self.server.secret_key,
            config=h.botocore.config.Config(retries={"total_max_attempts": 1}))
        with self.assertRaises(h.botocore.exceptions.SSLError):
            client.list_buckets()

    def test_protocol_versions(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = ssl.create_default_context(cafile=self.server.ca_bundle)
            ctx.minimum_version = ctx.maximum_version = version
            with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    self.assertEqual(s.version(), {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                                   ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version])
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    head = s.recv(100)
                    self.assertTrue(head.startswith(b"HTTP/1.1 403"), head)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except ValueError:
            self.skipTest("this Python cannot offer TLS 1.1")
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionResetError)):
                ctx.wrap_socket(raw, server_hostname="127.0.0.1")

    def test_plain_http_to_tls_port_gets_no_http_and_server_carries_on(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while True:
                try:
                    chunk = s.recv(4096)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                got += chunk
            self.assertFalse(got.startswith(b"HTTP/"), got[:100])
        self.s3.list_buckets()

    def test_admin_listener_speaks_tls(self):
        ctx = ssl.create_default_context(cafile=self.server.ca_bundle)
        with socket.create_connection(("127.0.0.1", self.server.admin_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /admin/v1/whoami HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        self.assertRegex(data.split(b"\r\n", 1)[0], rb"^HTTP/1.1 40[13]")

    def test_gzy_admin_and_migrate_trust_a_private_ca_through_gzy_ca_bundle(self):
        out = self.server.admin_json("tenant", "add", "tlsco", "--uscc", "91350100M000100Y43")
        self.assertEqual(out.get("name"), "tlsco", out)
        env = dict(self.server._env())
        env.pop("GZY_CA_BUNDLE")
        p = subprocess.run([self.server.bin, "admin", "--endpoint", self.server.admin_endpoint,
                            "--access-key", self.server.access_key, "--secret-key",
                            self.server.secret_key, "tenant", "list"],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0, "an untrusted certificate must be refused")
        # gzy migrate copy from gzy (https) to gzy (https), trusting the CA.
        src, dst = self.bucket(), self.bucket()
        self.s3.put_object(Bucket=src, Key="a/b.txt", Body=b"over tls")
        r = subprocess.run([self.server.bin, "migrate", "copy", "--source-endpoint",
                            self.server.endpoint, "--source-bucket", src, "--source-access-key",
                            self.server.access_key, "--source-secret-key",
                            self.server.secret_key, "--dest-endpoint", self.server.endpoint,
                            "--dest-bucket", dst, "--dest-access-key", self.server.access_key,
                            "--dest-secret-key", self.server.secret_key],
                           env=self.server._env(), capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.s3.get_object(Bucket=dst, Key="a/b.txt")["Body"].read(),
                         b"over tls")

    def test_sighup_reloads_certificate_and_keeps_old_on_bad_files(self):
        ca = self.server.ca_bundle
        self.assertEqual(peer_cn(self.server.port, ca), "gzy one")
        # Keep one connection open across the reload: it goes on with its certificate.
        ctx = ssl.create_default_context(cafile=ca)
        old = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.server.port)),
                              server_hostname="127.0.0.1")
        try:
            shutil.copy(os.path.join(self.pki, "two.pem"), self.cert)
            shutil.copy(os.path.join(self.pki, "two.key"), self.key)
            self.server.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while peer_cn(self.server.port, ca) != "gzy two":
                self.assertLess(time.monotonic(), deadline, "certificate not reloaded")
                time.sleep(0.1)
            self.assertEqual(peer_cn(self.server.admin_port, ca), "gzy two")
            old.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertTrue(old.recv(100).startswith(b"HTTP/1.1 403"))
        finally:
            old.close()
        # A broken pair: the reload fails, the server keeps serving the last good certificate.
        with open(self.key, "w") as f:
            f.write("not a key\n")
        self.server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "keeping the old certificate" not in self.server.logs():
            self.assertLess(time.monotonic(), deadline, self.server.logs())
            time.sleep(0.1)
        self.assertEqual(peer_cn(self.server.port, ca), "gzy two")
        self.s3.list_buckets()
        shutil.copy(os.path.join(self.pki, "two.key"), self.key)


class TlsConfigTests(unittest.TestCase):
    def run_gzy(self, *args):
        d = tempfile.mkdtemp(prefix="gzy-tlscfg-")
        try:
            return subprocess.run([os.environ.get("GZY_BIN", "build/gzy"), "serve", "--data",
                                   os.path.join(d, "data"), "--listen", "127.0.0.1:0",
                                   "--admin-listen", "off", *args],
                                  capture_output=True, text=True, timeout=30)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    @h.requires_gzy()
    def test_cert_without_key_is_refused(self):
        r = self.run_gzy("--tls-cert", "/nonexistent.pem")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--tls-cert and --tls-key go together", r.stderr)

    @h.requires_gzy()
    def test_unreadable_certificate_is_a_clear_error(self):
        r = self.run_gzy("--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot load the certificate (--tls-cert)", r.stderr)


if __name__ == "__main__":
    unittest.main()
