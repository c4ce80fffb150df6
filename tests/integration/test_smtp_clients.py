"""Real SMTP, submission and LMTP clients against a real server, run as
their documentation gives: swaks (SMTP with PIPELINING, LMTP over TCP
and a unix socket, STARTTLS + AUTH PLAIN, implicit TLS + AUTH LOGIN, certificate
verification, refusals), msmtp, curl (smtp:// and smtps://), Python's smtplib
(SMTP_SSL with SMTPUTF8, smtplib.LMTP), nodemailer, mutt's batch mode and
Postfix's smtp-source.

Every client runs under a timeout with HOME in a private directory. What it did
is checked on the other side: the message is read back over IMAP (imaplib) or
counted over POP3 (poplib), and must be the bytes the client sent behind the
server's own Received: header.

swaks (20201014, Debian 12) has no BDAT: CHUNKING is not exercised here."""
import email
import email.generator
import email.policy
import imaplib
import io
import os
import poplib
import re
import shutil
import smtplib
import ssl
import subprocess
import tempfile
from email.message import EmailMessage

import pytest

from conftest import CORPUS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients")
NODE_MODULES = os.path.join(ROOT, "build", "npm", "node_modules")
PASSWORD = "pass"
TIMEOUT = 60


# ---------------------------------------------------------------- helpers

@pytest.fixture
def work(base_tmp):
    d = tempfile.mkdtemp(prefix="smtp-client-", dir=base_tmp)
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def srv(make_server):
    # The messages sent are corpus files with other people's From: headers,
    # so the submission From: check (tested in test_smtp.py) is off here.
    server = make_server({"submission.check_from": "no"})
    for u in ("alice", "bob"):
        server.add_user(u, PASSWORD)
    return server


def need(binary):
    """The client must be installed (scripts/deps.sh test): missing is a failure."""
    path = shutil.which(binary) or (binary if os.path.isabs(binary) and os.access(binary, os.X_OK) else None)
    assert path, "%s is not installed: run scripts/deps.sh test" % binary
    return path


def run(argv, cwd, input=None, env=None):
    """Run a client under timeout(1) with HOME in its work directory; returns
    (exit code, stdout+stderr as text). A timeout fails the test."""
    need(argv[0])
    e = dict(os.environ, HOME=cwd, LC_ALL="C.UTF-8", TZ="UTC")
    e.update(env or {})
    p = subprocess.run(["timeout", "-k", "5", str(TIMEOUT - 10)] + list(argv), cwd=cwd, env=e, input=input,
                       capture_output=True, timeout=TIMEOUT)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode not in (124, 137), "%s timed out:\n%s" % (argv[0], out[-4000:])
    return p.returncode, out


def corpus(name):
    with open(os.path.join(CORPUS, name), "rb") as f:
        return f.read()


def imap_login(server, user, password=PASSWORD):
    m = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30)
    # AUTHENTICATE PLAIN carries a UTF-8 user name; imaplib's LOGIN is ASCII only.
    typ, _ = m.authenticate("PLAIN", lambda _: b"\0" + user.encode() + b"\0" + password.encode())
    assert typ == "OK"
    return m


def imap_messages(server, user, mailbox="INBOX", password=PASSWORD):
    """Every message of a mailbox, in UID order, as the server stores it."""
    m = imap_login(server, user, password)
    try:
        typ, data = m.select(mailbox, readonly=True)
        assert typ == "OK", data
        if int(data[0]) == 0:
            return []
        typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
        assert typ == "OK", data
        out = []
        for item in data:
            if isinstance(item, tuple):
                uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                out.append((uid, item[1]))
        return [b for _, b in sorted(out)]
    finally:
        m.logout()


def imap_count(server, user, mailbox="INBOX"):
    m = imap_login(server, user)
    try:
        typ, data = m.status(mailbox, "(MESSAGES)")
        assert typ == "OK", data
        return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))
    finally:
        m.logout()


def pop3_stat(server, user):
    p = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=30)
    try:
        p.user(user)
        p.pass_(PASSWORD)
        return p.stat()
    finally:
        p.quit()


RECEIVED = re.compile(rb"Received: from (\S+) \(\[([^\]]+)\]\)\r\n\tby \S+ \(Roost\) with (\S+) id (\S+)"
                      rb"(?:\r\n\tfor <([^>]*)>)?;\r\n"
                      rb"\t[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [-+]\d{4}\r\n")


