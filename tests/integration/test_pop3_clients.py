"""Real POP3 clients against a real server: fetchmail, getmail6, mpop, curl and
Python's poplib, run as their documentation gives. Every client runs
under a timeout, with HOME pointing at a private directory so that lock and pid
files never collide with anything else on the machine."""
import os
import poplib
import pwd
import shutil
import ssl
import subprocess
import tempfile

import pytest

from conftest import crlf
from pop3util import PASSWORD, USER, Pop3, corpus, mailbox_list, message, wire_form

# A small mixed set: plain, dot-stuffing, no final CRLF, bare LF, 8-bit, binary.
SET = ["gen-plain-crlf.eml", "gen-dot-stuffing.eml", "gen-headers-only.eml", "gen-plain-bare-lf.eml",
       "gen-mixed-attachments.eml", "gen-utf8-headers-rfc6532.eml", "cpython-msg_07.eml"]


@pytest.fixture
def mailsrv(server):
    server.add_user(USER, PASSWORD)
    for name in SET:
        server.deliver(USER, corpus(name))
    return server


@pytest.fixture
def work(base_tmp):
    d = tempfile.mkdtemp(prefix="client-", dir=base_tmp)
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run(argv, work, timeout=90, input=None):
    env = dict(os.environ, HOME=work, FETCHMAILHOME=work, LC_ALL="C.UTF-8")
    p = subprocess.run(["timeout", str(timeout)] + argv, cwd=work, env=env, input=input,
                       capture_output=True, timeout=timeout + 30)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode != 124, "%s timed out:\n%s" % (argv[0], out[-3000:])
    return p.returncode, out, p.stdout


def inbox_count(server):
    return mailbox_list(server)["INBOX"][0]


def pop3_stat(server):
    with Pop3(server.ports["pop3"]) as p:
        p.login()
        n = p.stat()[0]
        p.quit()
    return n


def body_of(data):
    """The body of a message (after the first blank line), LF line endings."""
    data = data.replace(b"\r\n", b"\n")
    i = data.find(b"\n\n")
    return data[i + 2:] if i >= 0 else b""


def expected_bodies():
    out = []
    for name in SET:
        b = body_of(crlf(corpus(name)))
        if b:
            out.append(b)
    return out


def read_dir(d):
    res = []
    for root, _, files in os.walk(d):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                res.append(fh.read())
    return res


def check_bodies(files):
    """Every delivered body arrived intact in one of the client's files."""
    got = [body_of(f) for f in files]
    for want in expected_bodies():
        assert any(g == want or g.rstrip(b"\n") == want.rstrip(b"\n") for g in got), \
            "a body is missing or altered: %r..." % want[:80]


# --- fetchmail ----------------------------------------------------------------------

def fetchmail_rc(work, server, port, *, keep=True, ssl_implicit=False, password=PASSWORD, host="localhost"):
    out = os.path.join(work, "out")
    os.makedirs(out, exist_ok=True)
    shutil.copy(server.cert, os.path.join(work, "cert.pem"))
    rc = os.path.join(work, "fetchmailrc")
    with open(rc, "w") as f:
        f.write('set no syslog\nset idfile "%s/fetchids"\ndefaults timeout 20\n' % work)
        f.write("poll %s with proto POP3 port %d uidl\n" % (host, port))
        f.write('  user "%s" there with password "%s" is "root" here\n' % (USER, password))
        f.write("  %s\n" % ("keep" if keep else "nokeep fetchall"))
        if ssl_implicit:
            f.write("  ssl\n")
        f.write('  sslcertck sslcertfile "%s/cert.pem" sslproto "auto"\n' % work)
        f.write('  mda "cat > %s/msg.$$"\n' % out)
    os.chmod(rc, 0o600)
    return rc, out


def test_fetchmail_keep_uidl_over_stls(mailsrv, work):
    rc, out = fetchmail_rc(work, mailsrv, mailsrv.ports["pop3"])
    code, log, _ = run(["fetchmail", "-f", rc, "-v"], work)
    assert code == 0, log
    assert "POP3> STLS" in log, log  # it upgraded the plain connection, verifying the certificate
    files = read_dir(out)
    assert len(files) == len(SET), log
    check_bodies(files)
    # Second run: nothing new (exit 1), the server still has everything.
    code, log, _ = run(["fetchmail", "-f", rc, "-v"], work)
    assert code == 1, log
    assert len(read_dir(out)) == len(SET)
    assert inbox_count(mailsrv) == len(SET)
    # A new message is fetched alone.
    mailsrv.deliver(USER, message(99))
    code, log, _ = run(["fetchmail", "-f", rc], work)
    assert code == 0, log
    files = read_dir(out)
    assert len(files) == len(SET) + 1
    assert sum(1 for f in files if b"Subject: Test message 99" in f) == 1


