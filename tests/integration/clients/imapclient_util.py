"""Shared helpers of the IMAP real-client tests (test_imap_clients.py,
test_imap_sync.py): run a client under a timeout with a private HOME, build
test messages, read a mailbox's exact state over raw IMAP (the server's side)
and a Maildir's state from its files (the client's side)."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import CORPUS
from imapwire import Wire

USER = "alice"
PASSWORD = "pass"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CLIENTS = os.path.dirname(os.path.abspath(__file__))
NODE_MODULES = os.path.join(ROOT, "build", "npm", "node_modules")
# Debian's interpreter: the Debian-packaged Python modules (imaplib2) import only there.
DEBIAN_PYTHON = "/usr/bin/python3"

# Every new account has these, with their special-use attributes (RFC 6154).
DEFAULT_MAILBOXES = {"INBOX": None, "Archive": "\\Archive", "Drafts": "\\Drafts", "Junk": "\\Junk",
                     "Sent": "\\Sent", "Trash": "\\Trash"}

# Maildir info letters and the IMAP flags they stand for (the ones sync tools map).
MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}


@pytest.fixture
def work(base_tmp):
    d = tempfile.mkdtemp(prefix="client-", dir=base_tmp)
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run(argv, cwd, timeout=60, env=None, input=None):
    """Run a client under timeout(1) with HOME in its work directory; returns
    (exit code, stdout+stderr as text). A timeout fails the test."""
    e = dict(os.environ, HOME=cwd, LC_ALL="C.UTF-8", TZ="UTC")
    e.update(env or {})
    p = subprocess.run(["timeout", "-k", "5", str(timeout)] + list(argv), cwd=cwd, env=e, input=input,
                       capture_output=True, timeout=timeout + 30)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode not in (124, 137), "%s timed out after %d s:\n%s" % (argv[0], timeout, out[-4000:])
    return p.returncode, out


def corpus(name):
    with open(os.path.join(CORPUS, name), "rb") as f:
        return f.read()


def message(subject, body="", extra=b""):
    """A small CRLF message whose Subject names it (tests find messages by subject)."""
    text = body or "This is the body of %s.\r\nSecond line.\r\n" % subject
    return (b"From: Test Sender <sender@example.org>\r\nTo: alice@example.org\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + re.sub(r"[^A-Za-z0-9]", "-", subject).encode() + b"@example.org>\r\n"
            b"Date: Tue, 04 Mar 2025 10:00:00 +0000\r\n" + extra + b"\r\n" + text.encode())


def subject_of(data: bytes) -> str:
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    m = re.search(rb"^Subject: ?(.*)$", head, re.M | re.I)
    return m.group(1).decode() if m else None


def lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def imap_utf7(name: str) -> str:
    """RFC 3501 modified UTF-7 for a mailbox name."""
    import base64
    out, run_ = [], []

    def flush():
        if run_:
            b = base64.b64encode("".join(run_).encode("utf-16-be")).decode().rstrip("=").replace("/", ",")
            out.append("&" + b + "-")
            run_.clear()
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run_.append(ch)
    flush()
    return "".join(out)


def quote(name: str) -> str:
    return '"' + imap_utf7(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Raw:
    """A raw IMAP session on the plain port (loopback allows LOGIN): the
    independent view of the server's state that the client tests compare with."""

    def __init__(self, server):
        self.w = Wire(server.ports["imap"])
        self.w.login(USER, PASSWORD)

    def close(self):
        try:
            self.w.cmd("LOGOUT")
        except (OSError, EOFError):
            pass
        self.w.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def ok(self, text):
        return self.w.ok(text)

    def mailboxes(self):
        u, _ = self.ok('LIST "" "*"')
        names = []
        for ln in u:
            m = re.match(rb'\* LIST \(([^)]*)\) (NIL|"(?:[^"\\]|\\.)*") (.*)\r\n$', ln)
            assert m, ln
            name = m.group(3)
            if name.startswith(b'"'):
                name = re.sub(rb'\\(.)', rb'\1', name[1:-1])
            names.append(decode_utf7(name.decode()))
        return sorted(names)

    def state(self, mailbox):
        """{uid: (frozenset of flags without \\Recent, message bytes)} of a mailbox."""
        self.ok("EXAMINE " + quote(mailbox))
        u, _ = self.ok("UID FETCH 1:* (UID FLAGS BODY.PEEK[])")
        out = {}
        for ln in u:
            if not re.match(rb"\* \d+ FETCH ", ln):
                continue
            m = re.search(rb"\{(\d+)\}\r\n", ln)
            assert m, ln
            n = int(m.group(1))
            body = ln[m.end():m.end() + n]
            meta = ln[:m.start()] + ln[m.end() + n:]
            uid = int(re.search(rb"UID (\d+)", meta).group(1))
            flags = re.search(rb"FLAGS \(([^)]*)\)", meta).group(1).decode().split()
            out[uid] = (frozenset(f for f in flags if f != "\\Recent"), body)
        self.ok("UNSELECT")
        return out

    def by_subject(self, mailbox):
        """{subject: (flags, bytes)}; subjects must be unique in the mailbox."""
        res = {}
        for uid, (flags, body) in self.state(mailbox).items():
            s = subject_of(body)
            assert s not in res, "two messages with subject %r in %s" % (s, mailbox)
            res[s] = (flags, body)
        return res

    def uid_of(self, mailbox, subject):
        for uid, (_, body) in self.state(mailbox).items():
            if subject_of(body) == subject:
                return uid
        raise AssertionError("no message %r in %s" % (subject, mailbox))

    def store(self, mailbox, subject, op, flags):
        uid = self.uid_of(mailbox, subject)
        self.ok("SELECT " + quote(mailbox))
        self.ok("UID STORE %d %s (%s)" % (uid, op, flags))
        self.ok("UNSELECT")