def split_received(data, with_, rcpt=None):
    """The server's Received: header must come first and say how the message
    came (RFC 3848 `with`); returns the rest: the client's own bytes."""
    m = RECEIVED.match(data)
    assert m, "no Roost Received: header first:\n%r" % data[:400]
    assert m.group(3).decode() == with_, m.group(0)
    assert m.group(2) in (b"127.0.0.1", b"local"), m.group(0)  # "local": a unix socket
    if rcpt is not None:
        assert (m.group(5) or b"").decode() == rcpt, m.group(0)
    return data[m.end():]


def only_message(server, user, **kw):
    msgs = imap_messages(server, user, **kw)
    assert len(msgs) == 1, "%s has %d messages" % (user, len(msgs))
    return msgs[0]


def attachment(data, filename):
    msg = email.message_from_bytes(data, policy=email.policy.default)
    for part in msg.walk():
        if part.get_filename() == filename:
            return part.get_payload(decode=True)
    raise AssertionError("no attachment %r in:\n%r" % (filename, data[:2000]))


# A binary attachment: every byte value, so any transfer damage shows.
BLOB = bytes(range(256)) * 8 + b"\r\n.\r\n..\r\nend"


# ---------------------------------------------------------------- swaks

def swaks(work, *args):
    return run(["swaks", "--suppress-data"] + list(args), work)


def swaks_sent(name):
    """What swaks sends for --data @FILE: the file, then CRLF . CRLF even when
    the file ends with CRLF (seen against a byte-recording sink), so the
    message gains an empty last line."""
    return corpus(name) + b"\r\n"


def test_swaks_smtp_pipelining_to_a_local_user(srv, work):
    code, out = swaks(work, "--pipeline", "--server", "127.0.0.1:%d" % srv.ports["smtp"], "--ehlo", "client.example",
                      "--from", "sender@example.org", "--to", "alice@localhost",
                      "--data", "@" + os.path.join(CORPUS, "gen-mixed-attachments.eml"))
    assert code == 0, out
    assert "250-PIPELINING" in out, out
    # swaks pipelines MAIL, RCPT and DATA: all three go before the first reply.
    lines = [ln.strip() for ln in out.splitlines()]
    i = lines.index("-> MAIL FROM:<sender@example.org>")
    assert lines[i + 1:i + 3] == ["-> RCPT TO:<alice@localhost>", "-> DATA"], out
    assert re.search(r"<-  250 2\.0\.0 Ok: delivered id \S+", out), out
    data = only_message(srv, "alice")
    assert RECEIVED.match(data).group(1) == b"client.example"
    assert split_received(data, "ESMTP", "alice@localhost") == swaks_sent("gen-mixed-attachments.eml")
    assert imap_count(srv, "bob") == 0


@pytest.fixture(params=["tcp", "unix"])
def lmtp_target(request, make_server, work):
    """An LMTP server reached over TCP, or over a unix socket (lmtp.listen =
    an absolute path); returns (server, swaks arguments to reach it)."""
    if request.param == "tcp":
        s = make_server()
        where = ["--server", "127.0.0.1:%d" % s.ports["lmtp"]]
        connect = ("127.0.0.1", s.ports["lmtp"])
    else:
        sock = os.path.join(work, "lmtp.sock")
        s = make_server(sets={"lmtp.listen": sock})
        assert os.path.exists(sock)
        where = ["--socket", sock]
        connect = (sock,)  # smtplib.LMTP: a host starting with "/" is a unix socket
    for u in ("alice", "bob"):
        s.add_user(u, PASSWORD)
    return request.param, s, where, connect


