"""Every corpus message goes in with `roost deliver` and comes back out of
RETR byte for byte (CRLF-normalised), with LIST sizes that match; dot-stuffing
and TOP are checked on the wire."""
import poplib

import pytest

from conftest import Server, corpus_files, crlf
from pop3util import PASSWORD, USER, Pop3, corpus, wire_form

FILES = corpus_files()


@pytest.fixture(scope="module")
def corpus_server(base_tmp):
    """One server holding the whole corpus in alice's INBOX, in corpus_files() order.
    The tests here only read (they never QUIT with deletions)."""
    s = Server(base_tmp, name="corpus").start()
    try:
        s.add_user(USER, PASSWORD)
        for name in FILES:
            s.deliver(USER, corpus(name))
        yield s
    finally:
        s.stop()


def stored(name):
    """What `roost deliver` stores: CRLF-normalised, and without a leading mbox
    "From " envelope line (cpython-msg_25 and _43 have one), which an MDA drops
    as documented in `roost help deliver`."""
    data = corpus(name)
    if data.startswith(b"From "):
        data = data[data.index(b"\n") + 1:]
    return crlf(data)


def expected(name):
    return wire_form(stored(name))


def test_corpus_is_complete():
    assert len(FILES) == 94, len(FILES)


def test_corpus_retr_poplib_byte_identical(corpus_server):
    old = poplib._MAXLINE
    poplib._MAXLINE = 1 << 20  # gen-overlong-lines has a 12000-octet line
    try:
        P = poplib.POP3("127.0.0.1", corpus_server.ports["pop3"], timeout=60)
        P.user(USER)
        P.pass_(PASSWORD)
        count, total = P.stat()
        assert count == len(FILES)
        _, listing, _ = P.list()
        sizes = {int(l.split()[0]): int(l.split()[1]) for l in listing}
        assert sorted(sizes) == list(range(1, len(FILES) + 1))
        assert sum(sizes.values()) == total
        bad = []
        for n, name in enumerate(FILES, 1):
            _, lines, octets = P.retr(n)
            got = b"\r\n".join(lines) + b"\r\n"
            want = expected(name)
            if got != want:
                bad.append("%s: content differs (got %d bytes, want %d)" % (name, len(got), len(want)))
            if sizes[n] != len(want):
                bad.append("%s: LIST says %d, RETR content is %d" % (name, sizes[n], len(want)))
        P.quit()
        assert not bad, "\n".join(bad)
    finally:
        poplib._MAXLINE = old


def test_corpus_retr_raw_wire(corpus_server):
    """The same over a raw socket, checking the multi-line framing itself:
    every line that starts with '.' is stuffed, nothing else changes."""
    p = Pop3(corpus_server.ports["pop3"])
    p.login()
    bad = []
    for n, name in enumerate(FILES, 1):
        want = expected(name)
        size = int(p.cmd("LIST %d" % n).split()[2])
        status = p.cmd("RETR %d" % n)
        assert status.startswith(b"+OK"), (name, status)
        raw = p.body()
        stuffed = b"\r\n".join(b"." + l if l.startswith(b".") else l for l in want.split(b"\r\n"))
        if raw != stuffed:
            bad.append("%s: wire form differs" % name)
        if size != len(want):
            bad.append("%s: LIST %d != %d" % (name, size, len(want)))
    r, _ = p.quit()
    assert r.startswith(b"+OK")
    assert not bad, "\n".join(bad)


def test_corpus_uidl_unique(corpus_server):
    with Pop3(corpus_server.ports["pop3"]) as p:
        p.login()
        status, lines = p.multi_lines("UIDL")
        uids = [l.split()[1] for l in lines]
        assert len(uids) == len(FILES) == len(set(uids))
        p.quit()


def test_mailbox_list_agrees_with_pop3(corpus_server):
    from pop3util import mailbox_list
    boxes = mailbox_list(corpus_server)
    assert boxes["INBOX"][0] == len(FILES)
    # The stored size is the CRLF-normalised size (without the final CRLF the
    # server adds to messages that lack one).
    assert boxes["INBOX"][1] == sum(len(stored(f)) for f in FILES)


