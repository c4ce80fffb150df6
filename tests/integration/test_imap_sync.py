"""Two-way sync clients against a real server: mbsync (isync) over STARTTLS
and offlineimap3 over implicit TLS, both verifying the test certificate
(offlineimap verifies it only with ssl = yes, not after STARTTLS).

Each test seeds several folders with flags, syncs down, then changes both
sides the way people do - flag changes, deletions, a move between folders and
a new message written locally; new mail, flag changes, an expunge and an APPEND
on the server by a second client (Python's imaplib), once between runs and once
while a sync is running - and syncs until it settles. The final state is then
compared exactly: the server's through a raw IMAP session, the client's through
the Maildir files (flags from their names, content byte for byte up to the line
endings the client converts)."""
import imaplib
import os
import re
import shutil
import subprocess
import threading

import pytest

from clients.imapclient_util import (DEFAULT_MAILBOXES, PASSWORD, USER, Raw, flags_summary, imap_utf7, lf,
                                     maildir_file, maildir_state, message, run, set_maildir_flags,
                                     work, write_maildir_message)  # noqa: F401 (work: a fixture)

UTF8_FOLDER = "Entwürfe"
FOLDERS = ["INBOX", "Archive", "Work/Projects", UTF8_FOLDER]
ALL_FOLDERS = sorted(set(FOLDERS) | set(DEFAULT_MAILBOXES))

# Seed: folder -> [(subject, flags set on the server before the first sync)].
SEED = {
    "INBOX": [("inbox one", r"\Seen"), ("inbox two", r"\Flagged"), ("inbox three", ""), ("inbox four", r"\Seen")],
    "Archive": [("archive one", r"\Seen \Answered"), ("archive two", "")],
    "Work/Projects": [("project one", r"\Seen"), ("project two", "")],
    UTF8_FOLDER: [("draft one", r"\Draft \Seen")],
}

# After every change below has been synced, both sides hold exactly this.
FINAL = {
    "INBOX": {"inbox three": {r"\Seen", r"\Flagged"}, "local new": {r"\Seen"}, "server new": set(),
              "concurrent inbox": {r"\Flagged"}},
    "Archive": {"archive one": {r"\Seen", r"\Answered"}, "archive two": {r"\Flagged", r"\Seen"},
                "inbox four": {r"\Seen"}, "concurrent append": set()},
    "Work/Projects": {"project two": set(), "second client": {r"\Answered"}},
    UTF8_FOLDER: {"draft one": {r"\Draft", r"\Seen"}},
}


@pytest.fixture
def seeded(server):
    server.add_user(USER, PASSWORD)
    for folder in FOLDERS:
        if folder not in DEFAULT_MAILBOXES:
            server.cli("mailbox", "create", "--user", USER, folder)
    originals = {}
    for folder, msgs in SEED.items():
        for subject, _ in msgs:
            data = message(subject)
            originals[subject] = data
            server.deliver(USER, data, mailbox=folder)
    with Raw(server) as r:
        assert r.mailboxes() == ALL_FOLDERS
        for folder, msgs in SEED.items():
            for subject, flags in msgs:
                if flags:
                    r.store(folder, subject, "+FLAGS", flags)
    server.originals = originals
    return server


def without_tuid(data):
    """mbsync writes an X-TUID: header (its crash-recovery tag) as the last
    header line of every message it copies, in either direction; take out
    exactly that one line."""
    m = re.search(rb"\r?\nX-TUID: [A-Za-z0-9+/]{12}(\r?\n\r?\n)", data)
    assert m and data.count(b"X-TUID:") == 1, data[:400]
    return data[:m.start()] + m.group(1) + data[m.end():]


def imaplib_session(server):
    M = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30)
    M.starttls(ssl_context=server.tls_context())
    M.login(USER, PASSWORD)
    return M


