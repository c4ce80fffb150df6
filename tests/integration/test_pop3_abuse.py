"""Hostile and careless clients: over-long lines, NUL bytes, pipelining floods,
clients that vanish in the middle of a 5 MB RETR or read it very slowly, many
connections, connection limits, login throttling, command rate limits and a
SIGTERM with sessions open. After each, the server is alive and serves a normal
session (assert_alive)."""
import os
import signal
import socket
import threading
import time

import pytest

from conftest import crlf
from pop3util import (PASSWORD, USER, Closed, Pop3, assert_alive, corpus, login_when_free, mail3,  # noqa: F401
                      mailbox_list, message, wire_form)

HUGE = "gen-huge-5mb.eml"


def pop(server):
    return Pop3(server.ports["pop3"])


def logged_in(server, user=USER, password=PASSWORD):
    p = pop(server)
    p.login(user, password)
    return p


@pytest.fixture
def huge(server):
    """alice with one small message and the 5 MB corpus message as number 2."""
    server.add_user(USER, PASSWORD)
    server.deliver(USER, message(1))
    server.deliver(USER, corpus(HUGE))
    return server


HUGE_WANT = None


def huge_want():
    global HUGE_WANT
    if HUGE_WANT is None:
        HUGE_WANT = wire_form(crlf(corpus(HUGE)))
    return HUGE_WANT


# --- over-long lines and odd bytes -------------------------------------------

@pytest.mark.parametrize("size", [10_000, 1_000_000])
def test_overlong_line_before_login(mail3, size):
    with pop(mail3) as p:
        p.send(b"U" * size)
        p.send(b"\r\nUSER alice\r\n")
        r = p.line()
        assert r.startswith(b"-ERR"), r
        r = p.line()
        assert r.startswith(b"+OK"), r  # the USER after the long line
        r = p.cmd("PASS pass")
        assert r.startswith(b"+OK"), r
        assert p.stat()[0] == 3
    assert_alive(mail3)


def test_overlong_line_after_login(mail3):
    with logged_in(mail3) as p:
        p.send(b"RETR " + b"1" * 10_000 + b"\r\nSTAT\r\n")
        r = p.line()
        assert r.startswith(b"-ERR"), r
        r = p.line()
        assert r.startswith(b"+OK 3 "), r
        # Long lines right after one another, each its own -ERR.
        p.send((b"X" * 5000 + b"\r\n") * 3 + b"NOOP\r\n")
        for _ in range(3):
            r = p.line()
            assert r.startswith(b"-ERR"), r
        assert p.line().startswith(b"+OK")
        status, body = p.multi("RETR 1")
        assert body == message(1)
    assert_alive(mail3)


def test_long_but_legal_auth_line(mail3):
    # A long SASL PLAIN response (a 500-character password) fits the line limit.
    mail3.add_user("longpw", "p" * 500)
    import base64
    with pop(mail3) as p:
        r = p.cmd(b"AUTH PLAIN " + base64.b64encode(b"\0longpw\0" + b"p" * 500))
        assert r.startswith(b"+OK"), r


@pytest.mark.parametrize("line", [b"NO\x00OP", b"\x00", b"STAT\x00", b"RETR 1\x00", b"LIST \x001"])
def test_nul_byte_in_command(mail3, line):
    with logged_in(mail3) as p:
        r = p.cmd(line)
        assert r.startswith(b"-ERR"), (line, r)
        assert p.stat()[0] == 3
    assert_alive(mail3)


def test_nul_byte_in_credentials(mail3):
    with pop(mail3) as p:
        r = p.cmd(b"USER ali\x00ce")
        assert r.startswith(b"-ERR"), r
        assert p.cmd(b"USER alice").startswith(b"+OK")
        r = p.cmd(b"PASS pass\x00extra")
        assert r.startswith(b"-ERR"), r
        p.login()
        assert p.stat()[0] == 3


