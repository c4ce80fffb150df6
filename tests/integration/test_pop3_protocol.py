"""POP3 protocol rules over raw sockets: greeting, CAPA, states, the
TRANSACTION commands and the UPDATE state (RFC 1939, RFC 2449), each with its
unhappy paths."""
import re
import time

import pytest

from pop3util import PASSWORD, USER, Pop3, login_when_free, mail3, mailbox_list, message  # noqa: F401


def pop(server):
    return Pop3(server.ports["pop3"])


def logged_in(server):
    p = pop(server)
    p.login()
    return p


# --- greeting and CAPA -----------------------------------------------------

def test_greeting_carries_unique_apop_timestamp(server):
    seen = set()
    for _ in range(3):
        with pop(server) as p:
            # RFC 1939 section 7: the greeting holds a msg-id style timestamp.
            assert p.greeting.startswith(b"+OK "), p.greeting
            m = re.search(rb"<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>", p.greeting)
            assert m, p.greeting
            seen.add(m.group(0))
    # It must differ for every connection, or APOP digests could be replayed.
    assert len(seen) == 3, seen


CAPA_WANTED = [b"TOP", b"UIDL", b"USER", b"RESP-CODES", b"AUTH-RESP-CODE", b"PIPELINING",
               b"EXPIRE", b"LOGIN-DELAY", b"IMPLEMENTATION", b"SASL", b"UTF8"]


def test_capa_plain_port(server):
    server.add_user(USER, PASSWORD)
    with pop(server) as p:
        capa = p.capa()
        for c in CAPA_WANTED + [b"STLS"]:
            assert c in capa, (c, capa)
        mechs = capa[b"SASL"].split()[1:]
        assert b"PLAIN" in mechs and b"LOGIN" in mechs, capa[b"SASL"]
        # EXPIRE and LOGIN-DELAY take an argument (RFC 2449 section 6.7, 6.5).
        assert re.match(rb"^EXPIRE (NEVER|\d+)( USER)?$", capa[b"EXPIRE"]), capa[b"EXPIRE"]
        assert re.match(rb"^LOGIN-DELAY \d+( USER)?$", capa[b"LOGIN-DELAY"]), capa[b"LOGIN-DELAY"]
        assert len(capa[b"IMPLEMENTATION"].split()) >= 2, capa[b"IMPLEMENTATION"]
        # The session goes on after CAPA.
        p.login()
        assert p.stat() == (0, 0)


def test_capa_in_transaction_state(server):
    server.add_user(USER, PASSWORD)
    with logged_in(server) as p:
        capa = p.capa()
        assert b"TOP" in capa and b"UIDL" in capa, capa
        # STLS is only valid in the AUTHORIZATION state (RFC 2595 section 4).
        assert b"STLS" not in capa, capa


def test_capa_implicit_tls_port_has_no_stls(server):
    with Pop3(server.ports["pop3s"], tls=server.tls_context()) as p:
        assert p.greeting.startswith(b"+OK"), p.greeting
        capa = p.capa()
        assert b"STLS" not in capa, capa
        assert b"USER" in capa and b"SASL" in capa, capa
        assert p.cmd("STLS").startswith(b"-ERR")
        assert p.cmd("NOOP").startswith(b"-ERR")  # still AUTHORIZATION, session alive


# --- USER / PASS -----------------------------------------------------------

def test_user_pass_login(mail3):
    with pop(mail3) as p:
        r = p.cmd("USER alice")
        assert r.startswith(b"+OK"), r
        r = p.cmd("PASS pass")
        assert r.startswith(b"+OK"), r
        assert p.stat()[0] == 3
        r, rest = p.quit()
        assert r.startswith(b"+OK"), r
        assert rest == b""


def test_commands_are_case_insensitive(mail3):
    with pop(mail3) as p:
        assert p.cmd("user alice").startswith(b"+OK")
        assert p.cmd("pAsS pass").startswith(b"+OK")
        assert p.cmd("stat").startswith(b"+OK 3 ")
        assert p.cmd("list 2").startswith(b"+OK 2 ")


