"""Shared fixtures: a real `roost serve` on free loopback ports with a temporary
data directory, plus helpers to add users and deliver messages with the CLI.

The server binary is the sanitizer build (build/asan/roost) unless ROOST_BIN is
set. A server's stderr is checked for sanitizer reports when it stops."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("ROOST_BIN", os.path.join(ROOT, "build", "asan", "roost"))
CORPUS = os.environ.get("ROOST_CORPUS", os.path.join(ROOT, "tests", "corpus"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

os.environ.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def corpus_files():
    return sorted(f for f in os.listdir(CORPUS) if f.endswith(".eml"))


def crlf(data: bytes) -> bytes:
    """The CRLF-normalised form the server stores: bare LF becomes CRLF."""
    out = bytearray()
    prev = 0
    for b in data:
        if b == 0x0A and prev != 0x0D:
            out += b"\r"
        out.append(b)
        prev = b
    return bytes(out)


@pytest.fixture(scope="session")
def base_tmp():
    # World-searchable so that a server started as root can drop to its own user.
    global BIN
    d = tempfile.mkdtemp(prefix="roost-test-", dir="/tmp")
    os.chmod(d, 0o755)
    # Run a private copy of the binary: a rebuild during the run must not pull
    # it from under the servers and CLI calls of this suite.
    private = os.path.join(d, "roost")
    shutil.copy2(BIN, private)
    os.chmod(private, 0o755)
    BIN = private
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run_cli(data, *args, input=None, check=True, timeout=60):
    p = subprocess.run([BIN, *args, "--data", data], input=input, capture_output=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("roost %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p


# Every protocol a test server listens on, each on a free loopback port.
LISTENERS = ("pop3", "pop3s", "imap", "imaps", "smtp", "submission", "submissions", "lmtp")


class PortTaken(Exception):
    pass


class Server:
    """One `roost serve` process with its own data directory and ports."""

    def __init__(self, base, sets=None, name="srv"):
        self.data = tempfile.mkdtemp(prefix=name + "-", dir=base)
        os.chmod(self.data, 0o755)
        self.ports = {k: free_port() for k in LISTENERS}
        self.sets = dict(sets or {})
        self.proc = None
        self.log_path = os.path.join(base, os.path.basename(self.data) + ".log")

    @property
    def cert(self):
        return os.path.join(self.data, "tls", "cert.pem")

    def start(self, attempts=5):
        """Start the server; a port taken between free_port() and bind() by
        someone else is retried with fresh ports."""
        for attempt in range(attempts):
            try:
                return self._start()
            except PortTaken:
                self.ports = {k: free_port() for k in self.ports}
        raise AssertionError("no free ports after %d attempts" % attempts)

    def _start(self):
        args = [BIN, "serve", "--data", self.data]
        for k in LISTENERS:
            args += ["--set", "%s.listen=127.0.0.1:%d" % (k, self.ports[k])]
        for k, v in self.sets.items():
            args += ["--set", "%s=%s" % (k, v)]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline()
        if b"ready" not in line:
            self.proc.wait(timeout=10)
            self.proc.stdout.close()
            self.log.close()
            self.proc = None
            log = self.read_log()
            if "Address already in use" in log[-500:]:
                raise PortTaken()
            raise AssertionError("server did not start: %s" % log[-2000:])
        return self

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, expect_code=0):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            raise AssertionError("server did not stop within 30 s after %s" % sig)
        finally:
            self.proc.stdout.close()
            self.log.close()
            self.proc = None
        log = self.read_log()
        for mark in SANITIZER_MARKS:
            assert mark not in log, "sanitizer report in server log:\n" + log[-6000:]
        if expect_code is not None:
            assert code == expect_code, "server exited %s\n%s" % (code, log[-3000:])
        return code

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cli(self, *args, input=None, check=True):
        return run_cli(self.data, *args, input=input, check=check)

    def add_user(self, name, password="pass"):
        self.cli("user", "add", name, input=(password + "\n").encode())

    def deliver(self, user, data: bytes, mailbox=None):
        args = ["deliver", "--user", user] + (["--mailbox", mailbox] if mailbox else [])
        self.cli(*args, input=data)

    def tls_context(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.check_hostname = False
        return ctx


@pytest.fixture
def server(base_tmp):
    """A fresh server per test (function scope): state never leaks between tests."""
    s = Server(base_tmp).start()
    yield s
    s.stop()


@pytest.fixture
def make_server(base_tmp):
    """Factory for tests that need special settings or several servers."""
    made = []

    def make(sets=None, start=True):
        s = Server(base_tmp, sets)
        made.append(s)
        return s.start() if start else s
    yield make
    for s in made:
        if s.alive():
            s.stop()