def test_control_characters_in_user(mail3):
    with pop(mail3) as p:
        for name in [b"ali\rce", b"alice\x1b[2J", b"alice\x7f"]:
            r = p.cmd(b"USER " + name)
            if r.startswith(b"+OK"):
                assert p.cmd(b"PASS pass").startswith(b"-ERR"), name
            else:
                assert r.startswith(b"-ERR"), (name, r)
        p.login()
    # Nothing in the log may have been injected as a fake line.
    assert "\x1b[2J" not in mail3.read_log()


def test_binary_garbage(mail3):
    # 150 lines of random bytes: each is answered -ERR (or the server gives up
    # on the connection); nothing is ever accepted, and the server stays up.
    lines = [os.urandom(400).replace(b"\n", b"") for _ in range(150)]
    with pop(mail3) as p:
        p.send(b"".join(l + b"\n" for l in lines))
        answered = 0
        try:
            for _ in lines:
                r = p.line()
                assert r.startswith(b"-ERR"), r
                answered += 1
        except (Closed, ConnectionResetError):
            pass
        print("answered %d of %d garbage lines" % (answered, len(lines)))
    assert_alive(mail3)


def test_bare_lf_line_endings(mail3):
    # Lenient framing: a bare LF ends a command too (clients such as `nc`).
    with pop(mail3) as p:
        p.send(b"USER alice\nPASS pass\nSTAT\n")
        assert p.line().startswith(b"+OK")
        assert p.line().startswith(b"+OK")
        assert p.line().startswith(b"+OK 3 ")


# --- pipelining --------------------------------------------------------------------

def test_200_pipelined_commands(mail3):
    with logged_in(mail3) as p:
        n, total = p.stat()
        sizes = {i: int(p.cmd("LIST %d" % i).split()[2]) for i in (1, 2, 3)}
        uids = {i: p.cmd("UIDL %d" % i).split()[2] for i in (1, 2, 3)}
        cmds, want = [], []
        for k in range(200):
            i = k % 3 + 1
            kind = k % 5
            if kind == 0:
                cmds.append(b"NOOP"); want.append(b"+OK")
            elif kind == 1:
                cmds.append(b"LIST %d" % i); want.append(b"+OK %d %d" % (i, sizes[i]))
            elif kind == 2:
                cmds.append(b"UIDL %d" % i); want.append(b"+OK %d %s" % (i, uids[i]))
            elif kind == 3:
                cmds.append(b"STAT"); want.append(b"+OK %d %d" % (n, total))
            else:
                cmds.append(b"RETR 99"); want.append(b"-ERR")
        p.send(b"".join(c + b"\r\n" for c in cmds))
        for c, w in zip(cmds, want):
            r = p.line()
            if w in (b"+OK", b"-ERR"):
                assert r.startswith(w), (c, r)
            else:
                assert r == w, (c, r)
        # Multi-line responses pipelined too.
        p.send(b"RETR 1\r\nTOP 2 0\r\nLIST\r\nRETR 3\r\nNOOP\r\n")
        assert p.line().startswith(b"+OK")
        assert p.body() == message(1)
        assert p.line().startswith(b"+OK")
        assert p.body() == message(2, body="")
        assert p.line().startswith(b"+OK")
        assert p.body().count(b"\r\n") == 3
        assert p.line().startswith(b"+OK")
        assert p.body() == message(3)
        assert p.line().startswith(b"+OK")
    assert_alive(mail3)


def test_pipelined_session_then_half_close(mail3):
    """A script such as `printf ... | nc` sends everything and closes its side:
    every command is still answered and QUIT still commits."""
    s = socket.create_connection(("127.0.0.1", mail3.ports["pop3"]), timeout=30)
    s.sendall(b"USER alice\r\nPASS pass\r\nDELE 1\r\nQUIT\r\n")
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    lines = data.split(b"\r\n")
    assert len(lines) == 6 and lines[-1] == b"", data
    assert all(l.startswith(b"+OK") for l in lines[:5]), data
    assert mailbox_list(mail3)["INBOX"][0] == 2