def second_client_between_runs(server):
    """Server-side changes by another client: new mail, a flag change, an expunge, an APPEND."""
    server.deliver(USER, message("server new"))
    M = imaplib_session(server)
    try:
        typ, _ = M.select("Archive")
        assert typ == "OK"
        typ, d = M.uid("SEARCH", None, "SUBJECT", '"archive two"')
        assert typ == "OK" and len(d[0].split()) == 1, d
        typ, _ = M.uid("STORE", d[0], "+FLAGS", r"(\Flagged)")
        assert typ == "OK"
        typ, _ = M.select('"Work/Projects"')
        assert typ == "OK"
        typ, d = M.uid("SEARCH", None, "SUBJECT", '"project one"')
        assert typ == "OK" and len(d[0].split()) == 1, d
        M.uid("STORE", d[0], "+FLAGS", r"(\Deleted)")
        typ, _ = M.expunge()
        assert typ == "OK"
        typ, d = M.append('"Work/Projects"', r"(\Answered)", None, message("second client"))
        assert typ == "OK", d
        M.logout()
    finally:
        if M.state != "LOGOUT":
            M.shutdown()


def second_client_during_run(server, started):
    """Changes made while a sync is running: an APPEND to one folder, flags in two others."""
    started.wait(30)
    M = imaplib_session(server)
    try:
        typ, d = M.append("Archive", None, None, message("concurrent append"))
        assert typ == "OK", d
        typ, _ = M.select("Archive")
        typ, d = M.uid("SEARCH", None, "SUBJECT", '"archive two"')
        M.uid("STORE", d[0], "+FLAGS", r"(\Seen)")
        typ, _ = M.select("INBOX")
        typ, d = M.uid("SEARCH", None, "SUBJECT", '"concurrent inbox"')
        assert typ == "OK" and len(d[0].split()) == 1, d
        typ, _ = M.uid("STORE", d[0], "+FLAGS", r"(\Flagged)")
        assert typ == "OK"
        M.logout()
    finally:
        if M.state != "LOGOUT":
            M.shutdown()


