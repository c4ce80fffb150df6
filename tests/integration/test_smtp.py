"""SMTP, submission and LMTP against a real `roost serve`: the RFC 5321/2033/
6409/3030/3461/4954 rules, local domains and aliases, and the unhappy paths
(wrong order, bad syntax, bare LF, NUL, overlong lines, size lies, too many
recipients, errors, a client that vanishes mid-message). Messages are read
back over IMAP to prove what was stored."""
import base64
import imaplib
import os
import socket
import sqlite3
import ssl
import time

import pytest

from conftest import crlf
from smtputil import Smtp, caps

MSG = b"From: x@remote.example\r\nSubject: hello\r\n\r\nbody line\r\n"


@pytest.fixture
def mx(make_server):
    # MSG's From: is a stranger's; the submission From: check has tests of its own.
    s = make_server({"server.hostname": "mx.example.com", "smtp.domains": "example.com, example.net",
                     "submission.check_from": "no"})
    s.add_user("alice@example.com", "apass")
    s.add_user("bob", "bpass")
    return s


def imap_messages(server, user, password, box="INBOX"):
    m = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    try:
        m.login(user, password)
        typ, data = m.select('"%s"' % box, readonly=True)
        assert typ == "OK", data
        n = int(data[0])
        out = []
        for i in range(1, n + 1):
            typ, d = m.fetch(str(i), "(BODY.PEEK[])")
            assert typ == "OK"
            out.append(d[0][1])
        return out
    finally:
        m.logout()


def strip_received(msg: bytes) -> bytes:
    assert msg.startswith(b"Received: "), msg[:200]
    # The trace header is folded onto continuation lines that start with a tab.
    i = msg.index(b"\r\n") + 2
    while msg[i:i + 1] == b"\t":
        i = msg.index(b"\r\n", i) + 2
    return msg[i:]


def send(c, frm, rcpts, data, expect_rcpt=250):
    assert c.cmd("MAIL FROM:<%s>" % frm)[0] == 250
    for r in rcpts:
        code, lines = c.cmd("RCPT TO:<%s>" % r)
        assert code == expect_rcpt, (r, code, lines)
    assert c.cmd("DATA")[0] == 354
    c.send(data + b".\r\n")
    return c.reply()


def db_count(server, sql):
    con = sqlite3.connect(os.path.join(server.data, "roost.db"))
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


# --- greeting, EHLO, order -----------------------------------------------------

def test_greeting_and_ehlo_capabilities(mx):
    c = Smtp(mx.ports["smtp"])
    assert c.greeting[0] == 220 and "mx.example.com" in c.greeting[1][0] and "ESMTP" in c.greeting[1][0]
    lines = c.ehlo()
    assert lines[0].startswith("mx.example.com")
    cp = caps(lines)
    for k in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "BINARYMIME", "DSN", "STARTTLS"):
        assert k in cp, cp
    assert cp["SIZE"] == str(64 * 1024 * 1024)
    assert "AUTH" not in cp  # port 25 takes no logins
    assert c.cmd("HELO client.example")[0] == 250
    assert c.cmd("NOOP")[0] == 250
    code, lines = c.cmd("HELP")
    assert code == 214
    assert c.cmd("QUIT") == (221, ["2.0.0 mx.example.com closing connection"])
    assert c.closed()


def test_submission_offers_auth_and_lmtp_wants_lhlo(mx):
    c = Smtp(mx.ports["submission"])
    cp = caps(c.ehlo())
    assert cp["AUTH"].split() == ["PLAIN", "LOGIN"]
    c.close()
    c = Smtp(mx.ports["lmtp"])
    assert "LMTP" in c.greeting[1][0]
    assert c.cmd("EHLO x")[0] == 500
    assert c.cmd("HELO x")[0] == 500
    cp = caps(c.ehlo(verb="LHLO"))
    assert "PIPELINING" in cp and "STARTTLS" in cp
    c.close()
    c = Smtp(mx.ports["smtp"])
    assert c.cmd("LHLO x")[0] == 500
    c.close()


def test_commands_out_of_order(mx):
    c = Smtp(mx.ports["smtp"])
    code, lines = c.cmd("MAIL FROM:<a@b.example>")
    assert code == 503 and lines[0].startswith("5.5.1")
    c.ehlo()
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 503
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 250
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 503  # nested
    assert c.cmd("DATA")[0] == 554  # no valid recipients
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 503  # RSET ended the transaction
    assert c.cmd("STARTTLS x")[0] == 501
    assert c.cmd("FOO")[0] == 500
    c.close()