def test_pipelined_quit_closes_and_ignores_the_rest(mail3):
    with logged_in(mail3) as p:
        p.send(b"DELE 1\r\nQUIT\r\nDELE 2\r\nSTAT\r\n")
        assert p.line().startswith(b"+OK")
        assert p.line().startswith(b"+OK")
        assert p.expect_closed() == b""
    with logged_in(mail3) as p:
        assert p.stat()[0] == 2
        assert p.multi("RETR 1")[1] == message(2)


# --- big messages and careless readers ----------------------------------------

@pytest.mark.parametrize("how", ["close-after-64k", "reset-after-1-byte", "close-before-reading"])
def test_disconnect_during_huge_retr(huge, how):
    p = logged_in(huge)
    size = int(p.cmd("LIST 2").split()[2])
    assert size == len(huge_want())
    p.send(b"RETR 2\r\n")
    if how == "close-after-64k":
        got = 0
        while got < 65536:
            got += len(p.sock.recv(65536))
        p.close()
    elif how == "reset-after-1-byte":
        p.sock.recv(1)
        p.abort()
    else:
        p.close()
    # Others are served meanwhile, and the same maildrop becomes free again.
    huge.add_user("bob", "bobpw")
    with logged_in(huge, "bob", "bobpw") as b:
        assert b.stat() == (0, 0)
    q = login_when_free(huge.ports["pop3"], deadline=20)
    status, body = q.multi("RETR 2")
    assert status.startswith(b"+OK"), status
    assert body == huge_want()
    r, _ = q.quit()
    assert r.startswith(b"+OK")
    # Nothing was deleted by the aborted session.
    assert mailbox_list(huge)["INBOX"][0] == 2
    assert huge.alive()


def test_slow_reader_does_not_block_others(huge):
    huge.add_user("bob", "bobpw")
    huge.deliver("bob", message(7))
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", huge.ports["pop3"]))
    p = Pop3(None, sock=s)
    p.login()
    p.send(b"RETR 2\r\n")
    status = p.line()
    assert status.startswith(b"+OK"), status
    # Read the first few hundred KB slowly, in small pieces.
    got = bytearray(p.buf)
    p.buf.clear()
    reads = 0
    while len(got) < 300_000:
        chunk = s.recv(2048)
        assert chunk, "connection closed during RETR"
        got += chunk
        reads += 1
        if reads % 8 == 0:
            time.sleep(0.005)
        if reads == 40:
            # Meanwhile another client gets full service.
            t0 = time.monotonic()
            with logged_in(huge, "bob", "bobpw") as b:
                assert b.multi("RETR 1")[1] == message(7)
                b.quit()
            assert time.monotonic() - t0 < 20
    # Then the rest at normal speed: the stream must be complete and exact.
    p.buf = got
    raw = p.body()
    from pop3util import unstuff
    assert unstuff(raw) == huge_want()
    assert p.cmd("NOOP").startswith(b"+OK")
    r, _ = p.quit()
    assert r.startswith(b"+OK")


def test_huge_retr_over_tls_and_top(huge):
    with Pop3(huge.ports["pop3s"], tls=huge.tls_context()) as p:
        p.login()
        status, body = p.multi("RETR 2")
        assert body == huge_want()
        status, head = p.multi("TOP 2 0")
        want = huge_want()
        assert head == want[:want.index(b"\r\n\r\n") + 4]
        p.quit()


def test_huge_retr_pipelined_twice(huge):
    with logged_in(huge) as p:
        p.send(b"RETR 2\r\nRETR 2\r\nNOOP\r\n")
        for _ in range(2):
            assert p.line().startswith(b"+OK")
            from pop3util import unstuff
            assert unstuff(p.body()) == huge_want()
        assert p.line().startswith(b"+OK")