def test_swaks_lmtp_per_recipient_replies(lmtp_target, work):
    _, s, where, _ = lmtp_target
    code, out = swaks(work, "--protocol", "LMTP", "--pipeline", *where, "--ehlo", "mta.example",
                      "--from", "sender@example.org", "--to", "alice@localhost,nobody@localhost,bob@localhost",
                      "--data", "@" + os.path.join(CORPUS, "gen-alternative-qp.eml"))
    # A partly refused recipient list is still a success for swaks.
    assert code == 0, out
    assert "<-  250-PIPELINING" in out and "-> LHLO mta.example" in out, out
    assert "<** 550 5.1.1 <nobody@localhost>: User unknown" in out, out
    # One reply per accepted recipient after the message, in RCPT order.
    replies = re.findall(r"<-  250 2\.0\.0 <([^>]+)> Delivered id \S+", out)
    assert replies == ["alice@localhost", "bob@localhost"], out
    want = swaks_sent("gen-alternative-qp.eml")
    for u in ("alice", "bob"):
        # Two recipients: the Received: header names none of them.
        assert split_received(only_message(s, u), "LMTP", rcpt="") == want
    log = s.read_log()
    assert re.search(r"event=message proto=lmtp .*rcpts=2 local=2 remote=0 .*result=ok", log), log[-2000:]


def test_swaks_submission_starttls_auth_plain_verified(srv, work):
    code, out = swaks(work, "--server", "127.0.0.1:%d" % srv.ports["submission"], "--tls", "--tls-verify",
                      "--tls-ca-path", srv.cert, "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", PASSWORD,
                      "--from", "alice@localhost", "--to", "bob@localhost",
                      "--data", "@" + os.path.join(CORPUS, "gen-mixed-attachments.eml"))
    assert code == 0, out
    assert "=== TLS started" in out and "<~  235 2.7.0 Authentication successful" in out, out
    # AUTH is offered, after STARTTLS, and used under TLS.
    assert "~> AUTH PLAIN" in out, out
    data = only_message(srv, "bob")
    assert split_received(data, "ESMTPSA", "bob@localhost") == swaks_sent("gen-mixed-attachments.eml")


def test_swaks_tls_verify_fails_against_another_certificate(srv, work, make_server):
    other = make_server()
    code, out = swaks(work, "--server", "127.0.0.1:%d" % srv.ports["submission"], "--tls", "--tls-verify",
                      "--tls-ca-path", other.cert, "--auth", "PLAIN", "--auth-user", "alice",
                      "--auth-password", PASSWORD, "--from", "alice@localhost", "--to", "bob@localhost")
    assert code == 29, (code, out)
    assert "certificate verify failed" in out, out
    assert imap_count(srv, "bob") == 0


def test_swaks_submissions_implicit_tls_auth_login_attachment(srv, work):
    blob = os.path.join(work, "blob.bin")
    with open(blob, "wb") as f:
        f.write(BLOB)
    code, out = swaks(work, "--server", "127.0.0.1:%d" % srv.ports["submissions"], "--tls-on-connect", "--tls-verify",
                      "--tls-ca-path", srv.cert, "--auth", "LOGIN", "--auth-user", "alice", "--auth-password", PASSWORD,
                      "--from", "alice@localhost", "--to", "bob@localhost", "--header", "Subject: swaks attachment",
                      "--body", "see attachment", "--attach-type", "application/octet-stream",
                      "--attach-name", "blob.bin", "--attach", "@" + blob)
    assert code == 0, out
    # Implicit TLS: the greeting itself comes over TLS.
    assert "<~  220 " in out and "<~  334 VXNlcm5hbWU6" in out and "<~  235 2.7.0" in out, out
    body = split_received(only_message(srv, "bob"), "ESMTPSA", "bob@localhost")
    msg = email.message_from_bytes(body, policy=email.policy.default)
    assert msg["Subject"] == "swaks attachment"
    assert attachment(body, "blob.bin") == BLOB


def test_swaks_relay_refused_on_the_smtp_port(srv, work):
    code, out = swaks(work, "--server", "127.0.0.1:%d" % srv.ports["smtp"], "--from", "sender@example.org",
                      "--to", "someone@example.com")
    assert code == 24, (code, out)
    assert "<** 554 5.7.1 <someone@example.com>: Relay access denied" in out, out
    log = srv.read_log()
    assert "event=message" not in log


def test_swaks_wrong_password(srv, work):
    code, out = swaks(work, "--server", "127.0.0.1:%d" % srv.ports["submission"], "--tls", "--auth", "PLAIN",
                      "--auth-user", "alice", "--auth-password", "wrong", "--from", "alice@localhost",
                      "--to", "bob@localhost")
    assert code == 28, (code, out)
    assert "<~* 535 5.7.8 Authentication credentials invalid" in out, out
    assert imap_count(srv, "bob") == 0