def test_bad_syntax_replies(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    assert c.cmd("MAIL FROM:a@b.example")[0] == 501  # no angle brackets
    assert c.cmd("MAIL FROM:<a@b.example> FOO=1")[0] == 555
    assert c.cmd("MAIL FROM:<a@b.example> SIZE=abc")[0] == 501
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 250
    assert c.cmd("RCPT TO:<not an address>")[0] in (501, 553)
    assert c.cmd("RCPT TO:<al\xe9@example.com>")[0] == 553  # UTF-8 without SMTPUTF8
    c.send(b"NOOP\x00\r\n")
    assert c.reply()[0] == 500
    c.close()


def test_helo_session_takes_no_extensions(mx):
    c = Smtp(mx.ports["smtp"])
    assert c.cmd("HELO client")[0] == 250
    assert c.cmd("MAIL FROM:<a@b.example> BODY=8BITMIME")[0] == 555
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 250
    c.close()


# --- recipients: local, unknown, relay, aliases ---------------------------------

def test_delivery_with_received_header(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo("sender.example")
    code, lines = send(c, "x@remote.example", ["alice@example.com"], MSG)
    assert code == 250 and lines[0].startswith("2.0.0")
    c.cmd("QUIT")
    [m] = imap_messages(mx, "alice@example.com", "apass")
    assert strip_received(m) == MSG
    head = m[:m.index(b";")].decode()
    assert "from sender.example ([127.0.0.1])" in head
    assert "by mx.example.com (Roost) with ESMTP id" in head
    assert "for <alice@example.com>" in head


def test_bare_name_accounts_at_every_local_domain(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    code, _ = send(c, "x@remote.example", ["bob@example.com", "BOB@example.net", "bob@mx.example.com", "bob@localhost"], MSG)
    assert code == 250
    c.close()
    msgs = imap_messages(mx, "bob", "bpass")
    assert len(msgs) == 1  # one message, four addresses of one mailbox
    assert db_count(mx, "SELECT count(*) FROM messages") == 1


def test_unknown_user_and_relay_refused(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    assert c.cmd("MAIL FROM:<x@remote.example>")[0] == 250
    code, lines = c.cmd("RCPT TO:<nobody@example.com>")
    assert code == 550 and lines[0].startswith("5.1.1")
    # Never an open relay, not even from loopback.
    code, lines = c.cmd("RCPT TO:<someone@elsewhere.example>")
    assert code == 554 and lines[0].startswith("5.7.1") and "Relay" in lines[0]
    code, lines = c.cmd("RCPT TO:<alice@example.com@elsewhere.example>")
    assert code >= 500
    code, lines = c.cmd("RCPT TO:<@elsewhere.example:alice@example.org>")  # source route to a foreign domain
    assert code == 554
    assert c.cmd("DATA")[0] == 554
    c.close()
    assert imap_messages(mx, "alice@example.com", "apass") == []


def test_postmaster_without_domain(mx):
    mx.cli("alias", "add", "postmaster@mx.example.com", "bob")
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    code, _ = send(c, "", ["Postmaster"], MSG)
    assert code == 250
    c.close()
    assert len(imap_messages(mx, "bob", "bpass")) == 1


def test_aliases_and_catch_all(mx):
    out = mx.cli("alias", "add", "team@example.org", "alice@example.com", "bob").stdout.decode()
    assert "team@example.org -> bob" in out
    assert mx.cli("alias", "add", "x@example.org", "nobody", check=False).returncode == 1
    assert mx.cli("alias", "add", "bad", "bob", check=False).returncode == 1
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    # example.org is local now (an alias lives there), but only team@ exists.
    assert c.cmd("MAIL FROM:<x@remote.example>")[0] == 250
    assert c.cmd("RCPT TO:<other@example.org>")[0] == 550
    assert c.cmd("RSET")[0] == 250
    assert send(c, "x@remote.example", ["TEAM@example.org"], MSG)[0] == 250
    mx.cli("alias", "add", "@example.org", "bob")
    assert send(c, "x@remote.example", ["other@example.org"], MSG)[0] == 250
    c.close()
    assert len(imap_messages(mx, "alice@example.com", "apass")) == 1
    assert len(imap_messages(mx, "bob", "bpass")) == 2
    listing = mx.cli("alias", "list").stdout.decode().splitlines()
    assert listing == ["@example.org bob", "team@example.org alice@example.com", "team@example.org bob"]
    mx.cli("alias", "del", "team@example.org")
    assert mx.cli("alias", "del", "team@example.org", check=False).returncode == 1
    assert mx.cli("alias", "list").stdout.decode().splitlines() == ["@example.org bob"]


def test_plus_addressing(make_server):
    s = make_server({"smtp.plus_folder": "yes"})
    s.add_user("carol@example.com", "cpass")
    s.cli("mailbox", "create", "--user", "carol@example.com", "lists")
    c = Smtp(s.ports["smtp"])
    c.ehlo()
    assert send(c, "x@remote.example", ["carol+lists@example.com"], MSG)[0] == 250
    assert send(c, "x@remote.example", ["carol+nofolder@example.com"], MSG)[0] == 250
    c.close()
    assert len(imap_messages(s, "carol@example.com", "cpass", "lists")) == 1
    assert len(imap_messages(s, "carol@example.com", "cpass")) == 1


def test_plus_addressing_without_folders(mx):
    mx.cli("mailbox", "create", "--user", "bob", "tag")
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    assert send(c, "x@remote.example", ["bob+tag@example.com"], MSG)[0] == 250
    c.close()
    assert len(imap_messages(mx, "bob", "bpass")) == 1
    assert imap_messages(mx, "bob", "bpass", "tag") == []


def test_many_recipients_stored_once(mx):
    for i in range(5):
        mx.add_user("u%d@example.com" % i, "p")
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    assert send(c, "x@remote.example", ["u%d@example.com" % i for i in range(5)], MSG)[0] == 250
    c.close()
    for i in range(5):
        assert len(imap_messages(mx, "u%d@example.com" % i, "p")) == 1
    assert db_count(mx, "SELECT count(*) FROM messages") == 1


def test_too_many_recipients(make_server):
    s = make_server({"smtp.max_recipients": "100"})
    s.add_user("dave", "p")
    c = Smtp(s.ports["smtp"])
    c.ehlo()
    assert c.cmd("MAIL FROM:<x@remote.example>")[0] == 250
    # 1000 RCPTs pipelined in one write: 100 accepted, the rest 452.
    c.send(b"".join(b"RCPT TO:<dave@localhost>\r\n" for _ in range(1000)))
    codes = [c.reply()[0] for _ in range(1000)]
    assert codes[:100] == [250] * 100
    assert set(codes[100:]) == {452}
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b".\r\n")
    assert c.reply()[0] == 250
    c.close()
    assert len(imap_messages(s, "dave", "p")) == 1


# --- the message text -------------------------------------------------------------

def test_dot_stuffing_and_long_lines(mx):
    body = b"Subject: dots\r\n\r\n..leading dot\r\n.\r\n \r\n" + b"x" * 5000 + b"\r\nend\r\n"
    wire = body.replace(b"\r\n.", b"\r\n..")
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    assert send(c, "x@remote.example", ["bob@localhost"], wire)[0] == 250
    c.close()
    [m] = imap_messages(mx, "bob", "bpass")
    assert strip_received(m) == body


def test_smuggling_lf_dot_lf_does_not_end_the_message(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    assert c.cmd("MAIL FROM:<x@remote.example>")[0] == 250
    assert c.cmd("RCPT TO:<bob@localhost>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    smuggled = b"Subject: a\r\n\r\ntext\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nevil\r\n"
    c.send(smuggled + b".\r\n")
    assert c.reply()[0] == 250
    c.close()
    [m] = imap_messages(mx, "bob", "bpass")
    assert b"MAIL FROM:<evil@x>" in m
    assert imap_messages(mx, "alice@example.com", "apass") == []


def test_bare_lf_accepted_as_crlf(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    assert send(c, "x@remote.example", ["bob@localhost"], b"Subject: lf\n\nline one\nline two\r\n")[0] == 250
    c.close()
    [m] = imap_messages(mx, "bob", "bpass")
    assert strip_received(m) == b"Subject: lf\r\n\r\nline one\r\nline two\r\n"


def test_bare_lf_refused_when_configured(make_server):
    s = make_server({"smtp.bare_lf": "reject"})
    s.add_user("erin", "p")
    c = Smtp(s.ports["smtp"])
    c.ehlo()
    code, lines = send(c, "x@remote.example", ["erin@localhost"], b"Subject: lf\n\nbare\nend\r\n")
    assert code == 550 and lines[0].startswith("5.6.2")
    code, lines = send(c, "x@remote.example", ["erin@localhost"], b"Subject: cr\r\n\r\nbare\rCR\r\n")
    assert code == 550 and lines[0].startswith("5.6.2")
    # The session goes on: a clean message is taken.
    assert send(c, "x@remote.example", ["erin@localhost"], MSG)[0] == 250
    c.close()
    assert len(imap_messages(s, "erin", "p")) == 1


def test_nul_refused(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    code, lines = send(c, "x@remote.example", ["bob@localhost"], b"Subject: nul\r\n\r\na\x00b\r\n")
    assert code == 554 and lines[0].startswith("5.6.0")
    c.close()
    assert imap_messages(mx, "bob", "bpass") == []


def test_overlong_command_line(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    code, lines = c.cmd("NOOP " + "x" * 2000)
    assert code == 500 and lines[0].startswith("5.5.6")
    assert c.cmd("NOOP")[0] == 250  # in step again
    c.close()


def test_size_declared_too_big(make_server):
    s = make_server({"smtp.max_message_size": "2048"})
    c = Smtp(s.ports["smtp"])
    assert caps(c.ehlo())["SIZE"] == "2048"
    code, lines = c.cmd("MAIL FROM:<x@remote.example> SIZE=4096")
    assert code == 552 and lines[0].startswith("5.3.4")
    c.close()


def test_size_lie_is_caught(make_server):
    s = make_server({"smtp.max_message_size": "2048"})
    s.add_user("fay", "p")
    c = Smtp(s.ports["smtp"])
    c.ehlo()
    assert c.cmd("MAIL FROM:<x@remote.example> SIZE=100")[0] == 250
    assert c.cmd("RCPT TO:<fay@localhost>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: big\r\n\r\n" + b"y" * 70 + b"\r\n" * 0)
    c.send((b"z" * 76 + b"\r\n") * 1000 + b".\r\n")
    code, lines = c.reply()
    assert code == 552 and lines[0].startswith("5.3.4")
    # Nothing stored, and the session is usable.
    assert send(c, "x@remote.example", ["fay@localhost"], MSG)[0] == 250
    c.close()
    assert len(imap_messages(s, "fay", "p")) == 1


def test_vanishing_client_mid_data_leaves_nothing(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    assert c.cmd("MAIL FROM:<x@remote.example>")[0] == 250
    assert c.cmd("RCPT TO:<bob@localhost>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: cut\r\n\r\nhalf a message\r\n")
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    # Others are served meanwhile; the cut message never appears.
    d = Smtp(mx.ports["smtp"])
    d.ehlo()
    assert send(d, "x@remote.example", ["bob@localhost"], MSG)[0] == 250
    d.close()
    time.sleep(0.3)
    msgs = imap_messages(mx, "bob", "bpass")
    assert [strip_received(m) for m in msgs] == [MSG]
    assert "result=abandoned" in mx.read_log()


# --- pipelining, BDAT --------------------------------------------------------------

def test_pipelining_whole_transactions(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    one = (b"MAIL FROM:<x@remote.example>\r\nRCPT TO:<bob@localhost>\r\nRCPT TO:<nobody@example.com>\r\n"
           b"RCPT TO:<alice@example.com>\r\nDATA\r\n")
    c.send(one)
    assert [c.reply()[0] for _ in range(5)] == [250, 250, 550, 250, 354]
    # The end of one message and the next transaction in one write.
    c.send(MSG + b".\r\n" + b"MAIL FROM:<y@remote.example>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
    c.send(MSG + b".\r\nQUIT\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    assert len(imap_messages(mx, "bob", "bpass")) == 2
    assert len(imap_messages(mx, "alice@example.com", "apass")) == 1


def test_bdat_chunks(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    assert c.cmd("MAIL FROM:<x@remote.example> BODY=8BITMIME")[0] == 250
    assert c.cmd("RCPT TO:<bob@localhost>")[0] == 250
    part1 = b"Subject: chunks\r\n\r\n.dot stays\r\n"
    part2 = "caf\u00e9\r\n".encode()
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    code, lines = c.reply()
    assert code == 250 and str(len(part1)) in lines[0]
    assert c.cmd("DATA")[0] == 503  # not after BDAT
    c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    assert c.reply()[0] == 250
    # BDAT 0 LAST ends a message whose text came before.
    assert c.cmd("MAIL FROM:<x@remote.example>")[0] == 250
    assert c.cmd("RCPT TO:<bob@localhost>")[0] == 250
    c.send(b"BDAT 6\r\nhi\r\n\r\n")
    assert c.reply()[0] == 250
    assert c.cmd("BDAT 0 LAST")[0] == 250
    c.close()
    msgs = imap_messages(mx, "bob", "bpass")
    assert strip_received(msgs[0]) == part1 + part2
    assert strip_received(msgs[1]) == b"hi\r\n\r\n"


def test_bdat_nul_needs_binarymime(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    assert c.cmd("MAIL FROM:<x@remote.example> BODY=8BITMIME")[0] == 250
    assert c.cmd("RCPT TO:<bob@localhost>")[0] == 250
    text = b"Subject: nul\r\n\r\na\x00b\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(text) + text)
    code, lines = c.reply()
    assert code == 554 and lines[0].startswith("5.6.0")
    c.close()
    assert imap_messages(mx, "bob", "bpass") == []


def test_bdat_out_of_order_consumes_the_chunk(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    # The chunk looks like commands; it must be read and dropped, not run.
    chunk = b"RSET\r\nMAIL FROM:<a@b>\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
    code, lines = c.reply()
    assert code == 503
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("BDAT x")[0] == 501
    c.close()


# --- STARTTLS, AUTH, submission --------------------------------------------------

def test_starttls_resets_and_discards_pipelined_input(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    c.send(b"STARTTLS\r\nMAIL FROM:<injected@x>\r\n")
    assert c.reply()[0] == 220
    c.sock = mx.tls_context().wrap_socket(c.sock, server_hostname="localhost")
    # Not greeted after TLS: the injected MAIL was dropped and EHLO is needed again.
    assert c.cmd("MAIL FROM:<x@remote.example>")[0] == 503
    cp = caps(c.ehlo())
    assert "STARTTLS" not in cp
    assert send(c, "x@remote.example", ["bob@localhost"], MSG)[0] == 250
    c.close()
    [m] = imap_messages(mx, "bob", "bpass")
    assert b"with ESMTPS id" in m


def auth_plain(user, pw):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()


def test_submission_needs_auth_and_own_sender(mx):
    c = Smtp(mx.ports["submission"])
    c.ehlo()
    code, lines = c.cmd("MAIL FROM:<alice@example.com>")
    assert code == 530 and lines[0].startswith("5.7.0")
    code, lines = c.cmd("AUTH PLAIN " + auth_plain("alice@example.com", "wrong"))
    assert code == 535 and lines[0].startswith("5.7.8")
    assert c.cmd("AUTH CRAM-MD5")[0] == 504
    assert c.cmd("AUTH PLAIN " + auth_plain("alice@example.com", "apass"))[0] == 235
    assert c.cmd("AUTH PLAIN " + auth_plain("alice@example.com", "apass"))[0] == 503
    assert "AUTH" not in caps(c.ehlo())
    code, lines = c.cmd("MAIL FROM:<bob@example.com>")
    assert code == 553 and lines[0].startswith("5.7.1")
    code, lines = c.cmd("MAIL FROM:<>")
    assert code == 553
    assert send(c, "Alice@Example.com", ["bob@localhost"], MSG)[0] == 250
    assert send(c, "alice+news@example.com", ["bob@localhost"], MSG)[0] == 250
    c.close()
    assert len(imap_messages(mx, "bob", "bpass")) == 2


def test_submission_auth_login_and_cancel(mx):
    c = Smtp(mx.ports["submission"])
    c.ehlo()
    code, lines = c.cmd("AUTH LOGIN")
    assert code == 334 and base64.b64decode(lines[0]) == b"Username:"
    assert c.cmd("*")[0] == 501
    code, lines = c.cmd("AUTH LOGIN " + base64.b64encode(b"bob").decode())
    assert code == 334 and base64.b64decode(lines[0]) == b"Password:"
    assert c.cmd(base64.b64encode(b"bpass").decode())[0] == 235
    # A bare name may send as itself at any local domain.
    assert send(c, "bob@example.net", ["alice@example.com"], MSG)[0] == 250
    c.close()
    code, _ = Smtp(mx.ports["submission"]).cmd("EHLO x")
    assert code == 250


def test_submission_alias_may_be_sender_and_sent_copy(make_server):
    s = make_server({"submission.sent_copy": "yes", "submission.check_from": "no"})
    s.add_user("gus@example.com", "p")
    s.add_user("hal@example.com", "p")
    s.cli("alias", "add", "sales@example.com", "gus@example.com")
    c = Smtp(s.ports["submission"])
    c.ehlo()
    assert c.cmd("AUTH PLAIN " + auth_plain("gus@example.com", "p"))[0] == 235
    assert send(c, "sales@example.com", ["hal@example.com"], MSG)[0] == 250
    c.close()
    assert len(imap_messages(s, "hal@example.com", "p")) == 1
    [sent] = imap_messages(s, "gus@example.com", "p", "Sent")
    assert strip_received(sent) == MSG
    assert b"with ESMTPA id" in sent


def test_starttls_forgets_a_login(mx):
    c = Smtp(mx.ports["submission"])
    c.ehlo()
    assert c.cmd("AUTH PLAIN " + auth_plain("bob", "bpass"))[0] == 235
    c.starttls(mx.tls_context())
    c.ehlo()
    assert c.cmd("MAIL FROM:<bob@localhost>")[0] == 530  # log in again over TLS
    assert c.cmd("AUTH PLAIN " + auth_plain("bob", "bpass"))[0] == 235
    assert c.cmd("MAIL FROM:<bob@localhost>")[0] == 250
    c.close()


def test_auth_refused_on_smtp_port(mx):
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    assert c.cmd("AUTH PLAIN " + auth_plain("bob", "bpass"))[0] == 502
    c.close()


def test_submissions_implicit_tls(mx):
    c = Smtp(mx.ports["submissions"], tls_ctx=mx.tls_context())
    assert c.greeting[0] == 220
    cp = caps(c.ehlo())
    assert "STARTTLS" not in cp and "AUTH" in cp
    assert c.cmd("AUTH PLAIN " + auth_plain("bob", "bpass"))[0] == 235
    assert send(c, "bob@localhost", ["alice@example.com"], MSG)[0] == 250
    c.close()
    [m] = imap_messages(mx, "alice@example.com", "apass")
    assert b"with ESMTPSA id" in m


def non_loopback_ipv4():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent
        ip = s.getsockname()[0]
    except OSError:
        ip = None
    finally:
        s.close()
    return ip if ip and not ip.startswith("127.") else None


def test_submission_off_loopback_needs_starttls_before_auth(make_server):
    ip = non_loopback_ipv4()
    assert ip, "this machine has no non-loopback IPv4 address"
    port = __import__("conftest").free_port()
    s = make_server({"submission.listen": "%s:%d" % (ip, port)})
    s.add_user("ivy", "p")
    c = Smtp(port, host=ip)
    assert "AUTH" not in caps(c.ehlo())
    code, lines = c.cmd("AUTH PLAIN " + auth_plain("ivy", "p"))
    assert code == 538
    c.starttls(s.tls_context())
    assert "AUTH" in caps(c.ehlo())
    assert c.cmd("AUTH PLAIN " + auth_plain("ivy", "p"))[0] == 235
    c.close()


# --- LMTP -------------------------------------------------------------------------

def test_lmtp_replies_per_recipient(mx):
    c = Smtp(mx.ports["lmtp"])
    c.ehlo(verb="LHLO")
    assert c.cmd("MAIL FROM:<x@remote.example>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("RCPT TO:<nobody@anything.example>")[0] == 550
    assert c.cmd("RCPT TO:<bob@any.domain.example>")[0] == 250  # LMTP: every domain is local
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b".\r\n")
    r1, r2 = c.reply(), c.reply()
    assert r1[0] == 250 and "<alice@example.com>" in r1[1][0]
    assert r2[0] == 250 and "<bob@any.domain.example>" in r2[1][0]
    assert c.cmd("NOOP")[0] == 250
    c.close()
    [m] = imap_messages(mx, "alice@example.com", "apass")
    assert b"with LMTP id" in m
    assert len(imap_messages(mx, "bob", "bpass")) == 1


def test_lmtp_unix_socket(make_server, base_tmp):
    path = os.path.join(base_tmp, "lmtp-%d.sock" % os.getpid())
    s = make_server({"lmtp.listen": path})
    s.add_user("jo", "p")
    c = Smtp(None, path=path)
    c.ehlo(verb="LHLO")
    assert c.cmd("MAIL FROM:<>")[0] == 250
    assert c.cmd("RCPT TO:<jo@x.example>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b".\r\n")
    assert c.reply()[0] == 250
    c.close()
    assert len(imap_messages(s, "jo", "p")) == 1


def test_lmtp_too_big_refused_per_recipient(make_server):
    s = make_server({"smtp.max_message_size": "1024"})
    s.add_user("kim", "p")
    s.add_user("lee", "p")
    c = Smtp(s.ports["lmtp"])
    c.ehlo(verb="LHLO")
    assert send(c, "x@r.example", ["kim@localhost", "lee@localhost"], b"x" * 2000 + b"\r\n")[0] == 552
    assert c.reply()[0] == 552  # the second recipient's reply
    c.close()


# --- DSN and SMTPUTF8 parameters ------------------------------------------------------

def test_dsn_and_utf8_parameters(mx):
    mx.add_user("j\u00fcrgen@example.com", "p")
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    assert c.cmd("MAIL FROM:<x@remote.example> RET=HDRS ENVID=abc+2Bdef SMTPUTF8 BODY=8BITMIME")[0] == 250
    assert c.cmd("RCPT TO:<bob@localhost> NOTIFY=FAILURE,DELAY ORCPT=rfc822;bob@localhost")[0] == 250
    c.send("RCPT TO:<j\u00fcrgen@example.com> NOTIFY=NEVER\r\n".encode())
    assert c.reply()[0] == 250
    assert c.cmd("RCPT TO:<bob@localhost> NOTIFY=NEVER,SUCCESS")[0] == 501
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: gr\u00fc\u00dfe\r\n\r\n\u00e4\r\n.\r\n".encode())
    assert c.reply()[0] == 250
    c.close()
    # imaplib cannot log in with a UTF-8 name: read the stored trace header.
    con = sqlite3.connect(os.path.join(mx.data, "roost.db"))
    rows = con.execute("SELECT m.content FROM messages m JOIN entries e ON e.message_id = m.id"
                       " JOIN accounts a ON a.id = e.account_id WHERE a.name = ?", ("j\u00fcrgen@example.com",)).fetchall()
    con.close()
    assert len(rows) == 1 and b"with UTF8SMTP id" in rows[0][0]


# --- limits ------------------------------------------------------------------------

def test_too_many_errors_hang_up(make_server):
    s = make_server({"smtp.max_errors": "3"})
    c = Smtp(s.ports["smtp"])
    assert c.cmd("FOO")[0] == 500
    assert c.cmd("BAR")[0] == 500
    c.send(b"BAZ\r\n")
    assert c.reply()[0] == 500
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("4.7.0")
    assert c.closed()
    assert Smtp(s.ports["smtp"]).greeting[0] == 220  # others are served


def test_junk_commands_hang_up(make_server):
    s = make_server({"smtp.max_junk_commands": "5"})
    c = Smtp(s.ports["smtp"])
    for _ in range(5):
        assert c.cmd("NOOP")[0] == 250
    assert c.cmd("NOOP")[0] == 421
    assert c.closed()


def test_connections_per_ip(make_server):
    s = make_server({"limits.connections_per_ip": "2"})
    a, b = Smtp(s.ports["smtp"]), Smtp(s.ports["smtp"])
    sock = socket.create_connection(("127.0.0.1", s.ports["smtp"]), timeout=10)
    data = sock.recv(1000)
    assert data.startswith(b"421 4.7.0")
    a.close()
    b.close()
    sock.close()


def test_vrfy(make_server, mx):
    c = Smtp(mx.ports["smtp"])
    assert c.cmd("VRFY bob")[0] == 252
    assert c.cmd("VRFY nobody")[0] == 252  # nothing disclosed by default
    c.close()
    s = make_server({"smtp.vrfy": "yes"})
    s.add_user("mo", "p")
    c = Smtp(s.ports["smtp"])
    assert c.cmd("VRFY <mo@localhost>")[0] == 250
    assert c.cmd("VRFY nobody@localhost")[0] == 550
    c.close()


def test_shutdown_says_421(make_server):
    s = make_server()
    c = Smtp(s.ports["smtp"])
    c.ehlo()
    s.stop()
    data = c.sock.recv(1000)
    assert data.startswith(b"421 4.3.2"), data


# --- nothing acknowledged is lost ---------------------------------------------------

def test_kill_during_lmtp_load_loses_no_acknowledged_message(make_server):
    """Eight LMTP sessions deliver numbered messages; each number is recorded
    only after its 250. SIGKILL lands mid-stream; after a restart every
    recorded number is in the mailbox exactly once."""
    import signal
    import threading
    s = make_server()
    s.add_user("nora", "p")
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def worker(k):
        try:
            c = Smtp(s.ports["lmtp"], timeout=10)
            c.ehlo(verb="LHLO")
            for i in range(100000):
                if stop.is_set():
                    return
                tok = "%d-%d" % (k, i)
                c.send(b"MAIL FROM:<x@r.example>\r\nRCPT TO:<nora@localhost>\r\nDATA\r\n")
                if [c.reply()[0] for _ in range(3)] != [250, 250, 354]:
                    return
                c.send(b"Subject: " + tok.encode() + b"\r\n\r\n" + b"x" * 3000 + b"\r\n.\r\n")
                if c.reply()[0] == 250:
                    with lock:
                        acked.append(tok)
        except (OSError, EOFError):
            return

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    s.proc.send_signal(signal.SIGKILL)
    s.stop(expect_code=None)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acked) >= 200, "only %d acknowledged before the kill" % len(acked)
    s.start()
    msgs = imap_messages(s, "nora", "p")
    subjects = [m.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode() for m in msgs]
    assert len(subjects) == len(set(subjects))
    missing = set(acked) - set(subjects)
    assert not missing, "acknowledged but lost: %s" % sorted(missing)[:10]


def test_trickling_message_is_cut_off(make_server):
    s = make_server({"smtp.data_timeout": "10"})
    s.add_user("pat", "p")
    c = Smtp(s.ports["smtp"])
    c.ehlo()
    assert c.cmd("MAIL FROM:<x@remote.example>")[0] == 250
    assert c.cmd("RCPT TO:<pat@localhost>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: slow\r\n\r\n")
    deadline = time.monotonic() + 30
    code = None
    while time.monotonic() < deadline:
        try:
            c.send(b"x")  # one byte a second: never idle, never done
            c.sock.settimeout(1)
            code = c.reply()[0]
            break
        except socket.timeout:
            continue
        except (BrokenPipeError, ConnectionResetError, EOFError):
            break
    assert code == 421
    assert imap_messages(s, "pat", "p") == []


def test_quota_per_recipient(make_server):
    s = make_server()
    for u in ("quinn", "ray"):
        s.add_user(u, "p")
    s.cli("user", "set", "quinn", "quota.bytes=3000")
    c = Smtp(s.ports["lmtp"])
    c.ehlo(verb="LHLO")
    big = b"Subject: big\r\n\r\n" + (b"q" * 70 + b"\r\n") * 30  # ~2.2 KB
    # Fits once: delivered to both.
    assert send(c, "x@r.example", ["quinn@localhost", "ray@localhost"], big)[0] == 250
    assert c.reply()[0] == 250
    # The second copy would pass quinn's quota: refused for quinn alone.
    r1 = send(c, "x@r.example", ["quinn@localhost", "ray@localhost"], big)
    r2 = c.reply()
    assert r1[0] == 552 and r1[1][0].startswith("5.2.2")
    assert r2[0] == 250
    # A declared SIZE that cannot fit is refused at RCPT.
    assert c.cmd("MAIL FROM:<x@r.example> SIZE=5000")[0] == 250
    code, lines = c.cmd("RCPT TO:<quinn@localhost>")
    assert code == 452 and lines[0].startswith("4.2.2")
    assert c.cmd("RCPT TO:<ray@localhost>")[0] == 250
    c.close()
    assert len(imap_messages(s, "quinn", "p")) == 1
    assert len(imap_messages(s, "ray", "p")) == 2
    # Over quota already: SMTP refuses at RCPT too.
    s.cli("user", "set", "quinn", "quota.bytes=100")
    c = Smtp(s.ports["smtp"])
    c.ehlo()
    assert c.cmd("MAIL FROM:<x@r.example>")[0] == 250
    assert c.cmd("RCPT TO:<quinn@localhost>")[0] == 452
    c.close()


def test_notify_success_on_local_delivery(mx):
    c = Smtp(mx.ports["submission"])
    c.ehlo()
    assert c.cmd("AUTH PLAIN " + auth_plain("alice@example.com", "apass"))[0] == 235
    assert c.cmd("MAIL FROM:<alice@example.com> RET=HDRS ENVID=env42")[0] == 250
    assert c.cmd("RCPT TO:<bob@localhost> NOTIFY=SUCCESS ORCPT=rfc822;bob@localhost")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com> NOTIFY=NEVER")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b".\r\n")
    assert c.reply()[0] == 250
    c.close()
    assert len(imap_messages(mx, "bob", "bpass")) == 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        msgs = imap_messages(mx, "alice@example.com", "apass")
        if len(msgs) == 2:
            break
        time.sleep(0.2)
    reports = [m for m in msgs if b"report-type=delivery-status" in m]
    assert len(reports) == 1, msgs
    r = reports[0]
    assert b"Action: delivered" in r and b"Original-Envelope-Id: env42" in r
    assert b"Original-Recipient: rfc822; bob@localhost" in r, r.decode()
    assert b"body line" not in r  # RET=HDRS: headers only


def test_binarymime_parts_arrive_byte_for_byte(mx):
    blob = bytes(range(256)) * 40 + b"\n.\r\n\r\rend"  # every byte, bare LF and CR, a lone dot line
    msg = (b"From: x@remote.example\r\nSubject: bin\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
           b"--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
           b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
           + blob + b"\r\n--b1--\r\n")
    c = Smtp(mx.ports["smtp"])
    c.ehlo()
    assert c.cmd("MAIL FROM:<x@remote.example> BODY=BINARYMIME")[0] == 250
    assert c.cmd("RCPT TO:<bob@localhost>")[0] == 250
    code, lines = c.cmd("DATA")
    assert code == 503  # BINARYMIME travels in BDAT chunks only
    half = len(msg) // 2
    c.send(b"BDAT %d\r\n" % half + msg[:half])
    assert c.reply()[0] == 250
    c.send(b"BDAT %d LAST\r\n" % (len(msg) - half) + msg[half:])
    assert c.reply()[0] == 250
    c.close()
    m = imaplib.IMAP4("127.0.0.1", mx.ports["imap"])
    m.login("bob", "bpass")
    m.select("INBOX", readonly=True)
    typ, d = m.fetch("1", "(BINARY.PEEK[2] BODY.PEEK[1])")
    m.logout()
    assert typ == "OK"
    parts = {}
    for item in d:
        if isinstance(item, tuple):
            key = b"BINARY" if b"BINARY[2]" in item[0] else b"BODY"
            parts[key] = item[1]
    assert parts[b"BINARY"] == blob
    assert parts[b"BODY"] == b"see attachment"


def test_submission_checks_the_from_header(make_server):
    s = make_server({"smtp.domains": "example.com"})
    s.add_user("uma@example.com", "p")
    s.add_user("val@example.com", "p")
    s.cli("alias", "add", "info@example.com", "uma@example.com")
    c = Smtp(s.ports["submission"])
    c.ehlo()
    assert c.cmd("AUTH PLAIN " + auth_plain("uma@example.com", "p"))[0] == 235

    def msg(frm):
        return ("From: %s\r\nTo: val@example.com\r\nSubject: s\r\n\r\nhi\r\n" % frm).encode()
    assert send(c, "uma@example.com", ["val@example.com"], msg("Uma <uma@example.com>"))[0] == 250
    assert send(c, "uma@example.com", ["val@example.com"], msg("\"Info\" <INFO@example.com>"))[0] == 250
    code, lines = send(c, "uma@example.com", ["val@example.com"], msg("\"uma@example.com\" <val@example.com>"))
    assert code == 550 and lines[0].startswith("5.7.1")
    code, _ = send(c, "uma@example.com", ["val@example.com"], msg("ceo@bank.example"))
    assert code == 550
    c.close()
    assert len(imap_messages(s, "val@example.com", "p")) == 2


def test_garbage_from_many_clients_leaves_the_server_serving(mx):
    """Sixteen clients throw random bytes and random command sequences
    (pipelined, cut off mid-line, mid-DATA and mid-BDAT) at every listener for
    a bounded number of rounds; meanwhile and afterwards a well-behaved client
    delivers, and the server (a sanitizer build) reports nothing on exit."""
    import random
    import threading
    verbs = [b"EHLO x", b"HELO x", b"LHLO x", b"MAIL FROM:<a@b.example>", b"MAIL FROM:<>", b"RCPT TO:<bob@localhost>",
             b"RCPT TO:<x@elsewhere.example>", b"DATA", b"BDAT 10", b"BDAT 0 LAST", b"BDAT 99999999999999999999",
             b"RSET", b"NOOP", b"VRFY bob", b"HELP", b"STARTTLS", b"AUTH PLAIN", b"AUTH LOGIN", b"*", b"=",
             b"AUTH PLAIN " + base64.b64encode(b"\0bob\0bpass"), b"QUIT", b".", b"..", b"\x00\xff\xfe", b"x" * 1500]
    ports = [mx.ports[k] for k in ("smtp", "submission", "lmtp")]
    errors = []

    def chaos(seed):
        rnd = random.Random(seed)
        for _ in range(60):
            try:
                s = socket.create_connection(("127.0.0.1", rnd.choice(ports)), timeout=5)
                for _ in range(rnd.randint(1, 30)):
                    if rnd.random() < 0.2:
                        s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000))))
                    else:
                        s.sendall(rnd.choice(verbs) + rnd.choice([b"\r\n", b"\n", b"\r", b""]))
                if rnd.random() < 0.5:
                    s.settimeout(0.2)
                    try:
                        while s.recv(65536):
                            pass
                    except OSError:
                        pass
                s.close()
            except OSError:
                pass  # refused or reset: the server may hang up on garbage

    def good():
        try:
            for _ in range(5):
                c = Smtp(mx.ports["smtp"])
                c.ehlo()
                code, _ = send(c, "x@remote.example", ["alice@example.com"], MSG)
                if code != 250:
                    errors.append(code)
                c.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=chaos, args=(k,)) for k in range(16)] + [threading.Thread(target=good)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert mx.alive()
    assert len(imap_messages(mx, "alice@example.com", "apass")) == 5
