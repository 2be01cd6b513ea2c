"""moto_server (in the machine's pyenv Python) as a third-party S3 cloud: one process on a free
loopback port with a temporary folder, and a path-style boto3 client to fill it."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import boto3
import botocore.config

import harness as h

MOTO_KEY = "testing"  # moto accepts any credentials


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moto_binary():
    exe = shutil.which("moto_server")
    if exe:
        return exe
    cand = os.path.expanduser("~/.pyenv/shims/moto_server")
    return cand if os.path.exists(cand) else None


class Moto:
    """moto_server on a free loopback port; .endpoint, .s3 (boto3), close()."""

    def __init__(self, pool=16):
        exe = moto_binary()
        if exe is None:
            raise unittest.SkipTest("moto_server is not installed (the pyenv Python has it)")
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="gzy-moto-")
        self.log = open(os.path.join(self.tmp, "moto.log"), "wb")
        self.proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.endpoint = "http://127.0.0.1:%d" % self.port
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            self.close()
            raise AssertionError("moto_server did not start")
        self.s3 = boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=MOTO_KEY,
            aws_secret_access_key=MOTO_KEY, region_name=h.REGION,
            config=botocore.config.Config(s3={"addressing_style": "path"},
                                          max_pool_connections=pool))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