def test_swaks_sending_as_someone_else_refused(srv, work):
    code, out = swaks(work, "--server", "127.0.0.1:%d" % srv.ports["submission"], "--tls", "--auth", "PLAIN",
                      "--auth-user", "alice", "--auth-password", PASSWORD, "--from", "bob@localhost",
                      "--to", "bob@localhost")
    assert code == 23, (code, out)
    assert "<~* 553 5.7.1 Sender address not owned by the authenticated user" in out, out
    assert imap_count(srv, "bob") == 0


def test_swaks_smtp_port_starttls_and_no_auth(srv, work):
    # The smtp port: STARTTLS for anyone, no AUTH.
    code, out = swaks(work, "--server", "127.0.0.1:%d" % srv.ports["smtp"], "--tls", "--tls-verify",
                      "--tls-ca-path", srv.cert, "--from", "sender@example.org", "--to", "alice@localhost",
                      "--data", "@" + os.path.join(CORPUS, "gen-plain-crlf.eml"))
    assert code == 0, out
    assert "AUTH" not in out, out
    assert split_received(only_message(srv, "alice"), "ESMTPS", "alice@localhost") == swaks_sent("gen-plain-crlf.eml")
    code, out = swaks(work, "--server", "127.0.0.1:%d" % srv.ports["smtp"], "--auth", "PLAIN", "--auth-user", "alice",
                      "--auth-password", PASSWORD, "--from", "alice@localhost", "--to", "bob@localhost")
    assert code == 28 and "*** Host did not advertise authentication" in out, (code, out)
    # Submission without AUTH: MAIL is refused.
    code, out = swaks(work, "--server", "127.0.0.1:%d" % srv.ports["submission"], "--tls", "--from", "alice@localhost",
                      "--to", "bob@localhost")
    assert code == 23 and "<~* 530 5.7.0 Authentication required" in out, (code, out)
    assert imap_count(srv, "bob") == 0


# ---------------------------------------------------------------- msmtp

def msmtp_config(work, server, password=PASSWORD):
    path = os.path.join(work, "msmtprc")
    with open(path, "w") as f:
        f.write("defaults\n"
                "logfile -\n"
                "account roost\n"
                "host 127.0.0.1\n"
                "port %d\n"
                "tls on\n"
                "tls_starttls on\n"
                "tls_trust_file %s\n"
                "auth on\n"
                "user alice\n"
                "password %s\n"
                "from alice@localhost\n" % (server.ports["submission"], server.cert, password))
    os.chmod(path, 0o600)  # msmtp refuses a password file others may read
    return path


def test_msmtp_submission_tls_auth(srv, work):
    rc = msmtp_config(work, srv)
    code, out = run(["msmtp", "-C", rc, "-a", "roost", "--", "bob@localhost"], work,
                    input=corpus("gen-dot-stuffing.eml"))
    assert code == 0, out
    assert re.search(r"smtpstatus=250 smtpmsg='250 2\.0\.0 Ok: delivered id \S+'", out), out
    data = only_message(srv, "bob")
    assert split_received(data, "ESMTPSA", "bob@localhost") == corpus("gen-dot-stuffing.eml")


def test_msmtp_refused_recipient(srv, work):
    rc = msmtp_config(work, srv)
    code, out = run(["msmtp", "-C", rc, "-a", "roost", "--", "nobody@localhost"], work,
                    input=corpus("gen-minimal.eml"))
    assert code == 65, (code, out)
    assert "550 5.1.1 <nobody@localhost>: User unknown" in out, out
    # A wrong password: 77.
    rc = msmtp_config(work, srv, password="wrong")
    code, out = run(["msmtp", "-C", rc, "-a", "roost", "--", "bob@localhost"], work, input=corpus("gen-minimal.eml"))
    assert code == 77, (code, out)
    assert "535 5.7.8" in out, out
    assert imap_count(srv, "bob") == 0


# ---------------------------------------------------------------- curl

def curl(work, url, *args):
    return run(["curl", "-sS", "--max-time", "40"] + list(args) + [url], work)