# --- dot-stuffing and TOP on gen-dot-stuffing.eml -------------------------------

DOT = "gen-dot-stuffing.eml"


@pytest.fixture
def dot_server(server):
    server.add_user(USER, PASSWORD)
    server.deliver(USER, corpus(DOT))
    return server


def split_head(data):
    i = data.index(b"\r\n\r\n")
    return data[:i + 4], data[i + 4:]


def test_dot_stuffing_round_trip_poplib(dot_server):
    P = poplib.POP3("127.0.0.1", dot_server.ports["pop3"], timeout=30)
    P.user(USER)
    P.pass_(PASSWORD)
    _, lines, _ = P.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == expected(DOT)
    P.quit()


def test_dot_stuffing_on_the_wire(dot_server):
    want = expected(DOT)
    body_lines = split_head(want)[1].split(b"\r\n")
    assert b"." in body_lines and b".." in body_lines  # the fixture is what we think
    with Pop3(dot_server.ports["pop3"]) as p:
        p.login()
        assert p.cmd("RETR 1").startswith(b"+OK")
        raw = p.body()
        for l in raw.split(b"\r\n")[:-1]:
            # After stuffing no line but the terminator may be a lone ".".
            assert l != b".", raw
        wire_lines = raw.split(b"\r\n")
        assert b".." in wire_lines and b"..." in wire_lines and b"..text" in wire_lines, raw
        # The final "." line of the message arrives stuffed, then the terminator.
        assert raw.endswith(b"\r\n..\r\n"), raw[-40:]
        # The session is in sync: the next command gets its own answer.
        assert p.cmd("NOOP").startswith(b"+OK")


def test_top_0_and_3(dot_server):
    head, body = split_head(expected(DOT))
    body_lines = body.split(b"\r\n")[:-1]
    with Pop3(dot_server.ports["pop3"]) as p:
        p.login()
        status, got = p.multi("TOP 1 0")
        assert status.startswith(b"+OK"), status
        assert got == head
        status, got = p.multi("TOP 1 3")
        assert got == head + b"".join(l + b"\r\n" for l in body_lines[:3])
        status, got = p.multi("TOP 1 %d" % len(body_lines))
        assert got == expected(DOT)
        status, got = p.multi("TOP 1 %d" % (len(body_lines) - 1))
        assert got == head + b"".join(l + b"\r\n" for l in body_lines[:-1])
        assert p.cmd("NOOP").startswith(b"+OK")


def test_top_on_awkward_messages(server):
    """TOP n 0 on messages without a body separator or with an empty body."""
    server.add_user(USER, PASSWORD)
    names = ["gen-headers-only.eml", "gen-empty-body.eml", "gen-minimal.eml", "gen-mixed-line-endings.eml",
             "gen-huge-header-block.eml"]
    for name in names:
        server.deliver(USER, corpus(name))
    with Pop3(server.ports["pop3"]) as p:
        p.login()
        for n, name in enumerate(names, 1):
            want = expected(name)
            status, got = p.multi("TOP %d 0" % n)
            assert status.startswith(b"+OK"), (name, status)
            if b"\r\n\r\n" in want:
                assert got == split_head(want)[0], name
            else:
                # No blank line: the whole message is header.
                assert got == want, name
            status, got = p.multi("TOP %d 100000" % n)
            assert got == want, name
        assert p.cmd("NOOP").startswith(b"+OK")


def test_bare_lf_message_is_served_with_crlf(server):
    server.add_user(USER, PASSWORD)
    raw = corpus("gen-plain-bare-lf.eml")
    assert b"\r\n" not in raw
    server.deliver(USER, raw)
    with Pop3(server.ports["pop3"]) as p:
        p.login()
        size = int(p.cmd("LIST 1").split()[2])
        status, got = p.multi("RETR 1")
        assert got == crlf(raw)
        assert size == len(got)