def test_password_with_spaces(server):
    server.add_user("spacey", "a pass with  spaces ")
    with pop(server) as p:
        # RFC 1939 section 7: PASS takes the rest of the line, spaces included.
        assert p.cmd("USER spacey").startswith(b"+OK")
        r = p.cmd("PASS a pass with  spaces ")
        assert r.startswith(b"+OK"), r


def test_wrong_password_and_unknown_user_get_the_same_answer(mail3):
    with pop(mail3) as p:
        assert p.cmd("USER alice").startswith(b"+OK")
        wrong = p.cmd("PASS nope")
        assert wrong.startswith(b"-ERR [AUTH]"), wrong
        # Still in AUTHORIZATION: a new USER/PASS pair works on the same connection.
        p.login()
        assert p.stat()[0] == 3
    with pop(mail3) as p:
        r = p.cmd("USER nosuchuser")
        assert r.startswith(b"+OK"), r  # no user enumeration at USER
        unknown = p.cmd("PASS nope")
        assert unknown.startswith(b"-ERR [AUTH]"), unknown
    assert unknown == wrong


def test_pass_without_user(mail3):
    with pop(mail3) as p:
        r = p.cmd("PASS pass")
        assert r.startswith(b"-ERR"), r
        assert p.cmd("STAT").startswith(b"-ERR")  # not logged in by it
        p.login()


def test_user_and_pass_need_arguments(mail3):
    with pop(mail3) as p:
        assert p.cmd("USER").startswith(b"-ERR")
        assert p.cmd("USER alice").startswith(b"+OK")
        assert p.cmd("PASS").startswith(b"-ERR")
        p.login()


def test_quit_in_authorization_state(mail3):
    with pop(mail3) as p:
        r, rest = p.quit()
        assert r.startswith(b"+OK"), r
        assert rest == b""


# --- wrong state, unknown commands -----------------------------------------

@pytest.mark.parametrize("cmd", ["STAT", "LIST", "LIST 1", "RETR 1", "DELE 1", "UIDL", "UIDL 1",
                                 "TOP 1 0", "RSET", "NOOP"])
def test_transaction_commands_before_login(mail3, cmd):
    with pop(mail3) as p:
        r = p.cmd(cmd)
        assert r.startswith(b"-ERR"), (cmd, r)
        # The session is still usable.
        p.login()
        assert p.stat()[0] == 3


@pytest.mark.parametrize("cmd", ["USER alice", "PASS pass", "APOP alice 0123456789abcdef0123456789abcdef",
                                 "AUTH PLAIN AGFsaWNlAHBhc3M=", "STLS", "UTF8"])
def test_authorization_commands_after_login(mail3, cmd):
    with logged_in(mail3) as p:
        r = p.cmd(cmd)
        assert r.startswith(b"-ERR"), (cmd, r)
        assert p.stat()[0] == 3


@pytest.mark.parametrize("cmd", [b"FOO", b"XYZZY 1 2", b"RETRX 1", b"", b"   ", b"STAT\tX", b"\xff\xfe"])
def test_unknown_or_empty_command(mail3, cmd):
    with pop(mail3) as p:
        r = p.cmd(cmd)
        assert r.startswith(b"-ERR"), (cmd, r)
        p.login()
        r = p.cmd(cmd)
        assert r.startswith(b"-ERR"), (cmd, r)
        assert p.stat()[0] == 3


def test_noop(mail3):
    with logged_in(mail3) as p:
        assert p.cmd("NOOP").startswith(b"+OK")
        assert p.cmd("NOOP extra").startswith(b"-ERR")
        assert p.cmd("NOOP").startswith(b"+OK")


# --- STAT / LIST / UIDL / RETR / TOP ---------------------------------------

def test_stat_list_retr_sizes_agree(mail3):
    with logged_in(mail3) as p:
        n, total = p.stat()
        assert n == 3
        status, lines = p.multi_lines("LIST")
        assert status.startswith(b"+OK"), status
        sizes = {}
        for l in lines:
            num, size = l.split()
            sizes[int(num)] = int(size)
        assert sorted(sizes) == [1, 2, 3]
        assert sum(sizes.values()) == total
        for i in (1, 2, 3):
            r = p.cmd("LIST %d" % i)
            assert r == b"+OK %d %d" % (i, sizes[i]), r
            status, body = p.multi("RETR %d" % i)
            assert status.startswith(b"+OK"), status
            assert body == message(i)
            assert len(body) == sizes[i]