def test_curl_smtps_and_submission_starttls(srv, work):
    eml = os.path.join(CORPUS, "gen-dot-stuffing.eml")
    code, out = curl(work, "smtps://127.0.0.1:%d" % srv.ports["submissions"], "--cacert", srv.cert,
                     "--user", "alice:" + PASSWORD, "--mail-from", "alice@localhost", "--mail-rcpt", "bob@localhost",
                     "--upload-file", eml)
    assert code == 0, out
    code, out = curl(work, "smtp://127.0.0.1:%d" % srv.ports["submission"], "--ssl-reqd", "--cacert", srv.cert,
                     "--user", "alice:" + PASSWORD, "--mail-from", "alice@localhost", "--mail-rcpt", "bob@localhost",
                     "--mail-rcpt", "alice@localhost", "--upload-file", eml)
    assert code == 0, out
    # curl dot-stuffs the file's lone "." line: both arrive byte for byte.
    bob = imap_messages(srv, "bob")
    assert len(bob) == 2
    assert split_received(bob[0], "ESMTPSA", "bob@localhost") == corpus("gen-dot-stuffing.eml")
    # Two recipients: the Received: header names neither, and both have the same bytes.
    assert split_received(bob[1], "ESMTPSA", "") == corpus("gen-dot-stuffing.eml")
    assert only_message(srv, "alice") == bob[1]


def test_curl_smtp_port_local_delivery_and_refusals(srv, work):
    eml = os.path.join(CORPUS, "gen-plain-bare-lf.eml")
    # --crlf: curl turns the file's bare LF into CRLF on the wire.
    code, out = curl(work, "smtp://127.0.0.1:%d" % srv.ports["smtp"], "--mail-from", "sender@example.org",
                     "--mail-rcpt", "alice@localhost", "--crlf", "--upload-file", eml)
    assert code == 0, out
    assert split_received(only_message(srv, "alice"), "ESMTP", "alice@localhost") == \
        corpus("gen-plain-bare-lf.eml").replace(b"\n", b"\r\n")
    # Relaying on the smtp port: RCPT refused (55).
    code, out = curl(work, "smtp://127.0.0.1:%d" % srv.ports["smtp"], "--mail-from", "sender@example.org",
                     "--mail-rcpt", "someone@example.com", "--upload-file", eml)
    assert code == 55 and "RCPT failed: 554" in out, (code, out)
    # A wrong password on submission: 67.
    code, out = curl(work, "smtp://127.0.0.1:%d" % srv.ports["submission"], "--ssl-reqd", "--cacert", srv.cert,
                     "--user", "alice:wrong", "--mail-from", "alice@localhost", "--mail-rcpt", "bob@localhost",
                     "--upload-file", eml)
    assert code == 67, (code, out)
    assert imap_count(srv, "bob") == 0


def test_curl_smtputf8_with_a_utf8_login(srv, work):
    # An account with a UTF-8 name logs in and sends as itself; curl adds
    # SMTPUTF8 to MAIL FROM for a non-ASCII address.
    srv.add_user("zoë", PASSWORD)
    srv.add_user("jürgen@localhost", PASSWORD)
    eml = os.path.join(CORPUS, "gen-utf8-headers-rfc6532.eml")
    code, out = curl(work, "smtps://127.0.0.1:%d" % srv.ports["submissions"], "--cacert", srv.cert,
                     "--user", "zoë:" + PASSWORD, "--mail-from", "zoë@localhost", "--mail-rcpt", "jürgen@localhost",
                     "--upload-file", eml, "-v")
    assert code == 0, out
    assert "> MAIL FROM:<zoë@localhost> SIZE=%d SMTPUTF8" % os.path.getsize(eml) in out, out
    data = only_message(srv, "jürgen@localhost")
    assert split_received(data, "UTF8SMTPSA", "jürgen@localhost") == corpus("gen-utf8-headers-rfc6532.eml")
    # Clients that do not ask for SMTPUTF8 are refused a non-ASCII address (RFC 6531 3.5).
    code, out = swaks(work, "--server", "127.0.0.1:%d" % srv.ports["submissions"], "--tls-on-connect",
                      "--auth", "PLAIN", "--auth-user", "zoë", "--auth-password", PASSWORD,
                      "--from", "zoë@localhost", "--to", "jürgen@localhost")
    assert code == 23 and "<~* 553 5.6.7 Non-ASCII address requires SMTPUTF8" in out, (code, out)
    code, out = run(["msmtp", "--host=127.0.0.1", "--port=%d" % srv.ports["submissions"], "--tls=on",
                     "--tls-starttls=off", "--tls-trust-file=" + srv.cert, "--auth=on", "--user=zoë",
                     "--passwordeval=echo " + PASSWORD, "--from=zoë@localhost", "--", "jürgen@localhost"], work,
                    input=corpus("gen-minimal.eml"))
    assert code == 65 and "553 5.6.7" in out, (code, out)
    assert imap_count(srv, "jürgen@localhost") == 1


