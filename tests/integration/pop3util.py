"""Helpers for the POP3 integration tests: a small raw-socket POP3 client that
sends exact bytes and reads exact replies, plus a few shared fixtures.

Replies are returned without their CRLF. Multi-line bodies are returned as the
bytes the server sent between the status line and the terminating ".\r\n", so
tests can check dot-stuffing on the wire and the unstuffed content separately."""
import base64
import hashlib
import os
import re
import socket
import ssl
import time

import pytest

from conftest import CORPUS

USER = "alice"
PASSWORD = "pass"
TIMEOUT = 30


class Closed(Exception):
    """The server closed the connection."""


class Pop3:
    def __init__(self, port, tls=None, host="127.0.0.1", timeout=TIMEOUT, greet=True, sock=None):
        self.sock = sock or socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = bytearray()
        self.greeting = self.line() if greet else None

    # --- raw I/O ---
    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Closed("connection closed by server; unread: %r" % bytes(self.buf[:200]))
        self.buf += chunk

    def line(self) -> bytes:
        """One reply line without its CRLF."""
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            if len(self.buf) > 1 << 20:
                raise AssertionError("reply line longer than 1 MB")
            self._fill()

    def body(self) -> bytes:
        """The raw (still dot-stuffed) bytes of a multi-line response up to and
        excluding the terminating ".\r\n". Each line keeps its CRLF."""
        # The status line has been consumed, so the body starts at a line start.
        pos = 0
        while True:
            if len(self.buf) >= 3 and self.buf[:3] == b".\r\n":
                del self.buf[:3]
                return b""
            i = self.buf.find(b"\r\n.\r\n", pos)
            if i >= 0:
                data = bytes(self.buf[:i + 2])
                del self.buf[:i + 5]
                return data
            pos = max(0, len(self.buf) - 4)
            self._fill()

    def expect_closed(self, timeout=10):
        """Read until EOF; return whatever arrived (including buffered bytes)."""
        self.sock.settimeout(timeout)
        data = bytes(self.buf)
        self.buf.clear()
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return data
                data += chunk
        except ConnectionResetError:
            return data

    # --- commands ---
    def cmd(self, line) -> bytes:
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.line()

    def multi(self, line):
        """Send a command; return (status, body). body is None on -ERR, else the
        un-dot-stuffed content bytes (lines with their CRLF)."""
        status = self.cmd(line)
        if not status.startswith(b"+OK"):
            return status, None
        return status, unstuff(self.body())

    def multi_lines(self, line):
        status, body = self.multi(line)
        if body is None:
            return status, None
        return status, body.split(b"\r\n")[:-1] if body else []

    def login(self, user=USER, password=PASSWORD):
        r = self.cmd("USER " + user)
        assert r.startswith(b"+OK"), r
        r = self.cmd("PASS " + password)
        assert r.startswith(b"+OK"), r
        return r

    def stat(self):
        r = self.cmd("STAT")
        m = re.match(rb"^\+OK (\d+) (\d+)", r)
        assert m, r
        return int(m.group(1)), int(m.group(2))

    def capa(self):
        status, lines = self.multi_lines("CAPA")
        assert status.startswith(b"+OK"), status
        return {l.split(b" ", 1)[0].upper(): l for l in lines}

    def stls(self, ctx):
        r = self.cmd("STLS")
        assert r.startswith(b"+OK"), r
        assert not self.buf, "data after STLS reply: %r" % bytes(self.buf)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        return r

    def quit(self):
        r = self.cmd("QUIT")
        rest = self.expect_closed()
        self.sock.close()
        return r, rest

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Drop the connection with a TCP reset, like a crashed client."""
        try:
            sock = self.sock.unwrap() if isinstance(self.sock, ssl.SSLSocket) else self.sock
        except (OSError, ValueError):
            sock = self.sock
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def unstuff(raw: bytes) -> bytes:
    """Undo POP3 dot-stuffing (RFC 1939 section 3) of CRLF-terminated lines."""
    if not raw:
        return raw
    lines = raw.split(b"\r\n")
    return b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines)


def wire_form(data: bytes) -> bytes:
    """What RETR must return for stored (CRLF-normalised) content: a final CRLF
    is added when the content does not end with one."""
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def b64(s) -> str:
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def apop_digest(greeting: bytes, secret: str) -> str:
    m = re.search(rb"<[^<>]*>", greeting)
    assert m, "no APOP timestamp in greeting %r" % greeting
    return hashlib.md5(m.group(0) + secret.encode()).hexdigest()


def message(n, subject=None, body=None) -> bytes:
    subject = subject if subject is not None else "Test message %d" % n
    body = body if body is not None else "Body line one of message %d.\r\nSecond line.\r\n" % n
    return ("From: sender@example.org\r\nTo: alice@example.org\r\nSubject: %s\r\n"
            "Message-ID: <m%d@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n%s"
            % (subject, n, body)).encode()


def corpus(name) -> bytes:
    with open(os.path.join(CORPUS, name), "rb") as f:
        return f.read()


def mailbox_list(server, user=USER):
    """`roost mailbox list` as {name: (messages, bytes)}."""
    out = server.cli("mailbox", "list", "--user", user).stdout.decode()
    boxes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[-1].isdigit() and parts[-2].isdigit():
            boxes[" ".join(parts[:-2])] = (int(parts[-2]), int(parts[-1]))
    assert boxes, "cannot parse `roost mailbox list` output: %r" % out
    return boxes


def login_when_free(port, user=USER, password=PASSWORD, tls=None, deadline=10.0):
    """Log in, retrying while the maildrop is still locked by a connection that
    was just dropped (the server notices the drop asynchronously)."""
    end = time.monotonic() + deadline
    last = None
    while True:
        p = Pop3(port, tls=tls)
        assert p.cmd("USER " + user).startswith(b"+OK")
        r = p.cmd("PASS " + password)
        if r.startswith(b"+OK"):
            return p
        last = r
        p.close()
        assert r.startswith(b"-ERR [IN-USE]"), r
        if time.monotonic() > end:
            raise AssertionError("maildrop still locked after %.0f s: %r" % (deadline, last))
        time.sleep(0.1)


def assert_alive(server, user=USER, password=PASSWORD):
    """The process runs and a normal session works end to end."""
    assert server.alive(), "server process died:\n" + server.read_log()[-3000:]
    p = login_when_free(server.ports["pop3"], user, password)
    n, _ = p.stat()
    if n:
        status, body = p.multi("RETR 1")
        assert status.startswith(b"+OK"), status
    r, _ = p.quit()
    assert r.startswith(b"+OK"), r


@pytest.fixture
def mail3(server):
    """A server with user alice and three small messages."""
    server.add_user(USER, PASSWORD)
    for i in (1, 2, 3):
        server.deliver(USER, message(i))
    return server