def test_list_on_empty_maildrop(server):
    server.add_user(USER, PASSWORD)
    with logged_in(server) as p:
        assert p.stat() == (0, 0)
        status, lines = p.multi_lines("LIST")
        assert status.startswith(b"+OK") and lines == []
        status, lines = p.multi_lines("UIDL")
        assert status.startswith(b"+OK") and lines == []
        assert p.cmd("RETR 1").startswith(b"-ERR")
        assert p.cmd("LIST 1").startswith(b"-ERR")


def test_top(mail3):
    body = "".join("line %d\r\n" % i for i in range(1, 11))
    mail3.deliver(USER, message(4, body=body))
    hdr = message(4, body="")
    with logged_in(mail3) as p:
        status, got = p.multi("TOP 4 0")
        assert status.startswith(b"+OK"), status
        assert got == hdr  # headers and the blank line
        status, got = p.multi("TOP 4 3")
        assert got == hdr + b"line 1\r\nline 2\r\nline 3\r\n"
        status, got = p.multi("TOP 4 10")
        assert got == message(4, body=body)
        status, got = p.multi("TOP 4 1000000")
        assert got == message(4, body=body)
        # TOP does not mark anything: RETR still returns everything.
        status, got = p.multi("RETR 4")
        assert got == message(4, body=body)


BAD_NUMBERS = ["0", "-1", "+1", "abc", "1a", "99999999999999999999", "4294967297", "4", "1 2", "0x1", "1.0"]


@pytest.mark.parametrize("verb", ["LIST", "RETR", "DELE", "UIDL", "TOP"])
def test_bad_message_numbers(mail3, verb):
    with logged_in(mail3) as p:
        for arg in BAD_NUMBERS:
            line = "%s %s" % (verb, arg)
            if verb == "TOP":
                line += " 1"
            r = p.cmd(line)
            assert r.startswith(b"-ERR"), (line, r)
            assert p.cmd("NOOP").startswith(b"+OK"), line
        # Nothing was deleted by any of it.
        assert p.cmd("RSET").startswith(b"+OK")
        assert p.stat()[0] == 3
    with logged_in(mail3) as p:
        assert p.stat()[0] == 3


@pytest.mark.parametrize("line", ["RETR", "DELE", "TOP", "TOP 1", "TOP 1 -1", "TOP 1 abc", "TOP 1 0 0",
                                  "TOP 1 99999999999999999999999", "RSET 1", "STAT 1", "QUIT now"])
def test_missing_or_extra_arguments(mail3, line):
    with logged_in(mail3) as p:
        r = p.cmd(line)
        assert r.startswith(b"-ERR"), (line, r)
        assert p.stat()[0] == 3
        status, _ = p.multi("RETR 1")
        assert status.startswith(b"+OK")


def test_dele_then_access_is_refused(mail3):
    with logged_in(mail3) as p:
        _, total = p.stat()
        size2 = int(p.cmd("LIST 2").split()[2])
        assert p.cmd("DELE 2").startswith(b"+OK")
        for line in ["RETR 2", "TOP 2 0", "LIST 2", "UIDL 2", "DELE 2"]:
            r = p.cmd(line)
            assert r.startswith(b"-ERR"), (line, r)
        # RFC 1939: deleted messages are not counted by STAT and not listed.
        assert p.stat() == (2, total - size2)
        status, lines = p.multi_lines("LIST")
        assert [l.split()[0] for l in lines] == [b"1", b"3"]
        status, lines = p.multi_lines("UIDL")
        assert [l.split()[0] for l in lines] == [b"1", b"3"]
        # Numbers are not reassigned: message 3 is still 3.
        status, body = p.multi("RETR 3")
        assert body == message(3)


def test_rset_undeletes(mail3):
    with logged_in(mail3) as p:
        before = p.stat()
        assert p.cmd("DELE 1").startswith(b"+OK")
        assert p.cmd("DELE 3").startswith(b"+OK")
        assert p.stat()[0] == 1
        r = p.cmd("RSET")
        assert r.startswith(b"+OK"), r
        assert p.stat() == before
        status, body = p.multi("RETR 1")
        assert body == message(1)
        r, _ = p.quit()
        assert r.startswith(b"+OK")
    assert mailbox_list(mail3)["INBOX"][0] == 3
    with logged_in(mail3) as p:
        assert p.stat() == before