def test_curl_5mb_message_over_smtps(srv, work):
    eml = os.path.join(CORPUS, "gen-huge-5mb.eml")
    code, out = curl(work, "smtps://127.0.0.1:%d" % srv.ports["submissions"], "--cacert", srv.cert,
                     "--user", "alice:" + PASSWORD, "--mail-from", "alice@localhost", "--mail-rcpt", "bob@localhost",
                     "--upload-file", eml)
    assert code == 0, out
    assert split_received(only_message(srv, "bob"), "ESMTPSA", "bob@localhost") == corpus("gen-huge-5mb.eml")


def stored_form(data):
    """What arrives of a file curl uploads: curl ends data that does not end
    in CRLF with one before the dot (even after a bare LF), and the server
    keeps a bare LF, and a bare CR too, as CRLF (smtp.bare_lf = accept)."""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return re.sub(rb"\r\n|\r|\n", b"\r\n", data)


def test_curl_corpus_round_trip(srv, work):
    # Every corpus message through smtps, one curl each, read back in order.
    names = sorted(f for f in os.listdir(CORPUS) if f.endswith(".eml"))
    sent = []
    for name in names:
        code, out = curl(work, "smtps://127.0.0.1:%d" % srv.ports["submissions"], "--cacert", srv.cert,
                         "--user", "alice:" + PASSWORD, "--mail-from", "alice@localhost",
                         "--mail-rcpt", "bob@localhost", "--upload-file", os.path.join(CORPUS, name), "-v")
        if name == "gen-binary-nul.eml":
            # NUL is refused after the data (curl calls any 5xx there "weird": 8).
            assert code == 8 and "< 554 5.6.0 Message contains NUL characters" in out, (code, out[-2000:])
            continue
        assert code == 0, (name, out[-2000:])
        sent.append(name)
    got = imap_messages(srv, "bob")
    assert len(got) == len(sent) == len(names) - 1
    for name, data in zip(sent, got):
        assert split_received(data, "ESMTPSA", "bob@localhost") == stored_form(corpus(name)), name


# ---------------------------------------------------------------- smtplib

def test_smtplib_smtps_login_smtputf8(srv):
    # Accounts with UTF-8 names: a bare local part and a full address; and an
    # alias with a UTF-8 local part that alice may send as.
    srv.add_user("zoë", PASSWORD)
    srv.add_user("jürgen@localhost", PASSWORD)
    srv.cli("alias", "add", "älice@localhost", "alice")
    m = EmailMessage()
    m["From"] = "Älice <älice@localhost>"
    m["To"] = "Zoë <zoë@localhost>, jürgen@localhost"
    m["Subject"] = "Grüße über SMTPUTF8"
    m.set_content("Hallo Zoë, hallo Jürgen.\n.\nEin Punkt allein.\n")
    ctx = ssl.create_default_context(cafile=srv.cert)  # verifies 127.0.0.1 against the certificate's IP SAN
    with smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"], context=ctx, timeout=30) as s:
        s.ehlo("client.example")
        assert s.has_extn("smtputf8") and s.has_extn("8bitmime")
        s.login("alice", PASSWORD)
        # Non-ASCII addresses: smtplib sends MAIL FROM:<älice@localhost> SMTPUTF8 BODY=8BITMIME.
        assert s.send_message(m) == {}
    # What smtplib put on the wire, unstuffed: the SMTPUTF8 form of the message.
    buf = io.BytesIO()
    email.generator.BytesGenerator(buf, policy=m.policy.clone(utf8=True)).flatten(m, linesep="\r\n")
    want = buf.getvalue()
    assert "älice".encode() in want and b"=?utf-8?" not in want
    for user in ("zoë", "jürgen@localhost"):
        assert split_received(only_message(srv, user), "UTF8SMTPSA", rcpt="") == want, user
    log = srv.read_log()
    assert re.search(r"event=message proto=submission from=\S+ rcpts=2 local=2 remote=0 .*result=ok", log), log[-2000:]


