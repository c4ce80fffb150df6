"""The `roost` command line as administrators and MTAs use it: users, mailboxes,
local delivery with the exit statuses MDAs promise, help, version, and one
clear "roost: ..." line on stderr for every error. Each test gets a fresh
--data directory; no server is started."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("ROOST_BIN", os.path.join(ROOT, "build", "asan", "roost"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

os.environ.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")

EX_USAGE_ROOST = 2
EX_DATAERR = 65
EX_NOUSER = 67
EX_TEMPFAIL = 75


@pytest.fixture
def data():
    d = tempfile.mkdtemp(prefix="roost-cli-", dir="/tmp")
    yield os.path.join(d, "var")
    shutil.rmtree(d, ignore_errors=True)


def roost(*args, input=None, data=None, timeout=60):
    argv = [BIN, *args]
    if data is not None:
        argv += ["--data", data]
    if isinstance(input, str):
        input = input.encode()
    p = subprocess.run(argv, input=input if input is not None else b"", capture_output=True, timeout=timeout)
    p.out = p.stdout.decode(errors="replace")
    p.err = p.stderr.decode(errors="replace")
    for mark in SANITIZER_MARKS:
        assert mark not in p.err, p.err
    return p


def ok(*args, **kw):
    p = roost(*args, **kw)
    assert p.returncode == 0, "roost %s: exit %d: %s" % (" ".join(args), p.returncode, p.err)
    return p


def one_error_line(p, code=None):
    """The command failed with exactly one 'roost: ' line on stderr."""
    assert p.returncode != 0
    if code is not None:
        assert p.returncode == code, (p.returncode, p.err)
    lines = p.err.splitlines()
    assert len(lines) == 1, p.err
    assert lines[0].startswith("roost: "), p.err
    return lines[0]


def mailboxes(data, user):
    p = ok("mailbox", "list", "--user", user, data=data)
    rows = {}
    for line in p.out.splitlines():
        name, messages, size = line.split("\t")
        rows[name] = (int(messages), int(size))
    return rows


def add_user(data, name, password="s3cret"):
    return ok("user", "add", name, input=password + "\n", data=data)


# Version and help


def test_version():
    p = ok("--version")
    assert re.fullmatch(r"roost \d+\.\d+\.\d+\n", p.out)
    assert p.err == ""


@pytest.mark.parametrize("args", [["help"], ["--help"], ["-h"]])
def test_help_overview(args):
    p = ok(*args)
    for word in ("serve", "user", "mailbox", "deliver", "--data", "--config", "--set"):
        assert word in p.out
    assert p.err == ""


@pytest.mark.parametrize("command", ["serve", "user", "mailbox", "deliver", "help"])
def test_command_help(command):
    p = ok(command, "--help")
    assert p.out.startswith("usage: roost " + command)
    assert p.err == ""
    assert ok("help", command).out == p.out


@pytest.mark.parametrize("args", [["user", "add", "--help"], ["user", "--help", "list"], ["mailbox", "-h"],
                                  ["deliver", "--user", "x", "--help"]])
def test_help_anywhere_on_the_line(args):
    p = ok(*args)
    assert p.out.startswith("usage: roost")


def test_help_config_lists_every_key():
    p = ok("help", "config")
    for key in ("pop3.listen", "auth.max_failures", "pop3.delete_mode", "store.group_commit"):
        assert key in p.out


def test_unknown_command():
    line = one_error_line(roost("frobnicate"), EX_USAGE_ROOST)
    assert "frobnicate" in line


def test_no_command():
    one_error_line(roost(), EX_USAGE_ROOST)


@pytest.mark.parametrize("args", [
    ["user", "list", "--bogus"],
    ["user", "list", "-x"],
    ["user"],
    ["user", "frob", "alice"],
    ["user", "add"],
    ["user", "del", "a", "b"],
    ["user", "list", "--user", "a"],
    ["user", "list", "--data"],
    ["mailbox", "list"],
    ["mailbox", "create", "--user", "a"],
    ["mailbox", "frob", "--user", "a"],
    ["deliver"],
    ["deliver", "--user", "a", "extra"],
    ["serve", "extra"],
    ["help", "nosuchcommand"],
    ["user", "add", "al ice"],
])
def test_usage_errors_exit_2(args, data):
    one_error_line(roost(*args, data=data, input="pw\n"), EX_USAGE_ROOST)


# Configuration on the command line


def test_bad_set_is_one_clear_line(data):
    line = one_error_line(roost("user", "list", "--set", "auth.max_failures=lots", data=data), EX_USAGE_ROOST)
    assert "auth.max_failures" in line and "whole number" in line
    line = one_error_line(roost("user", "list", "--set", "no.such.key=1", data=data), EX_USAGE_ROOST)
    assert "no.such.key" in line and "unknown key" in line
    line = one_error_line(roost("user", "list", "--set", "justakey", data=data), EX_USAGE_ROOST)
    assert "KEY=VALUE" in line
    line = one_error_line(roost("serve", "--set", "pop3.listen=nowhere", data=data), EX_USAGE_ROOST)
    assert "pop3.listen" in line


def test_bad_config_file_names_file_and_line(data, tmp_path):
    conf = tmp_path / "roost.conf"
    conf.write_text("# comment\npop3.listen = 127.0.0.1:1110\nno.such = 1\n")
    line = one_error_line(roost("user", "list", "--config", str(conf), data=data), EX_USAGE_ROOST)
    assert line == "roost: %s:3: no.such: unknown key" % conf
    line = one_error_line(roost("user", "list", "--config", str(tmp_path / "missing.conf"), data=data), EX_USAGE_ROOST)
    assert "missing.conf" in line


def test_good_config_file_and_set(data, tmp_path):
    add_user(data, "alice")
    conf = tmp_path / "roost.conf"
    conf.write_text('pop3.delete_folder = "Old Mail"\npop3.only_new = yes\n')
    p = ok("user", "show", "alice", "--config", str(conf), "--set", "pop3.only_new=no", data=data)
    assert "pop3.delete_folder = Old Mail (default)" in p.out
    assert "pop3.only_new = no (default)" in p.out


# Users


def test_user_add_list_del(data):
    add_user(data, "alice@example.com")
    add_user(data, "bob")
    assert os.path.isdir(data)
    assert ok("user", "list", data=data).out.splitlines() == ["alice@example.com", "bob"]
    ok("user", "del", "bob", data=data)
    assert ok("user", "list", data=data).out.splitlines() == ["alice@example.com"]
    line = one_error_line(roost("user", "del", "bob", data=data), 1)
    assert "bob" in line


def test_user_add_creates_private_data_dir(data):
    add_user(data, "alice")
    assert os.stat(data).st_mode & 0o077 == 0


def test_duplicate_user(data):
    add_user(data, "alice")
    line = one_error_line(roost("user", "add", "alice", input="other\n", data=data), 1)
    assert "alice" in line and "exists" in line
    line = one_error_line(roost("user", "add", "ALICE", input="other\n", data=data), 1)
    assert "exists" in line


def test_password_never_from_argv(data):
    # Without stdin input there is no password: refused, not an empty one.
    line = one_error_line(roost("user", "add", "alice", input="", data=data), 1)
    assert "password" in line
    one_error_line(roost("user", "add", "alice", input="\n", data=data), 1)
    assert ok("user", "list", data=data).out == ""


def test_password_too_long(data):
    line = one_error_line(roost("user", "add", "alice", input="x" * 5000 + "\n", data=data), 1)
    assert "too long" in line


def test_password_is_hashed_with_yescrypt(data):
    add_user(data, "alice", "s3cret")
    p = ok("user", "show", "alice", data=data)
    assert "password: yescrypt" in p.out
    assert "apop: off" in p.out
    assert "s3cret" not in p.out
    # The plaintext is nowhere in the data directory.
    for dirpath, _, files in os.walk(data):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                assert b"s3cret" not in fh.read()


def test_user_passwd_and_apop(data):
    add_user(data, "alice", "one")
    p = ok("user", "passwd", "alice", "--apop", input="tanstaaf\r\n", data=data)
    assert "alice" in p.out
    assert "apop: on" in ok("user", "show", "alice", data=data).out
    ok("user", "passwd", "alice", input="two\n", data=data)
    assert "apop: off" in ok("user", "show", "alice", data=data).out
    line = one_error_line(roost("user", "passwd", "nobody", input="x\n", data=data), 1)
    assert "nobody" in line
    ok("user", "add", "bob", "--apop", input="tanstaaf\n", data=data)
    assert "apop: on" in ok("user", "show", "bob", data=data).out


def test_user_add_with_hash(data):
    sha512 = "$6$Ro0stSaltVal$RCmJc3CXdiXz3Cci7aOiRd8g.QOvi.Ks8sfXVfZWIbwiz57.qVKRr5U/Xa6S6uG6SuVyCZZh31mYxOxzNvlv1."
    bcrypt = "$2b$05$B6i.f4CB7lkJ03zpCGHlNu/Muw492Yrjk0iBOy5yBtcUW9lCOiUo2"
    ok("user", "add", "alice", "--hash", sha512, data=data)
    ok("user", "add", "bob", "--hash=" + bcrypt, data=data)
    assert "password: sha512-crypt" in ok("user", "show", "alice", data=data).out
    assert "password: bcrypt" in ok("user", "show", "bob", data=data).out
    for bad in ("$1$abcdefgh$IQtUouv7y7Q9dRWkQEPCc.", "$6$saltonly$", "plaintext", ""):
        line = one_error_line(roost("user", "add", "carol", "--hash", bad, data=data), EX_USAGE_ROOST)
        assert "hash" in line
    one_error_line(roost("user", "add", "carol", "--hash", sha512, "--apop", data=data), EX_USAGE_ROOST)


def test_user_set_and_show(data):
    add_user(data, "alice")
    p = ok("user", "show", "alice", data=data)
    assert "name: alice" in p.out
    assert "pop3.delete_mode = expunge (default)" in p.out
    assert "pop3.only_new = no (default)" in p.out
    assert "pop3 first login: never" in p.out
    ok("user", "set", "alice", "pop3.delete_mode=move", "pop3.delete_folder=Deleted Items", data=data)
    p = ok("user", "show", "alice", data=data)
    assert "pop3.delete_mode = move\n" in p.out
    assert "pop3.delete_folder = Deleted Items\n" in p.out
    ok("user", "set", "alice", "pop3.delete_mode=", data=data)
    assert "pop3.delete_mode = expunge (default)" in ok("user", "show", "alice", data=data).out
    # Removing what is not set is fine.
    ok("user", "set", "alice", "pop3.only_new=", data=data)


@pytest.mark.parametrize("arg, words", [
    ("pop3.delete_mode=shred", ["pop3.delete_mode", "expunge|move"]),
    ("pop3.only_new=maybe", ["pop3.only_new", "yes or no"]),
    ("auth.max_failures=3", ["auth.max_failures", "per account"]),
    ("nonsense", ["KEY=VALUE"]),
])
def test_user_set_rejects(data, arg, words):
    add_user(data, "alice")
    line = one_error_line(roost("user", "set", "alice", arg, data=data), EX_USAGE_ROOST)
    for w in words:
        assert w in line
    # Nothing was changed by a refused set.
    assert "(default)" in ok("user", "show", "alice", data=data).out


def test_user_set_show_unknown_user(data):
    add_user(data, "alice")
    one_error_line(roost("user", "show", "bob", data=data), 1)
    one_error_line(roost("user", "set", "bob", "pop3.only_new=yes", data=data), 1)


def test_missing_data_dir_is_an_error(data):
    line = one_error_line(roost("user", "list", data=data), 1)
    assert data in line
    assert not os.path.exists(data)


# Mailboxes


def test_new_account_has_standard_mailboxes(data):
    add_user(data, "alice")
    boxes = mailboxes(data, "alice")
    for name in ("INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"):
        assert boxes[name] == (0, 0)


def test_mailbox_create_list_delete(data):
    add_user(data, "alice")
    ok("mailbox", "create", "--user", "alice", "Work/Projects 2024", data=data)
    assert mailboxes(data, "alice")["Work/Projects 2024"] == (0, 0)
    line = one_error_line(roost("mailbox", "create", "--user", "alice", "Work/Projects 2024", data=data), 1)
    assert "exists" in line
    ok("mailbox", "delete", "--user", "alice", "Work/Projects 2024", data=data)
    assert "Work/Projects 2024" not in mailboxes(data, "alice")
    one_error_line(roost("mailbox", "delete", "--user", "alice", "Work/Projects 2024", data=data), 1)
    line = one_error_line(roost("mailbox", "delete", "--user", "alice", "INBOX", data=data), 1)
    assert "INBOX" in line
    one_error_line(roost("mailbox", "list", "--user", "nobody", data=data), 1)


# Delivery


MESSAGE = (b"From: Bob <bob@example.com>\r\n"
           b"To: alice@example.com\r\n"
           b"Subject: hello\r\n"
           b"\r\n"
           b"Hi Alice.\r\n")


def test_deliver_file(data, tmp_path):
    add_user(data, "alice@example.com")
    path = tmp_path / "msg.eml"
    path.write_bytes(MESSAGE)
    with open(path, "rb") as f:
        p = subprocess.run([BIN, "deliver", "--user", "alice@example.com", "--data", data], stdin=f,
                           capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stderr == b""
    assert mailboxes(data, "alice@example.com")["INBOX"] == (1, len(MESSAGE))


def test_deliver_bare_lf_becomes_crlf(data):
    add_user(data, "alice")
    ok("deliver", "--user", "alice", input=b"Subject: x\n\nbody\n", data=data)
    assert mailboxes(data, "alice")["INBOX"] == (1, len(b"Subject: x\r\n\r\nbody\r\n"))


def test_deliver_drops_mbox_from_line(data):
    add_user(data, "alice")
    ok("deliver", "--user", "alice", input=b"From bob@example.com Thu Jan  1 00:00:00 2025\r\n" + MESSAGE, data=data)
    assert mailboxes(data, "alice")["INBOX"] == (1, len(MESSAGE))


def test_deliver_to_mailbox(data):
    add_user(data, "alice")
    ok("mailbox", "create", "--user", "alice", "Lists", data=data)
    ok("deliver", "--user", "ALICE", "--mailbox", "Lists", input=MESSAGE, data=data)
    ok("deliver", "--user", "alice", "--mailbox", "Lists", input=MESSAGE, data=data)
    boxes = mailboxes(data, "alice")
    assert boxes["Lists"] == (2, 2 * len(MESSAGE))
    assert boxes["INBOX"] == (0, 0)


def test_deliver_to_missing_mailbox_falls_back_to_inbox(data):
    add_user(data, "alice")
    p = roost("deliver", "--user", "alice", "--mailbox", "Nope", input=MESSAGE, data=data)
    assert p.returncode == 0
    assert mailboxes(data, "alice")["INBOX"] == (1, len(MESSAGE))


def test_deliver_unknown_user_is_ex_nouser(data):
    add_user(data, "alice")
    line = one_error_line(roost("deliver", "--user", "bob", input=MESSAGE, data=data), EX_NOUSER)
    assert "bob" in line


def test_deliver_without_data_dir_is_tempfail(data):
    one_error_line(roost("deliver", "--user", "alice", input=MESSAGE, data=data), EX_TEMPFAIL)


def test_deliver_store_failure_is_tempfail(data):
    add_user(data, "alice")
    # Whatever the backend keeps in the data directory, garbage in its place
    # is a store failure: the MTA must keep the mail and retry.
    for dirpath, _, files in os.walk(data):
        for f in files:
            with open(os.path.join(dirpath, f), "wb") as fh:
                fh.write(b"this is not a database\n" * 1000)
    p = roost("deliver", "--user", "alice", input=MESSAGE, data=data)
    one_error_line(p, EX_TEMPFAIL)


def test_deliver_data_dir_is_a_file_is_tempfail(data):
    os.makedirs(os.path.dirname(data), exist_ok=True)
    with open(data, "w") as f:
        f.write("x")
    one_error_line(roost("deliver", "--user", "alice", input=MESSAGE, data=data), EX_TEMPFAIL)


def test_deliver_size_limit(data):
    add_user(data, "alice")
    big = b"Subject: big\r\n\r\n" + (b"x" * 1022 + b"\r\n") * (64 * 1024)
    over = big[:64 * 1024 * 1024 + 1]
    p = roost("deliver", "--user", "alice", input=over, data=data, timeout=120)
    line = one_error_line(p, EX_DATAERR)
    assert "64 MB" in line
    assert mailboxes(data, "alice")["INBOX"] == (0, 0)


def test_deliver_empty_message(data):
    add_user(data, "alice")
    line = one_error_line(roost("deliver", "--user", "alice", input=b"", data=data), EX_DATAERR)
    assert "empty" in line
    one_error_line(roost("deliver", "--user", "alice", input=b"From bob Thu Jan  1 00:00:00 2025\n", data=data), EX_DATAERR)
    assert mailboxes(data, "alice")["INBOX"] == (0, 0)


def test_deliver_many_then_list(data):
    add_user(data, "alice")
    for i in range(5):
        ok("deliver", "--user", "alice", input=MESSAGE + b"%d\r\n" % i, data=data)
    assert mailboxes(data, "alice")["INBOX"] == (5, 5 * (len(MESSAGE) + 3))