# --- many connections, limits ------------------------------------------------------

def test_many_connections(mail3):
    users = ["u%d" % i for i in range(4)]
    for u in users:
        mail3.add_user(u, "pw")
        mail3.deliver(u, message(1, subject=u))
    conns = [pop(mail3) for _ in range(50)]
    for c in conns:
        assert c.greeting.startswith(b"+OK"), c.greeting
    for c in conns:
        c.send(b"CAPA\r\n")
    for c in conns:
        assert c.line().startswith(b"+OK")
        assert b"UIDL\r\n" in c.body()
    # Full sessions for several users at the same time, on threads.
    errors = []

    def work(u):
        try:
            with logged_in(mail3, u, "pw") as p:
                for _ in range(5):
                    assert p.multi("RETR 1")[1] == message(1, subject=u)
                r, _ = p.quit()
                assert r.startswith(b"+OK")
        except Exception as e:  # reported below
            errors.append("%s: %r" % (u, e))

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for c in conns:
        r, _ = c.quit()
        assert r.startswith(b"+OK")
    assert_alive(mail3)


def refused(port):
    """Connect and report whether the server refused the connection (closed or
    reset it without a greeting). An admitted TLS connection says nothing until
    the handshake, so silence counts as admitted."""
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    try:
        data = s.recv(1024)
    except ConnectionResetError:
        data = b""
    except socket.timeout:
        return False
    finally:
        s.close()
    if data:
        assert data.startswith(b"+OK") or data.startswith(b"-ERR"), data
    return not data.startswith(b"+OK")


