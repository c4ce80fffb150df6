"""Helpers for the IMAP integration tests: a server with an IMAP listener, a
small raw-socket IMAP client that sends exact bytes and reads whole responses
(literals included), an imaplib login helper, modified UTF-7 (RFC 3501 5.1.3)
for expected names, and a parser for LIST/LSUB/STATUS lines.

The server is conftest's Server, which listens for IMAP on a free port."""
import base64
import imaplib
import re
import socket

import pytest

from conftest import Server

USER = "alice"
PASSWORD = "pass"
TIMEOUT = 30


class ImapServer(Server):
    """conftest's Server (which listens for IMAP on a free loopback port)."""

    @property
    def imap_port(self):
        return self.ports["imap"]


@pytest.fixture
def imap_server(base_tmp):
    """A fresh server per test with the user alice."""
    s = ImapServer(base_tmp).start()
    s.add_user(USER, PASSWORD)
    yield s
    s.stop()


class Closed(EOFError):
    """The server closed the connection."""


LITERAL_AT_END = re.compile(rb"~?\{(\d+)\+?\}$")


class Imap:
    """A raw IMAP client. Responses come back as bytes without the final CRLF,
    with any literal's announcement, CRLF and data kept in place."""

    def __init__(self, port, host="127.0.0.1", timeout=TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()
        self.n = 0
        self.greeting = self.response()

    # --- raw I/O ---
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise Closed("connection closed; unread: %r" % bytes(self.buf[:200]))
        self.buf += chunk

    def raw_line(self):
        """One line without its CRLF (a literal's data is not read)."""
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def response(self):
        out = self.raw_line()
        while True:
            m = LITERAL_AT_END.search(out)
            if not m or out.startswith(b"+"):
                return out
            out += b"\r\n" + self.read_exact(int(m.group(1)))
            out += self.raw_line()

    line = raw_line

    def read_all_until_closed(self, timeout=10):
        self.sock.settimeout(timeout)
        data = bytes(self.buf)
        self.buf.clear()
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return data
                data += chunk
        except (ConnectionResetError, socket.timeout):
            return data

    # --- commands ---
    def tag(self):
        self.n += 1
        return "T%d" % self.n

    def until(self, tag):
        """Responses up to and including the tagged one: (untagged, tagged)."""
        if isinstance(tag, str):
            tag = tag.encode()
        untagged = []
        while True:
            r = self.response()
            if r.startswith(tag + b" "):
                return untagged, r
            untagged.append(r)

    def cmd(self, text):
        """Send one command line; return (untagged responses, tagged line)."""
        if isinstance(text, str):
            text = text.encode()
        t = self.tag()
        self.send(t.encode() + b" " + text + b"\r\n")
        return self.until(t)

    def ok(self, text):
        untagged, tagged = self.cmd(text)
        assert status_of(tagged) == b"OK", (text, tagged, untagged)
        return untagged, tagged

    def login(self, user=USER, password=PASSWORD):
        return self.ok('LOGIN %s "%s"' % (user, password))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def status_of(tagged):
    """b"OK" / b"NO" / b"BAD" of a tagged line."""
    return tagged.split(b" ", 2)[1]


def code_of(tagged):
    """The response code of a tagged line ("ALREADYEXISTS"), or None."""
    m = re.match(rb"^\S+ \S+ \[([^\]]*)\]", tagged)
    return m.group(1).decode() if m else None


def login_imaplib(server, user=USER, password=PASSWORD):
    c = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=TIMEOUT)
    c.login(user, password)
    return c


# --- modified UTF-7 (RFC 3501 5.1.3) ---

def mutf7_encode(s):
    out, run = [], []

    def flush():
        if run:
            b = "".join(run).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=").replace("/", ",") + "-")
            run.clear()
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


# --- LIST / LSUB / STATUS lines ---

def _token(data, i):
    """One mailbox-name token at data[i:]: (value bytes, next index)."""
    if data[i:i + 1] == b'"':
        j, val = i + 1, bytearray()
        while data[j:j + 1] != b'"':
            if data[j:j + 1] == b"\\":
                j += 1
            val += data[j:j + 1]
            j += 1
        return bytes(val), j + 1
    m = re.match(rb"~?\{(\d+)\}\r\n", data[i:])
    if m:
        start = i + m.end()
        n = int(m.group(1))
        return data[start:start + n], start + n
    m = re.match(rb"[^ ()\r\n]+", data[i:])
    return m.group(0), i + m.end()


def parse_list(line):
    """b'* LIST (\\A \\B) "/" name (ext)' -> (kind, set of attrs, delimiter, name str, ext bytes)."""
    m = re.match(rb"^\* (LIST|LSUB) \(([^)]*)\) (\"[^\"]*\"|NIL) ", line)
    assert m, line
    attrs = set(a.decode() for a in m.group(2).split())
    delim = m.group(3).decode().strip('"')
    name, j = _token(line, m.end())
    return m.group(1).decode(), attrs, delim, name.decode("utf-8"), line[j:].strip()


def parse_status(line):
    """b'* STATUS name (MESSAGES 1 ...)' -> (name str, {item: int})."""
    assert line.startswith(b"* STATUS "), line
    name, j = _token(line, len(b"* STATUS "))
    items = re.match(rb"^ \(([^)]*)\)$", line[j:])
    assert items, line
    toks = items.group(1).split()
    return name.decode("utf-8"), {toks[k].decode(): int(toks[k + 1]) for k in range(0, len(toks), 2)}


def lists(untagged, kind="LIST"):
    """{name: (attrs, ext)} of the LIST (or LSUB) responses among untagged."""
    out = {}
    for r in untagged:
        if r.startswith(b"* " + kind.encode() + b" "):
            _, attrs, delim, name, ext = parse_list(r)
            assert delim == "/", r
            assert name not in out, "two responses for %r" % name
            out[name] = (attrs, ext)
    return out