def test_quit_commits_deletions(mail3):
    with logged_in(mail3) as p:
        status, lines = p.multi_lines("UIDL")
        uidl = dict(l.split() for l in lines)
        assert p.cmd("DELE 2").startswith(b"+OK")
        r, rest = p.quit()
        assert r.startswith(b"+OK"), r
    assert mailbox_list(mail3)["INBOX"][0] == 2
    with logged_in(mail3) as p:
        assert p.stat()[0] == 2
        status, lines = p.multi_lines("UIDL")
        after = [l.split()[1] for l in lines]
        # The survivors keep their UIDs; the deleted one's UID is gone.
        assert after == [uidl[b"1"], uidl[b"3"]]
        status, body = p.multi("RETR 2")
        assert body == message(3)


def test_dropped_connection_deletes_nothing(mail3):
    p = logged_in(mail3)
    assert p.cmd("DELE 1").startswith(b"+OK")
    assert p.cmd("DELE 2").startswith(b"+OK")
    p.abort()
    p2 = login_when_free(mail3.ports["pop3"])
    assert p2.stat()[0] == 3
    p2.quit()
    # And a plain close (FIN) without QUIT neither.
    p = login_when_free(mail3.ports["pop3"])
    assert p.cmd("DELE 3").startswith(b"+OK")
    p.close()
    p2 = login_when_free(mail3.ports["pop3"])
    assert p2.stat()[0] == 3
    p2.quit()
    assert mailbox_list(mail3)["INBOX"][0] == 3


def test_uidl_unique_stable_and_well_formed(mail3):
    with logged_in(mail3) as p:
        status, lines = p.multi_lines("UIDL")
        assert status.startswith(b"+OK"), status
        first = dict(l.split(b" ") for l in lines)
        assert sorted(first) == [b"1", b"2", b"3"]
        assert len(set(first.values())) == 3, first
        for uid in first.values():
            # RFC 1939 section 7: 1 to 70 characters in the range 0x21 to 0x7E.
            assert 1 <= len(uid) <= 70 and all(0x21 <= c <= 0x7E for c in uid), uid
        for k, v in first.items():
            assert p.cmd(b"UIDL " + k) == b"+OK " + k + b" " + v
        p.quit()
    with logged_in(mail3) as p:
        status, lines = p.multi_lines("UIDL")
        assert dict(l.split(b" ") for l in lines) == first
        p.quit()
    # A new message gets a UID not used before, and the old ones stay.
    mail3.deliver(USER, message(4))
    with logged_in(mail3) as p:
        status, lines = p.multi_lines("UIDL")
        now = dict(l.split(b" ") for l in lines)
        assert {k: now[k] for k in first} == first
        assert now[b"4"] not in first.values()
        p.quit()


def test_uidl_not_reused_after_delete_and_redelivery(mail3):
    with logged_in(mail3) as p:
        status, lines = p.multi_lines("UIDL")
        old = {l.split()[1] for l in lines}
        assert p.cmd("DELE 3").startswith(b"+OK")
        p.quit()
    # The same bytes delivered again are a new message with a new UID.
    mail3.deliver(USER, message(3))
    with logged_in(mail3) as p:
        status, lines = p.multi_lines("UIDL")
        uids = [l.split()[1] for l in lines]
        assert len(uids) == 3
        assert uids[:2] == [u for u in uids[:2] if u in old]
        assert uids[2] not in old


def test_numbering_fixed_at_login(mail3):
    with logged_in(mail3) as p:
        n, total = p.stat()
        mail3.deliver(USER, message(4))
        # RFC 1939 section 4: the maildrop is what it was when the session began.
        assert p.stat() == (n, total)
        assert p.cmd("LIST 4").startswith(b"-ERR")
        assert p.cmd("RETR 4").startswith(b"-ERR")
        status, lines = p.multi_lines("LIST")
        assert len(lines) == 3
        p.quit()
    with logged_in(mail3) as p:
        assert p.stat()[0] == 4
        status, body = p.multi("RETR 4")
        assert body == message(4)


