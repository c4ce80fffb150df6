"""IMAP APPEND against a real server: flags, date-time, synchronizing and
non-synchronizing literals, literal8 (BINARY) and UTF8 (~{n}), APPENDUID
(UIDPLUS), MULTIAPPEND and its all-or-nothing rule, [TRYCREATE], [TOOBIG]
without reading the literal, empty messages, appending to the selected
mailbox, and every corpus message appended and fetched back byte for byte."""
import calendar
import imaplib
import os
import re
import time

import pytest

from conftest import CORPUS, corpus_files, crlf
from imaputil import Imap, code_of, imap_server, login_imaplib, parse_status, status_of

MSG = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
APPENDLIMIT = 64 * 1024 * 1024


@pytest.fixture
def c(imap_server):
    cl = Imap(imap_server.imap_port)
    cl.login()
    yield cl
    cl.close()


def lit(data, plus=True, eight=False):
    return (b"~" if eight else b"") + b"{%d%s}\r\n" % (len(data), b"+" if plus else b"") + data


def expect(c, text, status, code=None):
    untagged, tagged = c.cmd(text)
    assert status_of(tagged) == status.encode(), (text[:200], tagged)
    if code is not None:
        assert code_of(tagged) is not None and code_of(tagged).split()[0] == code, tagged
    return untagged, tagged


def status(c, mailbox, items="MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE"):
    untagged, _ = c.ok('STATUS "%s" (%s)' % (mailbox, items))
    return parse_status([r for r in untagged if r.startswith(b"* STATUS")][0])[1]


def appenduid(tagged):
    m = re.search(rb"\[APPENDUID (\d+) ([0-9:,]+)\]", tagged)
    assert m, tagged
    return int(m.group(1)), m.group(2).decode()


def fetch_literal(c, uid, item="BODY.PEEK[]"):
    """The literal a UID FETCH returns for one item, as bytes."""
    untagged, tagged = c.ok("UID FETCH %d (%s)" % (uid, item))
    for r in untagged:
        m = re.search(rb"(BODY|BINARY)\[\] ~?\{(\d+)\}\r\n", r)
        if m:
            n = int(m.group(2))
            return r[m.end():m.end() + n]
    raise AssertionError("no literal in %r" % untagged)


# ---------------- the ordinary path ----------------

def test_append_returns_appenduid(c):
    uv = status(c, "INBOX")["UIDVALIDITY"]
    _, tagged = c.ok(b"APPEND INBOX " + lit(MSG))
    assert appenduid(tagged) == (uv, "1")
    _, tagged = c.ok(b"APPEND inbox " + lit(MSG))
    assert appenduid(tagged) == (uv, "2")
    st = status(c, "INBOX")
    assert st["MESSAGES"] == 2 and st["UIDNEXT"] == 3 and st["UNSEEN"] == 2 and st["SIZE"] == 2 * len(MSG)


def test_append_synchronizing_literal(c):
    t = c.tag()
    c.send(t + " APPEND Drafts {%d}\r\n" % len(MSG))
    cont = c.response()
    assert cont.startswith(b"+ "), cont
    c.send(MSG + b"\r\n")
    untagged, tagged = c.until(t)
    assert status_of(tagged) == b"OK", tagged
    assert appenduid(tagged)[1] == "1"
    assert status(c, "Drafts")["MESSAGES"] == 1


@pytest.mark.parametrize("plus", [False, True])
def test_append_literal_longer_than_a_command_line(c, plus):
    # More than the 64 KB a command line may hold, in one piece.
    data = b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 300
    t = c.tag()
    if plus:
        c.send(t.encode() + b" APPEND INBOX " + lit(data) + b"\r\n")
    else:
        c.send(t + " APPEND INBOX {%d}\r\n" % len(data))
        assert c.response().startswith(b"+")
        c.send(data + b"\r\n")
    _, tagged = c.until(t)
    assert status_of(tagged) == b"OK", tagged
    assert status(c, "INBOX")["SIZE"] == len(data)


