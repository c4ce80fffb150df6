"""A raw IMAP client for tests that need the exact bytes on the wire: send a
command, read untagged lines (with their literals) up to the tagged reply.
python's imaplib hides too much (literal continuations, untagged order, BAD
vs NO), so protocol tests use this; client-compatibility tests use imaplib."""
import re
import socket
import ssl
import time

LITERAL = re.compile(rb"[~]?\{(\d+)\+?\}\r\n$")


class Wire:
    def __init__(self, port, host="127.0.0.1", tls_context=None, timeout=30, greet=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls_context is not None:
            self.sock = tls_context.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.n = 0
        self.greeting = self.line() if greet else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def starttls(self, ctx):
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk

    def line(self) -> bytes:
        """One response line, CRLF included, with literals appended whole."""
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            i = self.buf.index(b"\r\n") + 2
            part, self.buf = self.buf[:i], self.buf[i:]
            out += part
            m = LITERAL.search(part)
            if not m:
                return out
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            out += self.buf[:n]
            self.buf = self.buf[n:]

    def tag(self):
        self.n += 1
        return "t%d" % self.n

    def cmd(self, text, tag=None):
        """Send `tag text` and return (untagged lines, tagged line)."""
        tag = tag or self.tag()
        data = text if isinstance(text, bytes) else text.encode()
        self.send(tag.encode() + b" " + data + b"\r\n")
        return self.until(tag)

    def until(self, tag):
        untagged = []
        t = tag.encode() + b" "
        while True:
            ln = self.line()
            if ln.startswith(t):
                return untagged, ln
            untagged.append(ln)

    def ok(self, text):
        untagged, tagged = self.cmd(text)
        assert b" OK" in tagged[:40], (text, untagged, tagged)
        return untagged, tagged

    def login(self, user="alice", password="pass"):
        return self.ok('LOGIN "%s" "%s"' % (user, password))

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