def test_quit_with_everything_deleted(mail3):
    with logged_in(mail3) as p:
        for i in (1, 2, 3):
            assert p.cmd("DELE %d" % i).startswith(b"+OK")
        assert p.stat() == (0, 0)
        r, _ = p.quit()
        assert r.startswith(b"+OK")
    assert mailbox_list(mail3)["INBOX"][0] == 0
    with logged_in(mail3) as p:
        assert p.stat() == (0, 0)


# --- maildrop lock ([IN-USE], RFC 2449 section 8.1.2) -----------------------

def test_in_use_second_login(mail3):
    a = logged_in(mail3)
    b = pop(mail3)
    assert b.cmd("USER alice").startswith(b"+OK")
    r = b.cmd("PASS pass")
    assert r.startswith(b"-ERR [IN-USE]"), r
    # The first session is not disturbed, the second may retry.
    assert a.stat()[0] == 3
    r, _ = a.quit()
    assert r.startswith(b"+OK")
    # After QUIT the lock is gone at once: the retry on the same connection works.
    assert b.cmd("USER alice").startswith(b"+OK")
    r = b.cmd("PASS pass")
    assert r.startswith(b"+OK"), r
    b.quit()


def test_in_use_released_after_dropped_connection(mail3):
    a = logged_in(mail3)
    b = pop(mail3)
    assert b.cmd("USER alice").startswith(b"+OK")
    assert b.cmd("PASS pass").startswith(b"-ERR [IN-USE]")
    b.close()
    a.abort()
    c = login_when_free(mail3.ports["pop3"])
    assert c.stat()[0] == 3
    c.quit()


def test_in_use_is_not_an_auth_failure(mail3):
    # A wrong password while the maildrop is locked is still [AUTH], so that a
    # client does not learn the password is right from the lock.
    a = logged_in(mail3)
    b = pop(mail3)
    assert b.cmd("USER alice").startswith(b"+OK")
    assert b.cmd("PASS wrong").startswith(b"-ERR [AUTH]")
    a.quit()
    b.close()


def test_other_users_are_independent(mail3):
    mail3.add_user("bob", "bobpw")
    mail3.deliver("bob", message(10))
    a = logged_in(mail3)
    b = pop(mail3)
    b.login("bob", "bobpw")
    assert b.stat()[0] == 1
    assert a.stat()[0] == 3
    status, body = b.multi("RETR 1")
    assert body == message(10)
    a.quit()
    b.quit()


def test_in_use_across_ports(mail3):
    a = logged_in(mail3)
    with Pop3(mail3.ports["pop3s"], tls=mail3.tls_context()) as b:
        assert b.cmd("USER alice").startswith(b"+OK")
        r = b.cmd("PASS pass")
        assert r.startswith(b"-ERR [IN-USE]"), r
        r = b.cmd("AUTH PLAIN AGFsaWNlAHBhc3M=")  # \0alice\0pass
        assert r.startswith(b"-ERR [IN-USE]"), r
    a.quit()


def test_maildrop_is_inbox_only(mail3):
    mail3.cli("mailbox", "create", "--user", USER, "Work")
    mail3.deliver(USER, message(50), mailbox="Work")
    assert mailbox_list(mail3)["Work"][0] == 1
    with logged_in(mail3) as p:
        assert p.stat()[0] == 3
        status, lines = p.multi_lines("LIST")
        assert len(lines) == 3
        for i in (1, 2, 3):
            assert p.multi("RETR %d" % i)[1] == message(i)


def test_quit_deletes_only_marked_messages_not_newly_arrived(mail3):
    with logged_in(mail3) as p:
        for i in (1, 2, 3):
            assert p.cmd("DELE %d" % i).startswith(b"+OK")
        mail3.deliver(USER, message(4))  # arrives during the session, never offered
        r, _ = p.quit()
        assert r.startswith(b"+OK"), r
    assert mailbox_list(mail3)["INBOX"][0] == 1
    with logged_in(mail3) as p:
        assert p.stat()[0] == 1
        assert p.multi("RETR 1")[1] == message(4)