def test_append_flags_and_date(c):
    date = "05-Mar-2021 10:11:12 +0100"
    _, tagged = c.ok(b'APPEND INBOX (\\Seen \\Flagged $Label) "' + date.encode() + b'" ' + lit(MSG))
    uid = int(appenduid(tagged)[1])
    st = status(c, "INBOX")
    assert st["UNSEEN"] == 0
    c.ok("SELECT INBOX")
    untagged, _ = c.ok("UID FETCH %d (FLAGS INTERNALDATE)" % uid)
    line = untagged[-1].decode()
    flags = set(re.search(r"FLAGS \(([^)]*)\)", line).group(1).split())
    assert flags == {"\\Seen", "\\Flagged", "$Label"}
    got = re.search(r'INTERNALDATE "([^"]+)"', line).group(1)
    expected = calendar.timegm((2021, 3, 5, 9, 11, 12))
    # Internaldate2tuple gives local time, which mktime turns back into UTC.
    assert time.mktime(imaplib.Internaldate2tuple(('INTERNALDATE "%s"' % got).encode())) == expected, got


@pytest.mark.parametrize("date", [
    " 5-Mar-2021 10:11:12 +0100", "05-mar-2021 10:11:12 -0000", "29-Feb-2024 23:59:59 +1400",
    "31-Dec-1999 00:00:00 -1200", "01-Jan-2000 12:00:60 +0000"])
def test_append_valid_dates(c, date):
    c.ok(b'APPEND INBOX "' + date.encode() + b'" ' + lit(MSG))


@pytest.mark.parametrize("date", [
    "5-Mar-2021 10:11:12 +0100", "32-Mar-2021 10:11:12 +0100", "29-Feb-2023 10:11:12 +0100",
    "00-Mar-2021 10:11:12 +0100", "05-Foo-2021 10:11:12 +0100", "05-Mar-2021 24:00:00 +0100",
    "05-Mar-2021 10:60:00 +0100", "05-Mar-2021 10:11:12 0100", "05-Mar-2021 10:11:12 +01",
    "05-Mar-21 10:11:12 +0100", "05-Mar-2021 10:11:12 +0160", "05-Mar-2021T10:11:12 +0100", "",
    "Fri, 05 Mar 2021 10:11:12 +0100"])
def test_append_invalid_dates(c, date):
    expect(c, b'APPEND INBOX "' + date.encode() + b'" ' + lit(MSG), "BAD")
    c.ok("NOOP")
    assert status(c, "INBOX")["MESSAGES"] == 0


@pytest.mark.parametrize("flags", ["(\\Recent)", "(\\Bogus)", '("quoted")', "(a(b)", "(\\Seen \\Recent)"])
def test_append_invalid_flags(c, flags):
    expect(c, b"APPEND INBOX " + flags.encode() + b" " + lit(MSG), "BAD")
    assert status(c, "INBOX")["MESSAGES"] == 0


@pytest.mark.parametrize("command", [
    b"APPEND", b"APPEND INBOX", b"APPEND INBOX (\\Seen)", b"APPEND INBOX hello", b'APPEND INBOX "hello"',
    b"APPEND INBOX (\\Seen) (\\Seen) " + lit(MSG), b"APPEND INBOX " + lit(MSG) + b" extra",
    b"APPEND INBOX UTF8 " + lit(MSG), b"APPEND INBOX UTF8 (" + lit(MSG) + b")",
    b"APPEND INBOX UTF8 (" + lit(MSG, eight=True) + b" " + lit(MSG, eight=True) + b")"])
def test_append_bad_syntax(c, command):
    expect(c, command, "BAD")
    c.ok("NOOP")
    assert status(c, "INBOX")["MESSAGES"] == 0


def test_append_needs_login(imap_server):
    cl = Imap(imap_server.imap_port)
    expect(cl, b"APPEND INBOX " + lit(b"hello"), "BAD")
    cl.login()
    assert status(cl, "INBOX")["MESSAGES"] == 0


def test_append_trycreate(c):
    expect(c, b"APPEND Nope " + lit(MSG), "NO", "TRYCREATE")
    expect(c, b'APPEND "a//b" ' + lit(MSG), "NO", "NONEXISTENT")
    # APPEND never creates the mailbox.
    untagged, _ = c.ok('LIST "" "Nope"')
    assert untagged == []


def test_append_utf7_mailbox(c):
    c.ok('CREATE "Entw&APw-rfe"')
    c.ok(b'APPEND "Entw&APw-rfe" ' + lit(MSG))
    assert status(c, "Entw&APw-rfe")["MESSAGES"] == 1


