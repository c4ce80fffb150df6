"""imaputil's raw IMAP client in the form the session tests use: every
response comes back with its CRLF (so tests compare exact lines), TLS can be
started on the connection, and wait_for() reads until a line appears (IDLE).
python's imaplib hides too much (literal continuations, untagged order, BAD
vs NO), so protocol tests use this; client-compatibility tests use imaplib."""
import re
import socket
import ssl
import time

from imaputil import Imap


class Wire(Imap):
    def __init__(self, port, host="127.0.0.1", tls_context=None, timeout=30, greet=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls_context is not None:
            self.sock = tls_context.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = bytearray()
        self.n = 0
        self.greeting = self.line() if greet else None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def starttls(self, ctx):
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def line(self) -> bytes:
        """One response, CRLF included, with its literals inside."""
        return self.response() + b"\r\n"

    def until(self, tag):
        untagged, tagged = Imap.until(self, tag)
        return [u + b"\r\n" for u in untagged], tagged + b"\r\n"

    def wait_for(self, pred, timeout=10):
        """Read lines until pred(line) is true; returns the lines read."""
        deadline = time.time() + timeout
        lines = []
        old = self.sock.gettimeout()
        try:
            while time.time() < deadline:
                self.sock.settimeout(max(0.05, deadline - time.time()))
                try:
                    ln = self.line()
                except (socket.timeout, ssl.SSLError):
                    break
                lines.append(ln)
                if pred(ln):
                    return lines
        finally:
            self.sock.settimeout(old)
        raise AssertionError("timed out waiting; got %r" % lines)


def fetch_literal(untagged_line: bytes) -> bytes:
    """The data of the (first) literal in a response line."""
    m = re.search(rb"\{(\d+)\}\r\n", untagged_line)
    assert m, untagged_line
    n = int(m.group(1))
    start = m.end()
    return untagged_line[start:start + n]