def test_fetchmail_nokeep_implicit_tls_empties_mailbox(mailsrv, work):
    mailsrv.deliver(USER, corpus("gen-huge-5mb.eml"))
    rc, out = fetchmail_rc(work, mailsrv, mailsrv.ports["pop3s"], keep=False, ssl_implicit=True)
    code, log, _ = run(["fetchmail", "-f", rc, "-v"], work, timeout=180)
    assert code == 0, log[-3000:]
    assert "flushed" in log, log[-3000:]
    files = read_dir(out)
    assert len(files) == len(SET) + 1
    check_bodies(files)
    huge = [f for f in files if len(f) > 5_000_000]
    assert len(huge) == 1 and body_of(huge[0]) == body_of(crlf(corpus("gen-huge-5mb.eml")))
    assert inbox_count(mailsrv) == 0
    assert pop3_stat(mailsrv) == 0


def test_fetchmail_bad_password(mailsrv, work):
    rc, out = fetchmail_rc(work, mailsrv, mailsrv.ports["pop3"], password="wrong")
    code, log, _ = run(["fetchmail", "-f", rc], work)
    assert code == 3, log
    assert read_dir(out) == []
    assert inbox_count(mailsrv) == len(SET)


def test_fetchmail_wrong_certificate_refused(mailsrv, work, make_server):
    # A certificate from another server instance does not verify this one.
    other = make_server()
    rc, out = fetchmail_rc(work, mailsrv, mailsrv.ports["pop3"])
    shutil.copy(other.cert, os.path.join(work, "cert.pem"))
    code, log, _ = run(["fetchmail", "-f", rc], work)
    assert code not in (0, 1), log
    assert read_dir(out) == []


# --- getmail6 -------------------------------------------------------------------------