def test_append_empty_message_refused(c):
    expect(c, b"APPEND INBOX " + lit(b""), "NO")
    t = c.tag()
    c.send(t + " APPEND INBOX {0}\r\n")
    r = c.response()
    if r.startswith(b"+"):
        c.send(b"\r\n")
        _, tagged = c.until(t)
    else:
        tagged = r
    assert status_of(tagged) == b"NO", tagged
    assert status(c, "INBOX")["MESSAGES"] == 0


def test_append_toobig_without_reading_the_literal(c):
    t = c.tag()
    c.send(t + " APPEND INBOX {%d}\r\n" % (APPENDLIMIT + 1))
    r = c.response()
    # No "+": the server says NO at once and the client never sends the data.
    assert r.startswith(t.encode() + b" NO [TOOBIG]"), r
    c.ok("NOOP")
    t = c.tag()
    c.send(t + " APPEND INBOX (\\Seen) {99999999999999}\r\n")
    r = c.response()
    assert r.startswith(t.encode() + b" NO [TOOBIG]"), r
    c.ok("NOOP")
    assert status(c, "INBOX")["MESSAGES"] == 0


def test_append_at_the_limit_in_capability(c):
    untagged, _ = c.ok("CAPABILITY")
    assert b"APPENDLIMIT=%d" % APPENDLIMIT in untagged[0]


def test_append_to_selected_mailbox_reports_exists(imap_server):
    a = Imap(imap_server.imap_port)
    a.login()
    a.ok("SELECT INBOX")
    untagged, tagged = a.ok(b"APPEND INBOX " + lit(MSG))
    assert b"* 1 EXISTS" in untagged, untagged
    # Another session's APPEND shows up at this session's next command.
    b = Imap(imap_server.imap_port)
    b.login()
    b.ok(b"APPEND INBOX " + lit(MSG))
    untagged, _ = a.ok("NOOP")
    assert b"* 2 EXISTS" in untagged, untagged


def test_append_keeps_bare_lf_as_crlf(c):
    raw = b"Subject: lf\n\nline one\nline two\n"
    _, tagged = c.ok(b"APPEND INBOX " + lit(raw))
    c.ok("SELECT INBOX")
    assert fetch_literal(c, int(appenduid(tagged)[1])) == crlf(raw)


# ---------------- BINARY and UTF8 ----------------

def test_append_literal8_with_nul(c):
    data = b"Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\x01\x02\xff end\r\n"
    _, tagged = c.ok(b"APPEND INBOX " + lit(data, eight=True))
    uid = int(appenduid(tagged)[1])
    assert status(c, "INBOX")["SIZE"] == len(data)
    c.ok("SELECT INBOX")
    assert fetch_literal(c, uid, "BINARY.PEEK[]") == data


def test_append_nul_in_ordinary_literal_is_bad(c):
    data = b"Subject: bin\r\n\r\n\x00\r\n"
    expect(c, b"APPEND INBOX " + lit(data), "BAD")
    # With a synchronizing literal too; the rest of the literal is skipped.
    t = c.tag()
    c.send(t + " APPEND INBOX {%d}\r\n" % len(data))
    assert c.response().startswith(b"+")
    c.send(data + b"\r\n")
    _, tagged = c.until(t)
    assert status_of(tagged) == b"BAD", tagged
    c.ok("NOOP")
    assert status(c, "INBOX")["MESSAGES"] == 0


def test_append_utf8_form(c):
    data = "Subject: Grüße\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nÄrger\r\n".encode()
    c.ok("ENABLE UTF8=ACCEPT")
    _, tagged = c.ok(b"APPEND INBOX (\\Seen) UTF8 (" + lit(data, eight=True) + b")")
    assert appenduid(tagged)[1] == "1"
    assert status(c, "INBOX")["MESSAGES"] == 1


# ---------------- MULTIAPPEND ----------------

def test_multiappend(c):
    c.ok("CREATE Box")
    uv = status(c, "Box")["UIDVALIDITY"]
    _, tagged = c.ok(b'APPEND Box (\\Seen) ' + lit(MSG) + b' (\\Flagged) " 1-Jan-2020 00:00:00 +0000" ' +
                     lit(MSG + b"more\r\n") + b" " + lit(MSG))
    assert appenduid(tagged) == (uv, "1:3")
    st = status(c, "Box")
    assert st["MESSAGES"] == 3 and st["UNSEEN"] == 2


