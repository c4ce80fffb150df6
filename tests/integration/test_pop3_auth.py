"""POP3 authentication over raw sockets: APOP (RFC 1939 section 7), AUTH with
SASL PLAIN and LOGIN (RFC 5034, RFC 4616), STLS (RFC 2595), UTF8 (RFC 6856),
response codes (RFC 2449, RFC 3206) and the plaintext-password policy."""
import socket
import ssl

import pytest

from pop3util import PASSWORD, USER, Pop3, apop_digest, b64, mail3, message  # noqa: F401


def pop(server):
    return Pop3(server.ports["pop3"])


def set_apop(server, user, secret):
    server.cli("user", "passwd", user, "--apop", input=(secret + "\n").encode())


# --- APOP -------------------------------------------------------------------

def test_apop_login(mail3):
    set_apop(mail3, USER, "apopsecret")
    with pop(mail3) as p:
        r = p.cmd("APOP alice " + apop_digest(p.greeting, "apopsecret"))
        assert r.startswith(b"+OK"), r
        assert p.stat()[0] == 3
        r, _ = p.quit()
        assert r.startswith(b"+OK")


def test_apop_digest_is_case_insensitive_hex(mail3):
    set_apop(mail3, USER, "apopsecret")
    with pop(mail3) as p:
        r = p.cmd("APOP alice " + apop_digest(p.greeting, "apopsecret").upper())
        # RFC 1939 shows lower-case hex; upper-case is the same digest. Accept
        # it or refuse it, but never crash and keep the session usable.
        assert r.startswith(b"+OK") or r.startswith(b"-ERR [AUTH]"), r
        if r.startswith(b"-ERR"):
            p.login(USER, "apopsecret")
        assert p.stat()[0] == 3


def test_apop_wrong_digest_and_unknown_user(mail3):
    set_apop(mail3, USER, "apopsecret")
    with pop(mail3) as p:
        wrong = p.cmd("APOP alice " + apop_digest(p.greeting, "not-it"))
        assert wrong.startswith(b"-ERR [AUTH]"), wrong
        unknown = p.cmd("APOP nosuch " + apop_digest(p.greeting, "apopsecret"))
        assert unknown == wrong
        # A digest for another connection's timestamp is refused (no replay).
        with pop(mail3) as other:
            replay = apop_digest(other.greeting, "apopsecret")
        assert p.cmd("APOP alice " + replay).startswith(b"-ERR [AUTH]")
        # Then the right one still works on the same connection.
        assert p.cmd("APOP alice " + apop_digest(p.greeting, "apopsecret")).startswith(b"+OK")


@pytest.mark.parametrize("args", ["", "alice", "alice nothex", "alice " + "0" * 31, "alice " + "0" * 33,
                                  "alice " + "g" * 32, "alice 0123456789abcdef0123456789abcdef extra"])
def test_apop_malformed(mail3, args):
    set_apop(mail3, USER, "apopsecret")
    with pop(mail3) as p:
        r = p.cmd(("APOP " + args).rstrip())
        assert r.startswith(b"-ERR"), (args, r)
        p.login(USER, "apopsecret")
        assert p.stat()[0] == 3


def test_apop_for_account_without_apop_secret(mail3):
    with pop(mail3) as p:
        # alice has only a hashed password: APOP cannot be verified.
        r = p.cmd("APOP alice " + apop_digest(p.greeting, PASSWORD))
        assert r.startswith(b"-ERR"), r
        p.login()


# --- AUTH PLAIN / LOGIN (RFC 5034) -----------------------------------------

def test_auth_plain_initial_response(mail3):
    with pop(mail3) as p:
        r = p.cmd("AUTH PLAIN " + b64("\0alice\0pass"))
        assert r.startswith(b"+OK"), r
        assert p.stat()[0] == 3


def test_auth_plain_with_authzid_equal_to_authcid(mail3):
    with pop(mail3) as p:
        r = p.cmd("AUTH PLAIN " + b64("alice\0alice\0pass"))
        assert r.startswith(b"+OK"), r


def test_auth_plain_other_authzid_refused(mail3):
    mail3.add_user("bob", "bobpw")
    with pop(mail3) as p:
        r = p.cmd("AUTH PLAIN " + b64("bob\0alice\0pass"))
        assert r.startswith(b"-ERR"), r
        assert p.cmd("AUTH PLAIN " + b64("\0alice\0pass")).startswith(b"+OK")
        assert p.stat()[0] == 3


def test_auth_plain_continuation(mail3):
    with pop(mail3) as p:
        r = p.cmd("AUTH PLAIN")
        # RFC 5034 section 4: an empty challenge is "+ " (the space is required).
        assert r in (b"+ ", b"+"), r
        r = p.cmd(b64("\0alice\0pass"))
        assert r.startswith(b"+OK"), r
        assert p.stat()[0] == 3


def test_auth_mechanism_is_case_insensitive(mail3):
    with pop(mail3) as p:
        r = p.cmd("AUTH plain " + b64("\0alice\0pass"))
        assert r.startswith(b"+OK"), r