def getmail_setup(work, server, retriever, port, delete):
    maildir = os.path.join(work, "maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub))
    nobody = pwd.getpwnam("nobody")
    for root, dirs, _ in os.walk(maildir):
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
    state = os.path.join(work, "state")
    os.makedirs(state)
    shutil.copy(server.cert, os.path.join(work, "cert.pem"))
    rc = os.path.join(work, "getmailrc")
    with open(rc, "w") as f:
        f.write("[retriever]\ntype = %s\nserver = localhost\nport = %d\nusername = %s\npassword = %s\n"
                % (retriever, port, USER, PASSWORD))
        if "SSL" in retriever:
            f.write("ca_certs = %s/cert.pem\n" % work)
        f.write("\n[destination]\ntype = Maildir\npath = %s/\nuser = nobody\n" % maildir)
        f.write("\n[options]\nread_all = false\ndelete = %s\nverbose = 2\n" % ("true" if delete else "false"))
    return ["getmail", "--getmaildir=" + state, "--rcfile=" + rc], maildir


def test_getmail_pop3s_delete(mailsrv, work):
    mailsrv.deliver(USER, corpus("gen-huge-5mb.eml"))
    argv, maildir = getmail_setup(work, mailsrv, "SimplePOP3SSLRetriever", mailsrv.ports["pop3s"], True)
    code, log, _ = run(argv, work, timeout=180)
    assert code == 0, log[-3000:]
    assert log.count(", deleted") == len(SET) + 1, log[-3000:]
    files = read_dir(os.path.join(maildir, "new"))
    assert len(files) == len(SET) + 1
    check_bodies(files)
    assert inbox_count(mailsrv) == 0
    assert pop3_stat(mailsrv) == 0


def test_getmail_plain_keep_then_nothing_new(mailsrv, work):
    argv, maildir = getmail_setup(work, mailsrv, "SimplePOP3Retriever", mailsrv.ports["pop3"], False)
    code, log, _ = run(argv, work)
    assert code == 0, log
    assert len(read_dir(os.path.join(maildir, "new"))) == len(SET)
    code, log, _ = run(argv, work)
    assert code == 0, log
    # getmail remembers UIDLs: nothing is retrieved twice.
    assert len(read_dir(os.path.join(maildir, "new"))) == len(SET), log
    assert inbox_count(mailsrv) == len(SET)


# --- mpop -----------------------------------------------------------------------------

def mpop_argv(work, server, *, starttls=True, extra=()):
    maildir = os.path.join(work, "mp")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    port = server.ports["pop3"] if starttls else server.ports["pop3s"]
    return ["mpop", "-C", "/dev/null", "--host=localhost", "--port=%d" % port, "--tls=on",
            "--tls-starttls=%s" % ("on" if starttls else "off"), "--tls-trust-file=" + server.cert,
            "--auth=user", "--user=" + USER, "--passwordeval=echo " + PASSWORD,
            "--uidls-file=" + os.path.join(work, "mp.uidls"), "--delivery=maildir," + maildir] + list(extra), maildir


def test_mpop_starttls_keep_only_new(mailsrv, work):
    argv, maildir = mpop_argv(work, mailsrv, extra=["--keep=on", "--only-new=on"])
    code, log, _ = run(argv, work)
    assert code == 0, log
    files = read_dir(os.path.join(maildir, "new"))
    assert len(files) == len(SET), log
    check_bodies(files)
    code, log, _ = run(argv, work)
    assert code == 0, log
    assert len(read_dir(os.path.join(maildir, "new"))) == len(SET), log
    assert inbox_count(mailsrv) == len(SET)
    mailsrv.deliver(USER, message(42))
    code, log, _ = run(argv, work)
    assert code == 0, log
    files = read_dir(os.path.join(maildir, "new"))
    assert len(files) == len(SET) + 1
    assert sum(1 for f in files if b"Subject: Test message 42" in f) == 1


def test_mpop_implicit_tls_delete(mailsrv, work):
    argv, maildir = mpop_argv(work, mailsrv, starttls=False, extra=["--keep=off"])
    code, log, _ = run(argv, work)
    assert code == 0, log
    assert len(read_dir(os.path.join(maildir, "new"))) == len(SET)
    assert inbox_count(mailsrv) == 0


def test_mpop_bad_password(mailsrv, work):
    argv, maildir = mpop_argv(work, mailsrv, extra=["--keep=on"])
    argv = [a if not a.startswith("--passwordeval") else "--passwordeval=echo wrong" for a in argv]
    code, log, _ = run(argv, work)
    assert code == 77, log  # EX_NOPERM: authentication failed
    assert read_dir(os.path.join(maildir, "new")) == []


# --- curl -----------------------------------------------------------------------------

def curl(work, url, *args, user=USER, password=PASSWORD):
    return run(["curl", "-sS", "--max-time", "60", "--user", "%s:%s" % (user, password)] + list(args) + [url], work)


def test_curl_list_retr_uidl_top(mailsrv, work):
    base = "pop3://127.0.0.1:%d/" % mailsrv.ports["pop3"]
    code, log, out = curl(work, base)
    assert code == 0, log
    listing = [l.split() for l in out.decode().splitlines()]
    assert [int(n) for n, _ in listing] == list(range(1, len(SET) + 1))
    for (n, size), name in zip(listing, SET):
        assert int(size) == len(wire_form(crlf(corpus(name)))), name
    for n, name in enumerate(SET, 1):
        code, log, out = curl(work, base + str(n))
        assert code == 0, log
        assert out == wire_form(crlf(corpus(name))), name
    code, log, out = curl(work, base, "-X", "UIDL")
    assert code == 0, log
    uidl = [l.split() for l in out.decode().splitlines()]
    assert [int(n) for n, _ in uidl] == list(range(1, len(SET) + 1))
    assert len({u for _, u in uidl}) == len(SET)
    code, log, out = curl(work, base, "-X", "TOP 1 0")
    assert code == 0, log
    want = crlf(corpus(SET[0]))
    assert out == want[:want.index(b"\r\n\r\n") + 4]


def test_curl_retr_missing_message(mailsrv, work):
    code, log, out = curl(work, "pop3://127.0.0.1:%d/99" % mailsrv.ports["pop3"])
    assert code == 8, (code, log)  # "Weird server reply": the -ERR to RETR 99


def test_curl_dele(mailsrv, work):
    base = "pop3://127.0.0.1:%d/" % mailsrv.ports["pop3"]
    code, log, out = curl(work, base, "-X", "DELE 1", "-I")
    assert code == 0, log
    assert inbox_count(mailsrv) == len(SET) - 1
    code, log, out = curl(work, base + "1")
    assert out == wire_form(crlf(corpus(SET[1])))


def test_curl_pop3s_and_stls(mailsrv, work):
    code, log, out = curl(work, "pop3s://127.0.0.1:%d/2" % mailsrv.ports["pop3s"], "-k")
    assert code == 0, log
    assert out == wire_form(crlf(corpus(SET[1])))
    # STLS, required, with the certificate verified against the name localhost.
    code, log, out = curl(work, "pop3://localhost:%d/3" % mailsrv.ports["pop3"], "--ssl-reqd",
                          "--cacert", mailsrv.cert)
    assert code == 0, log
    assert out == wire_form(crlf(corpus(SET[2])))
    # And verified against the IP address in subjectAltName.
    code, log, out = curl(work, "pop3s://127.0.0.1:%d/1" % mailsrv.ports["pop3s"], "--cacert", mailsrv.cert)
    assert code == 0, log


def test_curl_wrong_password(mailsrv, work):
    code, log, out = curl(work, "pop3://127.0.0.1:%d/" % mailsrv.ports["pop3"], password="wrong")
    assert code == 67, (code, log)
    code, log, out = curl(work, "pop3://127.0.0.1:%d/" % mailsrv.ports["pop3"], user="nosuch")
    assert code == 67, (code, log)


def test_curl_sasl_mechanisms_and_apop(mailsrv, work):
    url = "pop3://127.0.0.1:%d/" % mailsrv.ports["pop3"]
    for mech in ("PLAIN", "LOGIN"):
        code, log, out = curl(work, url, "--login-options", "AUTH=" + mech)
        assert code == 0, (mech, log)
        assert len(out.decode().splitlines()) == len(SET)
    mailsrv.cli("user", "passwd", USER, "--apop", input=b"apop-secret\n")
    code, log, out = curl(work, url, "--login-options", "AUTH=+APOP", password="apop-secret")
    assert code == 0, log
    assert len(out.decode().splitlines()) == len(SET)
    code, log, out = curl(work, url, "--login-options", "AUTH=+APOP", password="wrong")
    assert code == 67, (code, log)


# --- Python poplib ---------------------------------------------------------------------

def verify_ctx(server):
    ctx = ssl.create_default_context(cafile=server.cert)
    ctx.check_hostname = True
    return ctx


@pytest.mark.parametrize("mode", ["plain", "stls", "ssl"])
def test_poplib(mailsrv, mode):
    old = poplib._MAXLINE
    poplib._MAXLINE = 1 << 20
    try:
        if mode == "ssl":
            P = poplib.POP3_SSL("localhost", mailsrv.ports["pop3s"], context=verify_ctx(mailsrv), timeout=30)
        else:
            P = poplib.POP3("localhost", mailsrv.ports["pop3"], timeout=30)
        if mode == "stls":
            assert "STLS" in P.capa()
            P.stls(context=verify_ctx(mailsrv))
        capa = P.capa()
        assert "STLS" not in capa if mode != "plain" else "STLS" in capa
        assert "UIDL" in capa and "TOP" in capa
        P.user(USER)
        P.pass_(PASSWORD)
        count, size = P.stat()
        assert count == len(SET)
        _, listing, _ = P.list()
        sizes = {int(l.split()[0]): int(l.split()[1]) for l in listing}
        assert sum(sizes.values()) == size
        _, uidls, _ = P.uidl()
        assert len({l.split()[1] for l in uidls}) == len(SET)
        for n, name in enumerate(SET, 1):
            _, lines, _ = P.retr(n)
            got = b"\r\n".join(lines) + b"\r\n"
            assert got == wire_form(crlf(corpus(name))), name
            assert len(got) == sizes[n], name
            _, lines, _ = P.top(n, 0)
            assert len(lines) >= 1
        P.dele(1)
        with pytest.raises(poplib.error_proto):
            P.retr(1)
        P.rset()
        P.retr(1)
        P.noop()
        P.quit()
    finally:
        poplib._MAXLINE = old
    assert inbox_count(mailsrv) == len(SET)


def test_poplib_apop_and_utf8(mailsrv):
    mailsrv.cli("user", "passwd", USER, "--apop", input=b"apop-secret\n")
    P = poplib.POP3("127.0.0.1", mailsrv.ports["pop3"], timeout=30)
    assert P.utf8().startswith(b"+OK")
    P.apop(USER, "apop-secret")
    assert P.stat()[0] == len(SET)
    P.quit()
    P = poplib.POP3("127.0.0.1", mailsrv.ports["pop3"], timeout=30)
    with pytest.raises(poplib.error_proto) as e:
        P.apop(USER, "wrong")
    assert str(e.value).startswith("b'-ERR [AUTH]")
    P.quit()