def run_while_second_client_changes(argv, cwd, server, timeout=60, env=None):
    """Start a sync and, once it runs, let a second client change the account."""
    errors = []
    started = threading.Event()

    def other():
        try:
            second_client_during_run(server, started)
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)
    t = threading.Thread(target=other)
    t.start()
    e = dict(os.environ, HOME=cwd, LC_ALL="C.UTF-8")
    e.update(env or {})
    p = subprocess.Popen(["timeout", "-k", "5", str(timeout)] + argv, cwd=cwd, env=e,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    started.set()
    out, _ = p.communicate(timeout=timeout + 30)
    t.join(60)
    assert not t.is_alive(), "the second client hung"
    if errors:
        raise errors[0]
    assert p.returncode != 124, "sync timed out:\n" + out.decode(errors="replace")[-4000:]
    return p.returncode, out.decode(errors="replace")


def local_changes(maildir, folder_path):
    """What a person does in a local mail reader between two syncs."""
    inbox = folder_path(maildir, "INBOX")
    archive = folder_path(maildir, "Archive")
    set_maildir_flags(maildir_file(inbox, "inbox three"), "FS")     # flag + read
    os.unlink(maildir_file(inbox, "inbox one"))                      # deleted outright
    f = maildir_file(inbox, "inbox two")                             # marked deleted (trashed)
    set_maildir_flags(f, os.path.basename(f).rsplit(":2,", 1)[1] + "T")
    # Moved to another folder: a new file there, without the source's UID.
    src = maildir_file(inbox, "inbox four")
    name = os.path.basename(src).split(",")[0].split(":")[0] + ".moved"
    write_maildir_message(archive, name, open(src, "rb").read(), letters="S")
    os.unlink(src)
    write_maildir_message(inbox, "1700000000.localnew.host", lf(message("local new")), letters="S")


# Messages that crossed from the client to the server (uploaded by the sync tool).
UPLOADED = {"local new", "inbox four"}


def check_server(server, uploaded, final=FINAL):
    """The server holds exactly FINAL; what the test or the second client put
    there is byte for byte what was sent, what the sync tool uploaded is the
    local file with CRLF line endings, passed through uploaded()."""
    with Raw(server) as r:
        assert r.mailboxes() == ALL_FOLDERS
        for folder in ALL_FOLDERS:
            want = final.get(folder, {})
            got = r.by_subject(folder)
            assert flags_summary(got) == {s: sorted(f) for s, f in want.items()}, folder
            for subject, (_, data) in got.items():
                assert (uploaded(data) if subject in UPLOADED else data) == message(subject), subject


def check_local(maildir, folder_path, downloaded, final=FINAL):
    """The Maildir holds exactly FINAL; each file, passed through downloaded(),
    is the message as the server has it with LF line endings."""
    for folder in ALL_FOLDERS:
        want = final.get(folder, {})
        got = maildir_state(folder_path(maildir, folder))
        assert flags_summary(got) == {s: sorted(f) for s, f in want.items()}, folder
        for subject, (_, data) in got.items():
            assert downloaded(data, subject) == lf(message(subject)), subject


def set_up_server_only_messages(server):
    # "concurrent inbox" exists before the concurrent run so that its flag
    # change (not its arrival) is what races with the sync.
    server.deliver(USER, message("concurrent inbox"))


# ---------------------------------------------------------------- mbsync

def mbsync_config(work, server):
    shutil.copy(server.cert, os.path.join(work, "cert.pem"))
    os.makedirs(os.path.join(work, "maildir"))
    os.makedirs(os.path.join(work, "state"))
    rc = os.path.join(work, "mbsyncrc")
    with open(rc, "w") as f:
        f.write("""IMAPAccount test
Host localhost
Port %d
User %s
Pass %s
SSLType STARTTLS
CertificateFile ./cert.pem
Timeout 20

IMAPStore remote
Account test

MaildirStore local
Path ./maildir/
Inbox ./maildir/INBOX
SubFolders Verbatim

Channel test
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState ./state/
Sync All
""" % (server.ports["imap"], USER, PASSWORD))
    return ["mbsync", "-c", rc, "test"]


def mbsync_folder(maildir, name):
    # isync 1.4 names local folders with the server's modified UTF-7 (1.5 decodes it).
    return os.path.join(maildir, imap_utf7(name))


def test_mbsync_two_way(seeded, work):
    argv = mbsync_config(work, seeded)
    maildir = os.path.join(work, "maildir")
    code, log = run(argv, work)
    assert code == 0, log
    # The first sync brought every folder down, flags included, content intact.
    for folder, msgs in SEED.items():
        got = maildir_state(mbsync_folder(maildir, folder))
        assert flags_summary(got) == {s: sorted(f.split()) for s, f in msgs}, (folder, log)
        for subject, (_, data) in got.items():
            assert without_tuid(data) == lf(seeded.originals[subject]), subject
    # A second run with nothing changed changes nothing.
    code, log = run(argv, work)
    assert code == 0, log
    with Raw(seeded) as r:
        assert flags_summary(r.by_subject("INBOX")) == {s: sorted(f.split()) for s, f in SEED["INBOX"]}

    local_changes(maildir, mbsync_folder)
    second_client_between_runs(seeded)
    set_up_server_only_messages(seeded)
    code, log = run(argv, work)
    assert code == 0, log
    code, log = run_while_second_client_changes(argv, work, seeded)
    assert code == 0, log
    code, log = run(argv, work)  # settles what the concurrent run missed
    assert code == 0, log
    # mbsync converts line endings both ways and tags each copy with X-TUID;
    # a local file it did not write ("local new") has none.
    def downloaded(data, subject):
        return data if subject == "local new" else without_tuid(data)

    check_server(seeded, without_tuid)
    check_local(maildir, mbsync_folder, downloaded)
    # And it stays settled.
    code, log = run(argv, work)
    assert code == 0, log
    check_server(seeded, without_tuid)
    check_local(maildir, mbsync_folder, downloaded)


def test_mbsync_wrong_password_or_certificate_fails(seeded, work, make_server):
    argv = mbsync_config(work, seeded)
    rc = argv[2]
    text = open(rc).read()
    open(rc, "w").write(text.replace("Pass %s" % PASSWORD, "Pass wrong"))
    code, log = run(argv, work)
    assert code == 1, log
    assert maildir_state(os.path.join(work, "maildir", "INBOX")) == {}
    # Another server's certificate does not verify this one.
    open(rc, "w").write(text)
    shutil.copy(make_server().cert, os.path.join(work, "cert.pem"))
    code, log = run(argv, work)
    assert code == 1 and "certificate" in log.lower(), log
    assert maildir_state(os.path.join(work, "maildir", "INBOX")) == {}


# ---------------------------------------------------------------- offlineimap

def offlineimap_config(work, server):
    shutil.copy(server.cert, os.path.join(work, "cert.pem"))
    os.makedirs(os.path.join(work, "maildir"))
    rc = os.path.join(work, "offlineimaprc")
    with open(rc, "w") as f:
        f.write("""[general]
accounts = test
metadata = %(w)s/meta
ui = basic

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = %(w)s/maildir
sep = /

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = %(port)d
ssl = yes
sslcacertfile = %(w)s/cert.pem
remoteuser = %(user)s
remotepass = %(pw)s
maxconnections = 1
holdconnectionopen = no
""" % {"w": work, "port": server.ports["imaps"], "user": USER, "pw": PASSWORD})
    return ["offlineimap", "-c", rc, "-o", "-u", "basic"]


def offlineimap_folder(maildir, name):
    # Without utf8foldernames offlineimap keeps the server's modified UTF-7 names.
    return os.path.join(maildir, imap_utf7(name))


def test_offlineimap_two_way(seeded, work):
    argv = offlineimap_config(work, seeded)
    maildir = os.path.join(work, "maildir")
    code, log = run(argv, work, timeout=90)
    assert code == 0 and "Finished" in log, log
    assert "ERROR" not in log, log
    for folder, msgs in SEED.items():
        got = maildir_state(offlineimap_folder(maildir, folder))
        assert flags_summary(got) == {s: sorted(f.split()) for s, f in msgs}, (folder, log)
        for subject, (_, data) in got.items():
            assert lf(data) == lf(seeded.originals[subject]), subject

    local_changes(maildir, offlineimap_folder)
    second_client_between_runs(seeded)
    set_up_server_only_messages(seeded)
    code, log = run(argv, work, timeout=90)
    assert code == 0 and "ERROR" not in log, log
    code, log = run_while_second_client_changes(argv, work, seeded, timeout=90)
    assert code == 0 and "ERROR" not in log, log
    code, log = run(argv, work, timeout=90)
    assert code == 0 and "ERROR" not in log, log
    # offlineimap carries a trashed (T) message over as \Deleted and leaves
    # it there on both sides: it expunges only messages that it deletes.
    final = dict(FINAL, INBOX=dict(FINAL["INBOX"], **{"inbox two": {r"\Flagged", r"\Deleted"}}))
    check_server(seeded, lambda data: data, final)
    check_local(maildir, offlineimap_folder, lambda data, subject: data, final)


def test_offlineimap_wrong_certificate_fails(seeded, work, make_server):
    argv = offlineimap_config(work, seeded)
    shutil.copy(make_server().cert, os.path.join(work, "cert.pem"))
    code, log = run(argv, work, timeout=90)
    assert code != 0 and "certificate" in log.lower(), log
    assert maildir_state(os.path.join(work, "maildir", "INBOX")) == {}