def test_multiappend_synchronizing(c):
    t = c.tag()
    c.send(t + " APPEND INBOX {%d}\r\n" % len(MSG))
    assert c.response().startswith(b"+")
    c.send(MSG + b" (\\Seen) {%d}\r\n" % len(MSG))
    assert c.response().startswith(b"+")
    c.send(MSG + b"\r\n")
    _, tagged = c.until(t)
    assert appenduid(tagged)[1] == "1:2", tagged


@pytest.mark.parametrize("second", [
    lit(b""), b'"bad date" ' + lit(MSG), b"(\\Recent) " + lit(MSG), b"(\\Seen)", b"junk"])
def test_multiappend_checks_everything_first(c, second):
    untagged, tagged = c.cmd(b"APPEND INBOX " + lit(MSG) + b" " + second)
    assert status_of(tagged) in (b"NO", b"BAD"), tagged
    st = status(c, "INBOX")
    assert st["MESSAGES"] == 0 and st["UIDNEXT"] == 1


def test_multiappend_all_or_nothing_when_the_store_refuses(imap_server):
    """The second message brings the mailbox past its 64 keywords: the store
    refuses it, and the first, already stored, is taken back."""
    a = Imap(imap_server.imap_port)
    a.login()
    a.ok("CREATE K")
    watcher = Imap(imap_server.imap_port)
    watcher.login()
    watcher.ok("SELECT K")
    many = b"(" + b" ".join(b"$k%d" % i for i in range(64)) + b")"
    untagged, tagged = a.cmd(b"APPEND K ($first) " + lit(MSG) + b" " + many + b" " + lit(MSG))
    assert status_of(tagged) == b"NO" and code_of(tagged) == "LIMIT", tagged
    assert status(a, "K", "MESSAGES")["MESSAGES"] == 0
    # A session that had the mailbox selected ends up with nothing either.
    untagged, _ = watcher.ok("NOOP")
    exists = [int(r.split()[1]) for r in untagged if r.endswith(b" EXISTS")]
    expunged = [r for r in untagged if r.endswith(b" EXPUNGE")]
    assert (exists == [] and expunged == []) or (exists[-1] == len(expunged))
    # The mailbox works on.
    a.ok(b"APPEND K " + lit(MSG))
    assert status(a, "K", "MESSAGES")["MESSAGES"] == 1


def test_imaplib_append(imap_server):
    m = login_imaplib(imap_server)
    typ, data = m.append("Drafts", "(\\Draft)", imaplib.Time2Internaldate(time.time()),
                         b"Subject: draft\n\nwritten with imaplib\n")
    assert typ == "OK" and b"APPENDUID" in data[0], data
    typ, data = m.status("Drafts", "(MESSAGES)")
    assert b"MESSAGES 1" in data[0]
    typ, data = m.append("NoSuchBox", None, None, b"Subject: x\n\ny\n")
    assert typ == "NO" and b"[TRYCREATE]" in data[0], data
    m.logout()


# ---------------- the corpus ----------------

def test_every_corpus_message_round_trips(imap_server):
    """Each message appended as its exact bytes (bare LF and all), fetched
    back as the server stores it: the same bytes with bare LF made CRLF.
    The one with NUL bytes goes in as literal8 and comes back as BINARY."""
    c = Imap(imap_server.imap_port)
    c.login()
    c.ok("CREATE Corpus")
    files = corpus_files()
    assert len(files) >= 90
    uids = {}
    for name in files:
        with open(os.path.join(CORPUS, name), "rb") as f:
            data = f.read()
        _, tagged = c.ok(b"APPEND Corpus " + lit(data, eight=b"\x00" in data))
        uids[name] = (int(appenduid(tagged)[1]), data)
    c.ok("SELECT Corpus")
    for name, (uid, data) in uids.items():
        item = "BINARY.PEEK[]" if b"\x00" in data else "BODY.PEEK[]"
        got = fetch_literal(c, uid, item)
        assert got == crlf(data), "%s differs (%d vs %d bytes)" % (name, len(got), len(crlf(data)))
    st = status(c, "Corpus")
    assert st["MESSAGES"] == len(files)
    assert st["SIZE"] == sum(len(crlf(d)) for _, d in uids.values())
