"""SEARCH and UID SEARCH against a real server: every kind of criterion, text
found by its decoded form (RFC 2047 subjects, quoted-printable, base64, other
charsets, HTML), sequence numbers against UIDs, the ESEARCH forms of RFC 4731
and IMAP4rev2, SEARCHRES (RETURN (SAVE) and "$"), MODSEQ, errors (BAD, NO
[BADCHARSET]), expunges that SEARCH by number must not report, and messages
found the moment they arrive, whether the background indexer has reached
them or not. Uses its own small raw client (exact bytes) and imaplib."""
import base64
import datetime
import imaplib
import os
import re
import socket
import sqlite3
import time

import pytest

USER = "alice"
PASSWORD = "pass"


class Raw:
    """A raw IMAP client: cmd() sends one tagged command and returns the
    untagged lines and the tagged line, as bytes without CRLF. Literals in
    commands are sent non-synchronizing ({n+}, LITERAL+)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        self.n = 0
        self.greeting = self.line()

    def close(self):
        self.sock.close()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk
        i = self.buf.index(b"\r\n")
        ln, self.buf = self.buf[:i], self.buf[i + 2:]
        m = re.search(rb"\{(\d+)\}$", ln)
        if m:  # a literal in a response: keep it in the line
            n = int(m.group(1))
            while len(self.buf) < n:
                self.buf += self.sock.recv(65536)
            ln += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]
            ln += self.line()
        return ln

    def cmd(self, text):
        self.n += 1
        tag = b"s%d" % self.n
        data = text.encode() if isinstance(text, str) else text
        self.sock.sendall(tag + b" " + data + b"\r\n")
        untagged = []
        while True:
            ln = self.line()
            if ln.startswith(tag + b" "):
                return untagged, ln
            untagged.append(ln)

    def ok(self, text):
        u, t = self.cmd(text)
        assert b" OK " in t, (text, u, t)
        return u

    def search(self, text):
        """The numbers of the one "* SEARCH" line (MODSEQ data dropped)."""
        u = self.ok(text)
        lines = [x for x in u if x.startswith(b"* SEARCH")]
        assert len(lines) == 1, (text, u)
        return [int(x) for x in re.sub(rb"\(MODSEQ \d+\)", b"", lines[0]).split()[2:]]

    def esearch(self, text):
        u = self.ok(text)
        lines = [x for x in u if x.startswith(b"* ESEARCH")]
        assert len(lines) <= 1, (text, u)
        return lines[0] if lines else None


def lit(s):
    """A non-synchronizing literal of UTF-8 text."""
    b = s.encode() if isinstance(s, str) else s
    return b"{%d+}\r\n" % len(b) + b


@pytest.fixture
def srv(server):
    server.add_user(USER, PASSWORD)
    return server


def session(srv, select="INBOX"):
    c = Raw(srv.ports["imap"])
    c.ok("LOGIN %s %s" % (USER, PASSWORD))
    if select:
        c.ok("SELECT %s" % select)
    return c


def mail(subject, body="body\r\n", headers=b"", date=b"Mon, 2 Jan 2006 15:04:05 +0000"):
    if isinstance(subject, str):
        subject = subject.encode()
    if isinstance(body, str):
        body = body.encode()
    return (b"From: Ann Example <ann@example.com>\r\nTo: bob@example.org\r\nCc: carol@example.net\r\n"
            b"Subject: " + subject + b"\r\nDate: " + date + b"\r\nMessage-ID: <%d@test>\r\n" % time.monotonic_ns()
            + headers + b"\r\n" + body)


def deliver(srv, *messages):
    for m in messages:
        srv.deliver(USER, m)


def utc_day(t=None):
    d = datetime.datetime.now(datetime.timezone.utc) if t is None else t
    return "%d-%s-%d" % (d.day, d.strftime("%b"), d.year)


# ---------------------------------------------------------------- numbers

def test_sequence_numbers_and_uids(srv):
    deliver(srv, *[mail("alpha %d" % i) for i in range(1, 6)])
    c = session(srv)
    c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    # Sequence numbers 1..4 are now UIDs 1, 3, 4, 5.
    assert c.search("SEARCH SUBJECT alpha") == [1, 2, 3, 4]
    assert c.search("UID SEARCH SUBJECT alpha") == [1, 3, 4, 5]
    assert c.search("SEARCH SUBJECT \"alpha 3\"") == [2]
    assert c.search("UID SEARCH SUBJECT \"alpha 3\"") == [3]
    assert c.search("SEARCH 2:3") == [2, 3]
    assert c.search("UID SEARCH 2:3") == [3, 4]
    assert c.search("SEARCH UID 2:4") == [2, 3]
    assert c.search("UID SEARCH UID 2:4") == [3, 4]
    assert c.search("SEARCH *") == [4]
    assert c.search("UID SEARCH *") == [5]
    assert c.search("UID SEARCH UID 100:*") == [5]
    assert c.search("SEARCH 3:* NOT 4") == [3]
    assert c.search("SEARCH 7:9") == []
    assert c.search("SEARCH SUBJECT nothing") == []
    u, t = c.cmd("SEARCH ALL")
    assert u == [b"* SEARCH 1 2 3 4"]
    c.close()


def test_flags_keywords_sizes_dates(srv):
    deliver(srv, mail("one"), mail("two", "x" * 5000),
            mail("three", date=b"Sat, 1 Feb 2020 23:30:00 -0800"), mail("four", date=b"nonsense"))
    c = session(srv)
    c.ok("STORE 1 +FLAGS (\\Seen \\Flagged)")
    c.ok("STORE 2 +FLAGS (\\Answered $Forwarded)")
    c.ok("STORE 3 +FLAGS (\\Draft \\Deleted)")
    assert c.search("SEARCH SEEN") == [1]
    assert c.search("SEARCH UNSEEN") == [2, 3, 4]
    assert c.search("SEARCH FLAGGED") == [1]
    assert c.search("SEARCH UNFLAGGED") == [2, 3, 4]
    assert c.search("SEARCH ANSWERED") == [2]
    assert c.search("SEARCH UNANSWERED") == [1, 3, 4]
    assert c.search("SEARCH DELETED") == [3]
    assert c.search("SEARCH UNDELETED") == [1, 2, 4]
    assert c.search("SEARCH DRAFT") == [3]
    assert c.search("SEARCH UNDRAFT") == [1, 2, 4]
    assert c.search("SEARCH KEYWORD $forwarded") == [2]
    assert c.search("SEARCH UNKEYWORD $Forwarded") == [1, 3, 4]
    assert c.search("SEARCH KEYWORD $NotThere") == []
    assert c.search("SEARCH UNKEYWORD $NotThere") == [1, 2, 3, 4]
    assert c.search("SEARCH NEW") == [] and c.search("SEARCH RECENT") == []
    assert c.search("SEARCH OLD") == [1, 2, 3, 4]
    assert c.search("SEARCH LARGER 5000") == [2]
    assert c.search("SEARCH SMALLER 5000") == [1, 3, 4]
    assert c.search("SEARCH OR SEEN ANSWERED") == [1, 2]
    assert c.search("SEARCH NOT (SEEN) NOT DELETED") == [2, 4]
    assert c.search("SEARCH (OR FLAGGED DRAFT) (OR 1 2)") == [1]
    # INTERNALDATE by its day in UTC (delivered today).
    today = utc_day()
    assert c.search("SEARCH ON %s" % today) == [1, 2, 3, 4]
    assert c.search("SEARCH SINCE %s" % today) == [1, 2, 3, 4]
    assert c.search("SEARCH BEFORE %s" % today) == []
    assert c.search("SEARCH BEFORE 1-Jan-2000 ") == []
    # Date: by its own day: 1 Feb 2020 in -0800 is 2 Feb in UTC.
    assert c.search("SEARCH SENTON 1-Feb-2020") == [3]
    assert c.search("SEARCH SENTON 2-Feb-2020") == []
    assert c.search("SEARCH SENTBEFORE 1-Feb-2020") == [1, 2]
    assert c.search("SEARCH SENTSINCE 2-Jan-2006") == [1, 2, 3, 4]
    # No usable Date: the arrival day counts.
    assert c.search("SEARCH SENTON %s" % today) == [4]
    c.close()


def test_internaldate_is_compared_in_utc(srv):
    c = session(srv)
    m = mail("appended")
    # 23:30 on 1 February at -0800 is 07:30 on 2 February UTC.
    c.ok(b'APPEND INBOX "01-Feb-2020 23:30:00 -0800" ' + lit(m))
    c.ok("NOOP")
    assert c.search("SEARCH ON 2-Feb-2020") == [1]
    assert c.search("SEARCH ON 1-Feb-2020") == []
    assert c.search("SEARCH BEFORE 2-Feb-2020") == []
    assert c.search("SEARCH BEFORE 3-Feb-2020 SINCE 2-Feb-2020") == [1]
    c.close()


# ---------------------------------------------------------------- text

def b64word(s, charset="UTF-8"):
    return "=?%s?B?%s?=" % (charset, base64.b64encode(s.encode(charset)).decode())


def test_text_is_searched_decoded(srv):
    deliver(
        srv,
        # 1: an RFC 2047 subject
        mail(b64word("Gr\u00fc\u00dfe aus K\u00f6ln") + " =?ISO-8859-1?Q?caf=E9?="),
        # 2: a quoted-printable body
        mail("qp", b"Cr=C3=A8me br=C3=BBl=C3=A9e, soft=\r\nbreak\r\n",
             b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
             b"Content-Transfer-Encoding: quoted-printable\r\n"),
        # 3: HTML: tags are not text
        mail("html", b"<html><body><p>Hello <b>bold</b> world &amp; more</p></body></html>\r\n",
             b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"),
        # 4: base64 in another charset
        mail("latin", base64.b64encode("\u00c9t\u00e9 \u00e0 Paris".encode("iso-8859-1")) + b"\r\n",
             b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
             b"Content-Transfer-Encoding: base64\r\n"),
        # 5: multipart with both
        mail("multi", b"--b\r\nContent-Type: text/plain\r\n\r\nplain part here\r\n--b\r\n"
                      b"Content-Type: text/html\r\n\r\n<div>html part there</div>\r\n--b--\r\n",
             b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\nX-Custom: Marker Value\r\n"),
    )
    c = session(srv)
    s = lambda key, text, cs="CHARSET UTF-8 ": c.search(b"SEARCH " + cs.encode() + key.encode() + b" " + lit(text))
    assert s("SUBJECT", "k\u00f6ln") == [1]
    assert s("SUBJECT", "GR\u00dcSSE") == []          # simple folding: no ß -> ss
    assert s("SUBJECT", "GR\u00dc\u00dfE AUS K\u00d6LN") == [1]
    assert s("SUBJECT", "caf\u00e9") == [1]
    assert c.search("SEARCH SUBJECT \"=?UTF-8?B?\"") == []   # the encoded form is not the text
    assert s("BODY", "cr\u00e8me br\u00fbl\u00e9e") == [2]
    assert s("BODY", "softbreak") == [2]
    assert c.search("SEARCH BODY =C3") == []
    assert c.search("SEARCH BODY \"bold world\"") == [3]
    assert c.search("SEARCH BODY \"hello bold\"") == [3]
    assert c.search("SEARCH BODY \"& more\"") == [3]
    assert c.search("SEARCH BODY <b>") == []
    assert s("BODY", "\u00e9T\u00c9 \u00c0 paris") == [4]
    assert c.search("SEARCH BODY \"plain part\"") == [5]
    assert c.search("SEARCH BODY \"html part\"") == [5]
    assert c.search("SEARCH TEXT \"marker value\"") == [5]
    assert c.search("SEARCH BODY \"marker value\"") == []
    assert c.search("SEARCH HEADER X-Custom marker") == [5]
    assert c.search("SEARCH HEADER x-custom \"\"") == [5]
    assert c.search("SEARCH HEADER X-Missing \"\"") == []
    assert c.search("SEARCH FROM ANN@EXAMPLE") == [1, 2, 3, 4, 5]
    assert c.search("SEARCH FROM \"ann example\"") == [1, 2, 3, 4, 5]
    assert c.search("SEARCH TO bob CC carol BCC carol") == []
    assert c.search("SEARCH TO bob CC carol") == [1, 2, 3, 4, 5]
    assert c.search("SEARCH TEXT multi") == [5]
    assert c.search("SEARCH CHARSET US-ASCII TEXT multi") == [5]
    assert c.search("SEARCH OR BODY softbreak SUBJECT html") == [2, 3]
    assert c.search("SEARCH NOT BODY part") == [1, 2, 3, 4]
    c.close()


def test_imaplib_client(srv):
    deliver(srv, mail("Meeting about \u00e9t\u00e9 plans".encode()), mail("lunch"), mail("MEETING notes"))
    M = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
    M.login(USER, PASSWORD)
    M.select("INBOX")
    assert M.search(None, "SUBJECT", "meeting") == ("OK", [b"1 3"])
    assert M.search(None, "NOT", "SUBJECT", "meeting") == ("OK", [b"2"])
    typ, d = M.uid("SEARCH", None, "ALL")
    assert typ == "OK" and d == [b"1 2 3"]
    M.literal = "\u00c9T\u00c9".encode()
    assert M.search("UTF-8", "SUBJECT") == ("OK", [b"1"])
    M.store("2", "+FLAGS", "\\Seen")
    assert M.search(None, "UNSEEN") == ("OK", [b"1 3"])
    M.logout()


# ---------------------------------------------------------------- response forms

def test_esearch_forms(srv):
    deliver(srv, *[mail("item %d" % i) for i in range(1, 10)])
    c = session(srv)
    c.ok("STORE 4:6 +FLAGS.SILENT (\\Seen)")
    u, t = c.cmd("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN")
    assert u == [b'* ESEARCH (TAG "s%d") MIN 1 MAX 9 COUNT 6 ALL 1:3,7:9' % c.n], u
    assert c.esearch("UID SEARCH RETURN () SEEN").endswith(b" UID ALL 4:6")
    assert c.esearch("SEARCH RETURN (COUNT) SEEN").endswith(b") COUNT 3")
    assert c.esearch("SEARCH RETURN (MIN) SEEN").endswith(b") MIN 4")
    assert c.esearch("UID SEARCH RETURN (MAX) SEEN").endswith(b") UID MAX 6")
    # No match: only COUNT says anything.
    assert c.esearch("SEARCH RETURN (MIN MAX ALL COUNT) SUBJECT nothing").endswith(b") COUNT 0")
    assert re.fullmatch(rb'\* ESEARCH \(TAG "s\d+"\)', c.esearch("SEARCH RETURN (ALL) SUBJECT nothing"))
    c.close()

    # An IMAP4rev2 session always gets ESEARCH.
    c = session(srv, select=None)
    c.ok("ENABLE IMAP4rev2")
    c.ok("SELECT INBOX")
    assert c.esearch("SEARCH SEEN").endswith(b") ALL 4:6")
    assert c.esearch("UID SEARCH 1:2").endswith(b") UID ALL 1:2")
    assert re.fullmatch(rb'\* ESEARCH \(TAG "s\d+"\)', c.esearch("SEARCH SUBJECT nothing"))
    c.close()


def test_searchres_save_and_dollar(srv):
    deliver(srv, *[mail("res %d" % i) for i in range(1, 7)])
    c = session(srv)
    c.ok("STORE 2,4 +FLAGS.SILENT (\\Flagged)")
    # SAVE alone: no ESEARCH, just OK.
    u, t = c.cmd("SEARCH RETURN (SAVE) FLAGGED")
    assert u == [] and b" OK " in t
    assert c.search("SEARCH $") == [2, 4]
    assert c.search("UID SEARCH UID $") == [2, 4]
    assert c.search("SEARCH NOT $") == [1, 3, 5, 6]
    assert c.search("SEARCH OR $ 6") == [2, 4, 6]
    u = c.ok("FETCH $ (FLAGS)")
    assert len([x for x in u if b"FETCH" in x]) == 2
    # SAVE with MIN: only the minimum is kept; with ALL as well, output too.
    assert c.esearch("UID SEARCH RETURN (SAVE MIN ALL) FLAGGED").endswith(b") UID MIN 2 ALL 2,4")
    assert c.search("SEARCH $") == [2]
    assert c.esearch("SEARCH RETURN (SAVE MIN MAX) ALL").endswith(b") MIN 1 MAX 6")
    assert c.search("SEARCH $") == [1, 6]
    # "$" follows the messages, not their numbers.
    c.ok("SEARCH RETURN (SAVE) 2:3")
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    assert c.search("SEARCH $") == [1, 2]
    assert c.search("UID SEARCH $") == [2, 3]
    # A failed SEARCH with SAVE empties it.
    u, t = c.cmd("SEARCH RETURN (SAVE) CHARSET KOI8-R ALL")
    assert b" NO [BADCHARSET" in t
    assert c.search("SEARCH $") == []
    c.ok("SEARCH RETURN (SAVE) ALL")
    u, t = c.cmd("SEARCH RETURN (SAVE) FROBNICATE")
    assert b" BAD " in t
    assert c.search("SEARCH $") == []
    # Leaving the mailbox forgets it.
    c.ok("SEARCH RETURN (SAVE) ALL")
    c.ok("SELECT INBOX")
    assert c.search("SEARCH $") == []
    c.close()


def test_modseq(srv):
    deliver(srv, mail("m1"), mail("m2"), mail("m3"))
    c = session(srv)
    u = c.ok("SEARCH MODSEQ 1")
    m = re.fullmatch(rb"\* SEARCH 1 2 3 \(MODSEQ (\d+)\)", u[0])
    assert m, u
    highest = int(m.group(1))
    u = c.ok("STORE 2 +FLAGS (\\Seen)")
    assert b"MODSEQ (" in u[0]   # SEARCH MODSEQ enabled CONDSTORE
    changed = int(re.search(rb"MODSEQ \((\d+)\)", u[0]).group(1))
    assert changed > highest
    u = c.ok("SEARCH MODSEQ %d" % changed)
    assert u == [b"* SEARCH 2 (MODSEQ %d)" % changed]
    u = c.ok("UID SEARCH MODSEQ \"/flags/\\\\seen\" all %d" % changed)
    assert u == [b"* SEARCH 2 (MODSEQ %d)" % changed]
    assert c.ok("SEARCH MODSEQ %d" % (changed + 1)) == [b"* SEARCH"]
    assert c.esearch("SEARCH RETURN (ALL) MODSEQ 1").endswith(b") ALL 1:3 MODSEQ %d" % changed)
    # MIN alone: the modseq of the message MIN names.
    first = int(re.search(rb"MODSEQ \((\d+)\)", c.ok("FETCH 1 (MODSEQ)")[0]).group(1))
    assert first < highest
    assert c.esearch("SEARCH RETURN (MIN) MODSEQ 1").endswith(b") MIN 1 MODSEQ %d" % first)
    assert c.esearch("SEARCH RETURN (MIN MAX) MODSEQ 1").endswith(b") MIN 1 MAX 3 MODSEQ %d" % highest)
    assert c.esearch("SEARCH RETURN (COUNT) MODSEQ 0").endswith(b") COUNT 3 MODSEQ %d" % changed)
    u = c.ok("FETCH 1 (FLAGS)")
    assert b"MODSEQ (" in u[0]
    c.close()


# ---------------------------------------------------------------- errors

def test_errors(srv):
    deliver(srv, mail("e1"))
    c = session(srv, select=None)
    u, t = c.cmd("SEARCH ALL")
    assert b" BAD " in t  # no mailbox selected
    c.ok("SELECT INBOX")
    for bad in ("SEARCH", "SEARCH FROBNICATE", "SEARCH SUBJECT", "SEARCH BEFORE 32-Jan-2020",
                "SEARCH BEFORE 1-Jan-20", "SEARCH LARGER big", "SEARCH 0", "SEARCH 1:", "SEARCH UID x",
                "SEARCH (SEEN", "SEARCH ()", "SEARCH NOT", "SEARCH OR SEEN", "SEARCH KEYWORD \\Seen",
                "SEARCH RETURN (PARTIAL 1:5) ALL", "SEARCH RETURN MIN ALL", "SEARCH CHARSET",
                "SEARCH MODSEQ", "SEARCH MODSEQ \"/flags/x\" 5", "UID SEARCH HEADER Subject",
                "SEARCH " + "NOT " * 70 + "ALL"):
        u, t = c.cmd(bad)
        assert b" BAD " in t, (bad, t)
        assert not any(x.startswith(b"* SEARCH") for x in u), (bad, u)
        c.ok("NOOP")  # the server hangs up after 20 BADs in a row
    for cs in ("KOI8-R", "ISO-8859-1", "\"WINDOWS-1252\""):
        u, t = c.cmd("SEARCH CHARSET %s SUBJECT x" % cs)
        assert re.search(rb" NO \[BADCHARSET \(UTF-8 US-ASCII\)\]", t), t
    assert c.search("SEARCH CHARSET utf-8 ALL") == [1]
    assert c.search("SEARCH CHARSET US-ASCII ALL") == [1]
    u, t = c.cmd("SEARCH " + "BODY x " * 101 + "ALL")
    assert b" NO [LIMIT]" in t
    # The session goes on.
    assert c.search("SEARCH ALL") == [1]
    c.close()


# ---------------------------------------------------------------- concurrency

def test_search_by_number_does_not_report_expunges(srv):
    deliver(srv, mail("x1"), mail("x2"), mail("x3"))
    a = session(srv)
    b = session(srv)
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # a still numbers the expunged message: SEARCH keeps the numbers.
    u = a.ok("SEARCH ALL")
    assert not any(b"EXPUNGE" in x for x in u), u
    assert [x for x in u if x.startswith(b"* SEARCH")] == [b"* SEARCH 2 3"]
    assert a.search("SEARCH SUBJECT x2") == [2]
    # UID SEARCH may report it.
    u = a.ok("UID SEARCH ALL")
    assert b"* 1 EXPUNGE" in u and b"* SEARCH 2 3" in u, u
    assert a.search("SEARCH ALL") == [1, 2]
    a.close()
    b.close()


def wait_indexed(srv, timeout=60):
    """Until the background indexer has nothing left to do."""
    db = os.path.join(srv.data, "roost.db")
    deadline = time.time() + timeout
    while time.time() < deadline:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
        try:
            n = con.execute("SELECT count(*) FROM search_queue WHERE big = 0").fetchone()[0]
            p = con.execute("SELECT count(*) FROM search_purge").fetchone()[0]
        finally:
            con.close()
        if n == 0 and p == 0:
            return
        time.sleep(0.2)
    raise AssertionError("the indexer did not catch up within %d s" % timeout)


def queued(srv):
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(srv.data, "roost.db"), uri=True, timeout=10)
    try:
        return con.execute("SELECT count(*) FROM search_queue").fetchone()[0]
    finally:
        con.close()


def test_new_mail_is_found_at_once(srv):
    deliver(srv, mail("old one", "ordinary words\r\n"), mail("old two", "rhinoceros here\r\n"),
            mail("old three", "abcx bcdx\r\n"))
    wait_indexed(srv)
    a = session(srv)
    b = session(srv)
    # Indexed candidates are checked exactly: 3 holds abc and bcd, not abcd.
    assert a.search("UID SEARCH BODY abcd") == []
    assert a.search("UID SEARCH BODY rhinoceros") == [2]
    # Delivered a moment ago by another process, and appended by another
    # session: found by the next search, before the indexer reached them.
    deliver(srv, mail("new one", "a rhinoceros arrives\r\n"))
    b.ok(b"APPEND INBOX " + lit(mail("new two", "another RHINOCEROS\r\n")))
    u = a.ok("UID SEARCH BODY rhinoceros")
    unindexed = queued(srv)
    assert b"* 5 EXISTS" in u, u
    assert [x for x in u if x.startswith(b"* SEARCH")] == [b"* SEARCH 2 4 5"], u
    assert a.search("SEARCH TEXT \"new two\"") == [5]
    # Expunged: gone from answers at once, and from the index soon.
    b.ok("UID STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("UID EXPUNGE 2")
    assert a.search("UID SEARCH BODY rhinoceros") == [4, 5]
    wait_indexed(srv)
    assert a.search("UID SEARCH BODY rhinoceros") == [4, 5]
    assert a.search("UID SEARCH BODY abcd") == []
    a.close()
    b.close()
    print("messages waiting for the indexer when searched: %d" % unindexed)


def test_many_messages_and_large_results(srv):
    c = session(srv)
    for i in range(1, 201):
        body = "common text %d%s\r\n" % (i, " special" if i % 10 == 0 else "")
        c.ok(b"APPEND INBOX " + lit(mail("bulk %d" % i, body)))
    c.ok("NOOP")
    assert c.search("SEARCH BODY special") == list(range(10, 201, 10))
    assert c.search("SEARCH BODY common") == list(range(1, 201))
    assert c.esearch("SEARCH RETURN (COUNT MIN MAX) BODY special").endswith(b") MIN 10 MAX 200 COUNT 20")
    wait_indexed(srv)
    assert c.search("SEARCH BODY special") == list(range(10, 201, 10))
    assert c.search("SEARCH SUBJECT \"bulk 1\" BODY special") == [10] + list(range(100, 200, 10))
    assert c.esearch("UID SEARCH RETURN (ALL) NOT BODY special").endswith(
        b") UID ALL 1:9,11:19,21:29,31:39,41:49,51:59,61:69,71:79,81:89,91:99,101:109,111:119,121:129,"
        b"131:139,141:149,151:159,161:169,171:179,181:189,191:199")
    c.close()