def wait_until(pred, deadline=10.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_connections_per_ip_limit(make_server):
    srv = make_server({"limits.connections_per_ip": "3"})
    srv.add_user(USER, PASSWORD)
    conns = [pop(srv) for _ in range(3)]
    for c in conns:
        assert c.greeting.startswith(b"+OK")
    assert refused(srv.ports["pop3"])
    assert refused(srv.ports["pop3s"])  # the limit is per address, across listeners
    # The three admitted ones keep working.
    conns[0].login()
    assert conns[0].stat() == (0, 0)
    for c in conns[1:]:
        assert c.cmd("NOOP").startswith(b"-ERR")
    conns[2].quit()
    # A slot is free again once a connection is gone.
    assert wait_until(lambda: not refused(srv.ports["pop3"])), "slot not released after QUIT"
    conns[1].abort()
    for c in conns:
        c.close()
    assert wait_until(lambda: not refused(srv.ports["pop3"]))
    assert_alive(srv)


def test_total_connections_limit(make_server):
    srv = make_server({"limits.connections": "4"})
    srv.add_user(USER, PASSWORD)
    conns = [pop(srv) for _ in range(4)]
    assert refused(srv.ports["pop3"])
    for c in conns:
        c.close()
    assert wait_until(lambda: not refused(srv.ports["pop3"]))
    assert_alive(srv)


def test_failed_login_throttling(make_server):
    srv = make_server({"auth.max_failures": "2"})
    srv.add_user(USER, PASSWORD)
    with pop(srv) as p:
        assert p.cmd("USER alice").startswith(b"+OK")
        t0 = time.monotonic()
        assert p.cmd("PASS bad1").startswith(b"-ERR [AUTH]")
        assert p.cmd("USER alice").startswith(b"+OK")
        assert p.cmd("PASS bad2").startswith(b"-ERR [AUTH]")
        fast = time.monotonic() - t0
        # Now throttled: the next attempt, even with the right password, is
        # answered late, but it is answered and it is right.
        assert p.cmd("USER alice").startswith(b"+OK")
        p.send(b"PASS pass\r\n")
        t1 = time.monotonic()
        # Meanwhile another connection is served (no worker is held by the delay).
        with pop(srv) as other:
            capa = other.capa()
            assert b"USER" in capa
        r = p.line()
        slow = time.monotonic() - t1
        assert r.startswith(b"+OK"), r
        assert p.stat() == (0, 0)
    print("two failures took %.2fs, the throttled login %.2fs" % (fast, slow))
    assert slow >= 0.5, "no delay after auth.max_failures failures (%.2fs)" % slow
    assert slow < 30
    assert srv.alive()


def test_throttled_wrong_password_still_refused(make_server):
    srv = make_server({"auth.max_failures": "2"})
    srv.add_user(USER, PASSWORD)
    with pop(srv) as p:
        for pw in ("bad1", "bad2", "bad3"):
            assert p.cmd("USER alice").startswith(b"+OK")
            r = p.cmd("PASS " + pw)
            assert r.startswith(b"-ERR [AUTH]"), r
        # AUTH PLAIN is throttled the same way and still checks the password.
        r = p.cmd("AUTH PLAIN AGFsaWNlAGJhZDQ=")  # \0alice\0bad4
        assert r.startswith(b"-ERR [AUTH]"), r


def test_command_rate_limit(make_server):
    srv = make_server({"limits.commands_per_second": "5"})
    srv.add_user(USER, PASSWORD)
    with pop(srv) as p:
        p.login()
        t0 = time.monotonic()
        p.send(b"NOOP\r\n" * 20 + b"STAT\r\n")
        for _ in range(20):
            r = p.line()
            assert r.startswith(b"+OK"), r
        assert p.line() == b"+OK 0 0"
        elapsed = time.monotonic() - t0
    # 21 commands at 5 per second: delayed, never refused.
    assert elapsed >= 1.0, elapsed
    assert srv.alive()


# --- TLS abuse ---------------------------------------------------------------------

def test_tls_handshake_abandoned(mail3):
    # Connect to the TLS port and say nothing; connect and send half a ClientHello.
    idle = socket.create_connection(("127.0.0.1", mail3.ports["pop3s"]), timeout=10)
    half = socket.create_connection(("127.0.0.1", mail3.ports["pop3s"]), timeout=10)
    half.sendall(bytes.fromhex("160301020001"))  # record header + start of a handshake
    junk = socket.create_connection(("127.0.0.1", mail3.ports["pop3s"]), timeout=10)
    junk.sendall(b"\x16\x03\x01\xff\xff" + os.urandom(2000))
    with Pop3(mail3.ports["pop3s"], tls=mail3.tls_context()) as p:
        p.login()
        assert p.stat()[0] == 3
        p.quit()
    for s in (idle, half, junk):
        s.close()
    assert_alive(mail3)


# --- shutdown ----------------------------------------------------------------------

def test_sigterm_with_open_sessions(make_server):
    srv = make_server()
    srv.add_user(USER, PASSWORD)
    for i in (1, 2, 3):
        srv.deliver(USER, message(i))
    a = logged_in(srv)
    assert a.cmd("DELE 1").startswith(b"+OK")
    b = pop(srv)  # not logged in
    c = Pop3(srv.ports["pop3s"], tls=srv.tls_context())
    idle = socket.create_connection(("127.0.0.1", srv.ports["pop3"]), timeout=10)
    srv.stop(signal.SIGTERM, expect_code=0)
    for p in (a, b, c):
        data = p.expect_closed(timeout=10)
        assert data.startswith(b"-ERR"), data
        assert data.endswith(b"\r\n") and data.count(b"\r\n") == 1, data
    idle.close()
    # A session ended by shutdown deletes nothing.
    srv.start()
    with logged_in(srv) as p:
        assert p.stat()[0] == 3
        p.quit()


def test_sigterm_during_huge_retr(huge):
    p = logged_in(huge)
    p.send(b"RETR 2\r\n")
    p.sock.recv(1)  # the transfer has started; the client stops reading
    huge.stop(signal.SIGTERM, expect_code=0)
    p.close()