def decode_utf7(name: str) -> str:
    import base64

    def dec(m):
        s = m.group(1)
        if s == "":
            return "&"
        s = s.replace(",", "/")
        return base64.b64decode(s + "=" * (-len(s) % 4)).decode("utf-16-be")
    return re.sub(r"&([^-]*)-", dec, name)


def flags_summary(state):
    """{subject: sorted flag list}: what a failed assertion prints."""
    return {s: sorted(f) for s, (f, _) in state.items()}


def maildir_state(folder):
    """{subject: (frozenset of IMAP flags, file bytes)} of one Maildir folder
    (cur and new); a message whose subject repeats fails the test."""
    res = {}
    for sub in ("cur", "new"):
        d = os.path.join(folder, sub)
        if not os.path.isdir(d):
            continue
        for fn in os.listdir(d):
            with open(os.path.join(d, fn), "rb") as f:
                data = f.read()
            info = fn.rsplit(":2,", 1)[1] if ":2," in fn else ""
            flags = frozenset(MAILDIR_FLAGS[c] for c in info if c in MAILDIR_FLAGS)
            s = subject_of(data)
            assert s not in res, "two files with subject %r in %s" % (s, folder)
            res[s] = (flags, data)
    return res


def maildir_file(folder, subject):
    """The path of the file holding the message with this subject."""
    for sub in ("cur", "new"):
        d = os.path.join(folder, sub)
        for fn in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            with open(os.path.join(d, fn), "rb") as f:
                if subject_of(f.read()) == subject:
                    return os.path.join(d, fn)
    raise AssertionError("no file with subject %r in %s" % (subject, folder))


def set_maildir_flags(path, letters):
    """Rename a Maildir file to carry exactly these info letters; returns the new path."""
    d, fn = os.path.split(path)
    base = fn.rsplit(":2,", 1)[0]
    new = os.path.join(os.path.dirname(d), "cur", base + ":2," + "".join(sorted(letters)))
    os.rename(path, new)
    return new


def write_maildir_message(folder, name, data, letters=""):
    """A message a local mail reader would have written (LF line endings)."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    if letters:
        path = os.path.join(folder, "cur", name + ":2," + "".join(sorted(letters)))
    else:
        path = os.path.join(folder, "new", name)
    with open(path, "wb") as f:
        f.write(data)
    return path


__all__ = ["CLIENTS", "CORPUS", "DEBIAN_PYTHON", "DEFAULT_MAILBOXES", "NODE_MODULES", "PASSWORD", "ROOT", "Raw", "USER",
           "corpus", "decode_utf7", "flags_summary", "imap_utf7", "lf", "maildir_file", "maildir_state", "message",
           "quote", "run", "set_maildir_flags", "subject_of", "work", "write_maildir_message"]