def test_auth_plain_wrong_password(mail3):
    with pop(mail3) as p:
        r = p.cmd("AUTH PLAIN " + b64("\0alice\0wrong"))
        assert r.startswith(b"-ERR [AUTH]"), r
        r2 = p.cmd("AUTH PLAIN " + b64("\0nosuch\0wrong"))
        assert r2 == r
        p.login()


def test_auth_login(mail3):
    with pop(mail3) as p:
        r = p.cmd("AUTH LOGIN")
        assert r.startswith(b"+ "), r
        r = p.cmd(b64("alice"))
        assert r.startswith(b"+ "), r
        r = p.cmd(b64("pass"))
        assert r.startswith(b"+OK"), r
        assert p.stat()[0] == 3


def test_auth_login_with_initial_response(mail3):
    with pop(mail3) as p:
        r = p.cmd("AUTH LOGIN " + b64("alice"))
        assert r.startswith(b"+ "), r
        r = p.cmd(b64("pass"))
        assert r.startswith(b"+OK"), r


def test_auth_login_wrong_password(mail3):
    with pop(mail3) as p:
        assert p.cmd("AUTH LOGIN").startswith(b"+ ")
        assert p.cmd(b64("alice")).startswith(b"+ ")
        r = p.cmd(b64("wrong"))
        assert r.startswith(b"-ERR [AUTH]"), r
        p.login()


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_auth_cancel(mail3, mech):
    with pop(mail3) as p:
        assert p.cmd("AUTH " + mech).startswith(b"+")
        # RFC 5034 section 4: "*" cancels; the server answers -ERR.
        r = p.cmd("*")
        assert r.startswith(b"-ERR"), r
        if mech == "LOGIN":
            assert p.cmd("AUTH LOGIN").startswith(b"+ ")
            assert p.cmd(b64("alice")).startswith(b"+ ")
            assert p.cmd("*").startswith(b"-ERR")
        # Back in AUTHORIZATION: a normal command is a command again.
        assert p.cmd("STAT").startswith(b"-ERR")
        p.login()
        assert p.stat()[0] == 3


@pytest.mark.parametrize("resp", ["!!!!", "AGFsaWNl*HBhc3M=", "AGFs aWNl", "=", "a", "===="])
def test_auth_plain_bad_base64(mail3, resp):
    with pop(mail3) as p:
        r = p.cmd("AUTH PLAIN " + resp)
        assert r.startswith(b"-ERR"), (resp, r)
        assert p.cmd("AUTH PLAIN").startswith(b"+")
        r = p.cmd(resp)
        assert r.startswith(b"-ERR"), (resp, r)
        p.login()


@pytest.mark.parametrize("msg", ["alice\0pass", "\0alice", "\0alice\0pass\0", "\0\0pass", "\0alice\0"])
def test_auth_plain_malformed_message(mail3, msg):
    with pop(mail3) as p:
        r = p.cmd("AUTH PLAIN " + b64(msg))
        assert r.startswith(b"-ERR"), (msg, r)
        p.login()


def test_auth_unknown_mechanism(mail3):
    with pop(mail3) as p:
        for line in ["AUTH CRAM-MD5X", "AUTH GSSAPI", "AUTH X" * 100]:
            r = p.cmd(line)
            assert r.startswith(b"-ERR"), (line, r)
        p.login()


def test_auth_plain_empty_password(mail3):
    with pop(mail3) as p:
        r = p.cmd("AUTH PLAIN " + b64("\0alice\0"))
        assert r.startswith(b"-ERR"), r


# --- STLS (RFC 2595) ---------------------------------------------------------

def verifying_context(server):
    ctx = ssl.create_default_context(cafile=server.cert)
    ctx.check_hostname = True
    return ctx


def test_stls_then_login(mail3):
    with pop(mail3) as p:
        p.stls(verifying_context(mail3))  # certificate valid for "localhost"
        capa = p.capa()
        assert b"STLS" not in capa, capa
        assert b"USER" in capa, capa
        p.login()
        assert p.stat()[0] == 3
        status, body = p.multi("RETR 2")
        assert body == message(2)
        r, _ = p.quit()
        assert r.startswith(b"+OK")


def test_stls_certificate_matches_ip_too(mail3):
    with pop(mail3) as p:
        r = p.cmd("STLS")
        assert r.startswith(b"+OK")
        ctx = verifying_context(mail3)
        p.sock = ctx.wrap_socket(p.sock, server_hostname="127.0.0.1")
        p.login()


def test_stls_twice(mail3):
    with pop(mail3) as p:
        p.stls(mail3.tls_context())
        r = p.cmd("STLS")
        assert r.startswith(b"-ERR"), r
        p.login()
        assert p.stat()[0] == 3


def test_stls_with_argument(mail3):
    with pop(mail3) as p:
        r = p.cmd("STLS now")
        assert r.startswith(b"-ERR"), r
        p.stls(mail3.tls_context())
        p.login()