def test_smtplib_lmtp(lmtp_target):
    _, s, _, connect = lmtp_target
    raw = corpus("gen-dot-stuffing.eml")  # ends with a lone "." line: smtplib stuffs it
    c = smtplib.LMTP(*connect, timeout=30)
    try:
        code, _ = c.ehlo("mta.example")
        assert code == 250 and c.does_esmtp and c.has_extn("pipelining")
        # One recipient per transaction (smtplib reads one reply after DATA).
        assert c.sendmail("sender@example.org", ["alice@localhost"], raw) == {}
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            c.sendmail("sender@example.org", ["nobody@localhost"], raw)
        assert e.value.recipients == {"nobody@localhost": (550, b"5.1.1 <nobody@localhost>: User unknown")}
        # Still in step after the refusal.
        assert c.sendmail("sender@example.org", ["bob@localhost"], raw) == {}
        assert c.noop()[0] == 250
    finally:
        c.quit()
    for u in ("alice", "bob"):
        assert split_received(only_message(s, u), "LMTP", u + "@localhost") == raw


# ---------------------------------------------------------------- nodemailer

def test_nodemailer_submissions_html_and_attachment(srv, work):
    need("node")
    assert os.path.isdir(os.path.join(NODE_MODULES, "nodemailer")), "nodemailer missing: run scripts/deps.sh test"
    blob = os.path.join(work, "data.bin")
    with open(blob, "wb") as f:
        f.write(BLOB)
    env = dict(NODE_PATH=NODE_MODULES, SMTP_HOST="127.0.0.1", SMTP_PORT=str(srv.ports["submissions"]),
               SMTP_MODE="tls", SMTP_CA=srv.cert, SMTP_USER="alice", SMTP_PASS=PASSWORD, FROM="alice@localhost",
               TO="bob@localhost", SUBJECT="nodemailer attachment", ATTACH=blob)
    code, out = run(["node", os.path.join(CLIENTS, "nodemailer_send.js")], work, env=env)
    assert code == 0 and out.rstrip().endswith("NODEMAILER OK"), out
    assert 'accepted ["bob@localhost"] rejected []' in out, out
    body = split_received(only_message(srv, "bob"), "ESMTPSA", "bob@localhost")
    msg = email.message_from_bytes(body, policy=email.policy.default)
    assert msg["Subject"] == "nodemailer attachment"
    assert str(msg["From"]) == "alice@localhost"
    html = msg.get_body(("html",)).get_content()
    assert "<b>body</b>" in html and "Grüße" in html, html
    text = msg.get_body(("plain",)).get_content()
    assert "\n.\nA lone dot above." in text.replace("\r\n", "\n"), text
    assert attachment(body, "data.bin") == BLOB


def test_nodemailer_lmtp_per_recipient_results(srv, work):
    blob = os.path.join(work, "data.bin")
    with open(blob, "wb") as f:
        f.write(BLOB)
    env = dict(NODE_PATH=NODE_MODULES, SMTP_HOST="127.0.0.1", SMTP_PORT=str(srv.ports["lmtp"]), SMTP_MODE="lmtp",
               SMTP_CA=srv.cert, SMTP_USER="", FROM="sender@example.org",
               TO="alice@localhost,nobody@localhost,bob@localhost", SUBJECT="nodemailer lmtp", ATTACH=blob)
    code, out = run(["node", os.path.join(CLIENTS, "nodemailer_send.js")], work, env=env)
    assert code == 0 and out.rstrip().endswith("NODEMAILER OK"), out
    assert 'accepted ["alice@localhost","bob@localhost"] rejected ["nobody@localhost"]' in out, out
    first = None
    for u in ("alice", "bob"):
        body = split_received(only_message(srv, u), "LMTP", rcpt="")
        assert attachment(body, "data.bin") == BLOB
        assert first is None or body == first
        first = body


