"""The outbound queue end to end: mail submitted for a remote domain goes to
postfix's smtp-sink (the "remote MX", reached through a static route in
queue.routes), a 5xx comes back as a bounce in the sender's INBOX, a 4xx is
retried, a restart between attempts loses nothing and sends nothing twice,
and `roost queue list|flush|delete` act on what waits."""
import email
import glob
import imaplib
import os
import re
import shutil
import smtplib
import subprocess
import tempfile
import time

import pytest

from conftest import free_port

SINK = "/usr/sbin/smtp-sink"


class Sink:
    """smtp-sink on a loopback port, keeping each message it takes as a file."""

    def __init__(self, base, port=None):
        self.dir = tempfile.mkdtemp(prefix="sink-", dir=base)
        os.chmod(self.dir, 0o777)
        self.port = port or free_port()
        self.proc = None

    def start(self, *opts):
        args = [SINK, "-d", os.path.join(self.dir, "msg."), *opts]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        args += ["127.0.0.1:%d" % self.port, "10"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                smtplib.SMTP("127.0.0.1", self.port, timeout=2).quit()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("smtp-sink did not start")

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def messages(self):
        out = []
        for f in sorted(glob.glob(os.path.join(self.dir, "msg.*"))):
            with open(f, "rb") as fh:
                out.append(fh.read())
        return out


@pytest.fixture
def sink(base_tmp):
    s = Sink(base_tmp)
    yield s
    s.stop()


def queue_server(make_server, sink, **extra):
    sets = {"queue.routes": "remote.test=127.0.0.1:%d" % sink.port, "smtp.domains": "example.com",
            "queue.retry_min": "1", "queue.retry_max": "2"}
    sets.update({k.replace("__", "."): v for k, v in extra.items()})
    srv = make_server(sets)
    srv.add_user("alice@example.com", "secret")
    return srv


def submit(srv, rcpts, subject="queued", mail_options=(), rcpt_options=()):
    body = ("From: alice@example.com\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@example.com>\r\n\r\n"
            "Hello from the queue.\r\n.a line that starts with a dot\r\n" % (", ".join(rcpts), subject, subject))
    with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as c:
        c.ehlo("client.test")
        c.login("alice@example.com", "secret")
        c.mail("alice@example.com", list(mail_options))
        for r in rcpts:
            code, msg = c.rcpt(r, list(rcpt_options))
            assert code == 250, (code, msg)
        code, msg = c.data(body.encode())
        assert code == 250, (code, msg)


def wait_for(what, fn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def queue_list(srv):
    return srv.cli("queue", "list").stdout.decode()


def inbox(srv, user="alice@example.com", password="secret"):
    m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
    try:
        m.login(user, password)
        m.select("INBOX", readonly=True)
        _, data = m.search(None, "ALL")
        msgs = []
        for num in data[0].split():
            _, d = m.fetch(num, "(BODY.PEEK[])")
            msgs.append(d[0][1])
        return msgs
    finally:
        m.logout()


def test_remote_mail_reaches_the_sink(make_server, sink):
    sink.start()
    srv = queue_server(make_server, sink)
    submit(srv, ["bob@remote.test", "carol@remote.test"], subject="first",
           mail_options=["RET=HDRS", "ENVID=env+2B1"], rcpt_options=["NOTIFY=FAILURE,DELAY", "ORCPT=rfc822;Bob@remote.test"])
    msgs = wait_for("delivery", sink.messages)
    assert len(msgs) == 1, "one transaction for both recipients of one domain"
    m = msgs[0]
    assert b"Subject: first" in m
    assert b"\n..a line that starts" not in m and b"\n.a line that starts with a dot" in m
    # The DSN parameters went on to a next hop that offers DSN.
    assert re.search(rb"X-Mail-Args: .*RET=HDRS", m)
    assert re.search(rb"X-Mail-Args: .*ENVID=env\+2B1", m)
    assert re.search(rb"X-Rcpt-Args: <bob@remote.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;Bob@remote.test", m)
    wait_for("empty queue", lambda: "the queue is empty" in queue_list(srv))
    time.sleep(1)
    assert len(sink.messages()) == 1


def test_a_5xx_bounces_to_the_sender(make_server, sink):
    sink.start("-f", "RCPT", "-B", "550 5.1.1 no such user here")
    srv = queue_server(make_server, sink)
    submit(srv, ["nobody@remote.test"], subject="doomed", mail_options=["ENVID=E42"],
           rcpt_options=["ORCPT=rfc822;nobody@remote.test"])
    bounces = wait_for("bounce", lambda: inbox(srv))
    assert len(bounces) == 1
    b = email.message_from_bytes(bounces[0])
    assert b.get_content_type() == "multipart/report"
    assert b.get_param("report-type") == "delivery-status"
    text = bounces[0].decode(errors="replace")
    assert "Final-Recipient: rfc822; nobody@remote.test" in text
    assert "Action: failed" in text
    assert "Status: 5.1.1" in text
    assert "Diagnostic-Code: smtp; 550 5.1.1 no such user here" in text
    assert "Original-Envelope-Id: E42" in text
    assert "Original-Recipient: rfc822; nobody@remote.test" in text
    assert "Subject: doomed" in text  # the original comes back
    wait_for("empty queue", lambda: "the queue is empty" in queue_list(srv))
    assert sink.messages() == []


def test_notify_never_and_null_sender_get_no_bounce(make_server, sink):
    sink.start("-f", "RCPT")
    srv = queue_server(make_server, sink)
    submit(srv, ["x@remote.test"], subject="quiet", rcpt_options=["NOTIFY=NEVER"])
    wait_for("empty queue", lambda: "the queue is empty" in queue_list(srv))
    time.sleep(1)
    assert inbox(srv) == []
    assert "event=dsn" not in srv.read_log()


def test_a_4xx_is_retried(make_server, sink):
    sink.start("-r", "RCPT")
    srv = queue_server(make_server, sink)
    submit(srv, ["dave@remote.test"], subject="later")
    listing = wait_for("a deferred attempt", lambda: (lambda s: "attempts=2" in s and s)(queue_list(srv)))
    assert "pending" in listing and "450 4.3.0" in listing
    port = sink.port
    sink.stop()
    sink2 = Sink(os.path.dirname(sink.dir), port=port)
    sink2.dir = sink.dir
    sink2.start()
    try:
        wait_for("delivery", sink2.messages)
        wait_for("empty queue", lambda: "the queue is empty" in queue_list(srv))
        assert inbox(srv) == []  # no bounce
    finally:
        sink2.stop()


def test_restart_loses_nothing_and_sends_nothing_twice(make_server, sink, base_tmp):
    sink.start()
    srv = queue_server(make_server, sink, queue__retry_min="3600", queue__retry_max="3600")
    submit(srv, ["one@remote.test"], subject="before")
    wait_for("first delivery", lambda: len(sink.messages()) == 1)
    sink.stop()
    # The sink is gone: the next message waits in the queue.
    submit(srv, ["two@remote.test"], subject="waiting")
    wait_for("a failed attempt", lambda: "attempts=1" in queue_list(srv))
    srv.stop()
    assert "two@remote.test" in queue_list(srv)
    sink2 = Sink(base_tmp, port=sink.port)
    sink2.dir = sink.dir
    sink2.start()
    try:
        srv.start()
        srv.cli("queue", "flush")
        wait_for("second delivery", lambda: len(sink2.messages()) == 2)
        wait_for("empty queue", lambda: "the queue is empty" in queue_list(srv))
        srv.stop()
        srv.start()
        time.sleep(3)
        msgs = sink2.messages()
        assert len(msgs) == 2
        assert sum(b"Subject: before" in m for m in msgs) == 1
        assert sum(b"Subject: waiting" in m for m in msgs) == 1
    finally:
        sink2.stop()


def test_queue_cli_list_flush_delete(make_server, sink):
    # Nobody listens on the sink's port: every attempt fails with 4xx.
    srv = queue_server(make_server, sink, queue__retry_min="3600", queue__retry_max="3600")
    submit(srv, ["eve@remote.test"], subject="stuck")
    listing = wait_for("an attempt", lambda: (lambda s: "attempts=1" in s and s)(queue_list(srv)))
    m = re.search(r"^(\d+)\t(\S+)\t<alice@example.com>\t(\d+) bytes$", listing, re.M)
    assert m, listing
    qid = m.group(1)
    assert re.search(r"^\t<eve@remote.test>\tpending\tattempts=1\tnext=\S+\t451 4\.4\.1 cannot connect", listing, re.M), listing
    srv.cli("queue", "flush", qid)
    wait_for("a second attempt", lambda: "attempts=2" in queue_list(srv))
    srv.cli("queue", "delete", qid)
    assert "the queue is empty" in queue_list(srv)
    p = srv.cli("queue", "delete", qid, check=False)
    assert p.returncode == 1 and b"no message" in p.stderr
    p = srv.cli("queue", "flush", "x1", check=False)
    assert p.returncode == 2
    p = srv.cli("queue", "frobnicate", check=False)
    assert p.returncode == 2
    time.sleep(1)
    assert inbox(srv) == []  # deleting tells nobody


def test_expiry_returns_the_message(make_server, sink):
    srv = queue_server(make_server, sink, queue__lifetime="2")
    submit(srv, ["late@remote.test"], subject="expiring")
    bounces = wait_for("expiry bounce", lambda: inbox(srv))
    text = bounces[0].decode(errors="replace")
    assert "Action: failed" in text and "Status: 4.4.1" in text
    wait_for("empty queue", lambda: "the queue is empty" in queue_list(srv))


def test_success_notice_when_the_next_hop_has_no_dsn(make_server, sink):
    sink.start("-N")
    srv = queue_server(make_server, sink)
    submit(srv, ["frank@remote.test"], subject="tellme", rcpt_options=["NOTIFY=SUCCESS"])
    wait_for("delivery", sink.messages)
    notes = wait_for("relayed notice", lambda: inbox(srv))
    text = notes[0].decode(errors="replace")
    assert "Action: relayed" in text and "Final-Recipient: rfc822; frank@remote.test" in text
    assert "NOTIFY" not in sink.messages()[0].decode(errors="replace").split("X-Rcpt-Args")[1].split("\n")[0]


def test_delay_notice_once(make_server, sink):
    sink.start("-r", "RCPT")
    srv = queue_server(make_server, sink, queue__delay_notify="1")
    submit(srv, ["gina@remote.test"], subject="slow", rcpt_options=["NOTIFY=DELAY,FAILURE"])
    notes = wait_for("delay notice", lambda: inbox(srv))
    text = notes[0].decode(errors="replace")
    assert "Action: delayed" in text and "Will-Retry-Until:" in text and "Status: 4.3.0" in text
    assert "Hello from the queue" not in text  # a delay notice returns the header only
    wait_for("more attempts", lambda: "attempts=4" in queue_list(srv))
    assert len(inbox(srv)) == 1  # once, not at every attempt


@pytest.mark.parametrize("tls", ["starttls", "tls"])
def test_relay_host_with_tls_and_auth(make_server, tls):
    """Another Roost is the smarthost: its submission port (STARTTLS) or its
    submissions port (implicit TLS), logged in as the sender's account there.
    The message reaches the relay's local user; a wrong password leaves it
    queued with the relay's 535 as the last reply."""
    relay = make_server({"smtp.domains": "remote.test"})
    relay.add_user("alice@example.com", "relaypass")
    relay.add_user("bob@remote.test", "b")
    port = relay.ports["submission" if tls == "starttls" else "submissions"]
    sets = {"relay.host": "127.0.0.1:%d" % port, "relay.tls": tls, "relay.tls_verify": "no",
            "relay.user": "alice@example.com", "relay.password": "relaypass", "smtp.domains": "example.com"}
    srv = make_server(sets)
    srv.add_user("alice@example.com", "secret")
    submit(srv, ["bob@remote.test"], subject="via-relay-" + tls)
    msgs = wait_for("the relayed message", lambda: inbox(relay, "bob@remote.test", "b"))
    assert len(msgs) == 1 and b"Subject: via-relay-" + tls.encode() in msgs[0]
    # Two hops of trace: the relay's Received: on top of ours.
    assert msgs[0].count(b"Received: ") == 2
    assert b"with ESMTPSA" in msgs[0]
    wait_for("an empty queue", lambda: "bob@remote.test" not in queue_list(srv))

    bad = make_server(dict(sets, **{"relay.password": "wrong"}))
    bad.add_user("alice@example.com", "secret")
    submit(bad, ["bob@remote.test"], subject="refused")
    try:
        wait_for("the relay's refusal", lambda: "535" in queue_list(bad))
    except AssertionError:
        raise AssertionError(queue_list(bad) + bad.read_log()[-3000:])
    assert len(inbox(relay, "bob@remote.test", "b")) == 1


def test_stop_does_not_wait_for_a_silent_remote(make_server):
    """A remote that accepts the connection and never says a word: the
    server still stops promptly (Server.stop allows 30 s; the client's own
    greeting timeout is 120 s), and the message is still queued after."""
    import socket
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    port = silent.getsockname()[1]
    srv = make_server({"queue.routes": "remote.test=127.0.0.1:%d" % port, "smtp.domains": "example.com"})
    srv.add_user("alice@example.com", "secret")
    submit(srv, ["bob@remote.test"], subject="silent")
    silent.settimeout(20)
    conn, _ = silent.accept()  # the runner is now waiting for a greeting
    srv.stop()
    conn.close()
    silent.close()
    assert "bob@remote.test" in queue_list(srv)