def test_stls_discards_pipelined_plaintext(mail3):
    """RFC 2595 section 4 / the STARTTLS injection class of bugs (CVE-2011-0411):
    commands sent after STLS in the same packet must not be answered, neither
    in cleartext nor after the handshake."""
    with pop(mail3) as p:
        p.send(b"STLS\r\nCAPA\r\nUSER alice\r\nPASS pass\r\n")
        r = p.line()
        assert r.startswith(b"+OK"), r
        assert not p.buf, "cleartext after the STLS reply: %r" % bytes(p.buf)
        p.sock.settimeout(1.0)
        try:
            extra = p.sock.recv(4096)
        except socket.timeout:
            extra = None
        assert extra is None, "server sent %r after +OK to STLS, before the handshake" % extra
        p.sock.settimeout(30)
        p.sock = mail3.tls_context().wrap_socket(p.sock, server_hostname="localhost")
        # Still unauthenticated: the injected USER/PASS were thrown away.
        assert p.cmd("STAT").startswith(b"-ERR")
        p.login()
        assert p.stat()[0] == 3


def test_stls_after_login_refused(mail3):
    with pop(mail3) as p:
        p.login()
        assert p.cmd("STLS").startswith(b"-ERR")
        assert p.stat()[0] == 3


def test_stls_garbage_handshake_then_server_fine(mail3):
    with pop(mail3) as p:
        assert p.cmd("STLS").startswith(b"+OK")
        p.send(b"this is not a TLS ClientHello\r\n" * 10)
        p.expect_closed(timeout=15)
    with pop(mail3) as p:
        p.login()
        assert p.stat()[0] == 3


def test_implicit_tls_login(mail3):
    with Pop3(mail3.ports["pop3s"], tls=verifying_context(mail3)) as p:
        assert p.greeting.startswith(b"+OK"), p.greeting
        p.login()
        status, body = p.multi("RETR 1")
        assert body == message(1)
        r, _ = p.quit()
        assert r.startswith(b"+OK")


def test_implicit_tls_port_rejects_plaintext_client(mail3):
    s = socket.create_connection(("127.0.0.1", mail3.ports["pop3s"]), timeout=15)
    s.sendall(b"USER alice\r\n")
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    assert b"+OK" not in data, data
    with pop(mail3) as p:
        p.login()


# --- UTF8 (RFC 6856) -----------------------------------------------------------

def test_utf8_command_and_utf8_password(server):
    server.add_user("utf", "grüße-密码")
    server.deliver("utf", message(1, subject="Grüße"))
    with pop(server) as p:
        r = p.cmd("UTF8")
        assert r.startswith(b"+OK"), r
        assert p.cmd("USER utf").startswith(b"+OK")
        r = p.cmd("PASS grüße-密码".encode())
        assert r.startswith(b"+OK"), r
        status, body = p.multi("RETR 1")
        assert body == message(1, subject="Grüße")


def test_utf8_invalid_utf8_password_refused(server):
    server.add_user("utf", "grüße")
    with pop(server) as p:
        assert p.cmd("UTF8").startswith(b"+OK")
        assert p.cmd("USER utf").startswith(b"+OK")
        r = p.cmd(b"PASS gr\xc3\x28\xc3\x9f\xff")
        assert r.startswith(b"-ERR"), r
        p.login("utf", "grüße")


def test_utf8_with_argument_refused(server):
    with pop(server) as p:
        assert p.cmd("UTF8 please").startswith(b"-ERR")
        assert p.cmd("UTF8").startswith(b"+OK")


# --- plaintext passwords off loopback -----------------------------------------

def non_loopback_ipv4():
    """A local IPv4 address that is not loopback, if the machine has one."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") else ip


def test_plaintext_login_refused_off_loopback_until_stls(make_server):
    ip = non_loopback_ipv4()
    if ip is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    from conftest import free_port
    port = free_port()
    srv = make_server({"pop3.listen": "%s:%d" % (ip, port)}, start=False)
    srv.ports["pop3"] = port
    srv.start()
    srv.add_user(USER, PASSWORD)
    srv.deliver(USER, message(1))
    with Pop3(port, host=ip) as p:
        capa = p.capa()
        assert b"STLS" in capa, capa
        # RFC 2595 section 4: without TLS the server may refuse plaintext logins.
        r1 = p.cmd("USER alice")
        if r1.startswith(b"+OK"):
            r2 = p.cmd("PASS pass")
            assert r2.startswith(b"-ERR"), r2
        else:
            assert r1.startswith(b"-ERR"), r1
        r = p.cmd("AUTH PLAIN " + b64("\0alice\0pass"))
        assert r.startswith(b"-ERR"), r
        assert p.cmd("STAT").startswith(b"-ERR")
        p.stls(srv.tls_context())
        p.login()
        assert p.stat()[0] == 1


def test_plaintext_login_allowed_off_loopback_by_config(make_server):
    ip = non_loopback_ipv4()
    if ip is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    from conftest import free_port
    port = free_port()
    srv = make_server({"pop3.listen": "%s:%d" % (ip, port), "auth.allow_plaintext": "yes"}, start=False)
    srv.ports["pop3"] = port
    srv.start()
    srv.add_user(USER, PASSWORD)
    with Pop3(port, host=ip) as p:
        p.login()
        assert p.stat() == (0, 0)