def test_nodemailer_refused_certificate(srv, work, make_server):
    other = make_server()
    env = dict(NODE_PATH=NODE_MODULES, SMTP_HOST="127.0.0.1", SMTP_PORT=str(srv.ports["submissions"]),
               SMTP_MODE="tls", SMTP_CA=other.cert, SMTP_USER="alice", SMTP_PASS=PASSWORD, FROM="alice@localhost",
               TO="bob@localhost", SUBJECT="not sent", ATTACH=srv.cert)
    code, out = run(["node", os.path.join(CLIENTS, "nodemailer_send.js")], work, env=env)
    assert code == 1 and "FAIL:" in out and "certificate" in out, out
    assert imap_count(srv, "bob") == 0


# ---------------------------------------------------------------- mutt

def mutt_send(work, server, cert, subject, body, attach):
    rc = os.path.join(work, "muttrc")
    with open(rc, "w") as f:
        f.write('set from = "Alice Example <alice@localhost>"\n'
                'set smtp_url = "smtps://alice@127.0.0.1:%d/"\n'
                'set smtp_pass = "%s"\n'
                'set ssl_force_tls = yes\n'
                'set certificate_file = "%s"\n'
                'set record = ""\n'
                'set copy = no\n'
                'set charset = "utf-8"\n'
                'set send_charset = "utf-8"\n' % (server.ports["submissions"], PASSWORD, cert))
    return run(["mutt", "-n", "-F", rc, "-s", subject, "-a", attach, "--", "bob@localhost"], work,
               input=body.encode())


def test_mutt_batch_send_through_submissions(srv, work):
    blob = os.path.join(work, "blob.bin")
    with open(blob, "wb") as f:
        f.write(BLOB)
    code, out = mutt_send(work, srv, srv.cert, "mutt batch Grüße", "Body from mutt.\n", blob)
    assert code == 0, out
    body = split_received(only_message(srv, "bob"), "ESMTPSA", "bob@localhost")
    msg = email.message_from_bytes(body, policy=email.policy.default)
    assert msg["Subject"] == "mutt batch Grüße"
    assert str(msg["From"]) == "Alice Example <alice@localhost>"
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Body from mutt.\n"
    assert attachment(body, "blob.bin") == BLOB


def test_mutt_refuses_another_certificate(srv, work, make_server):
    other = make_server()
    code, out = mutt_send(work, srv, other.cert, "not sent", "Body.\n", srv.cert)
    # Batch mode: no prompt to accept the certificate, the message is not sent.
    assert code != 0 and "Could not send the message" in out, (code, out)
    assert imap_count(srv, "bob") == 0


# ---------------------------------------------------------------- smtp-source

SMTP_SOURCE = "/usr/sbin/smtp-source"


def test_smtp_source_lmtp_and_smtp_load(srv, work):
    need(SMTP_SOURCE)
    code, out = run([SMTP_SOURCE, "-d", "-L", "-m", "50", "-s", "5", "-l", "2048", "-f", "sender@example.org",
                     "-t", "alice@localhost", "-S", "lmtp load", "-M", "mta.example",
                     "127.0.0.1:%d" % srv.ports["lmtp"]], work)
    assert code == 0 and "fatal" not in out, out
    code, out = run([SMTP_SOURCE, "-d", "-c", "-m", "50", "-s", "5", "-l", "2048", "-f", "sender@example.org",
                     "-t", "bob@localhost", "-S", "smtp load", "-M", "client.example",
                     "127.0.0.1:%d" % srv.ports["smtp"]], work)
    assert code == 0 and "fatal" not in out, out
    assert out.split()[-1] == "50", out  # -c: the counter of completed DATA commands
    n, size = pop3_stat(srv, "alice")
    assert n == 50 and size > 50 * 2048, (n, size)
    assert imap_count(srv, "bob") == 50
    # smtp-source greets with HELO (LHLO for LMTP): no extensions, "with SMTP".
    for user, with_ in (("alice", "LMTP"), ("bob", "SMTP")):
        for data in imap_messages(srv, user):
            body = split_received(data, with_, user + "@localhost")
            assert body.startswith(b"From: <sender@example.org>\r\n"), body[:200]
            assert b"\r\nSubject: %s load\r\n" % ("lmtp" if with_ == "LMTP" else "smtp").encode() in body, body[:400]
    log = srv.read_log()
    assert len(re.findall(r"event=message proto=lmtp .*result=ok", log)) == 50
    assert len(re.findall(r"event=message proto=smtp .*result=ok", log)) == 50
