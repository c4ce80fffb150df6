"""POP3 policy settings (docs/pop3.md): pop3.delete_mode=move with
pop3.delete_folder, and pop3.only_new, both globally (--set) and per account
(`roost user set`)."""
import time

import pytest

from pop3util import PASSWORD, USER, Pop3, mailbox_list, message


def session(server, user=USER, password=PASSWORD):
    p = Pop3(server.ports["pop3"])
    p.login(user, password)
    return p


def retr_all(p):
    n, _ = p.stat()
    out = []
    for i in range(1, n + 1):
        status, body = p.multi("RETR %d" % i)
        assert status.startswith(b"+OK"), status
        out.append(body)
    return out


def delete_and_quit(server, nums, user=USER, password=PASSWORD):
    p = session(server, user, password)
    for i in nums:
        r = p.cmd("DELE %d" % i)
        assert r.startswith(b"+OK"), r
    r, _ = p.quit()
    assert r.startswith(b"+OK"), r


def test_default_delete_expunges(server):
    server.add_user(USER, PASSWORD)
    for i in (1, 2, 3):
        server.deliver(USER, message(i))
    delete_and_quit(server, [1, 3])
    boxes = mailbox_list(server)
    assert boxes["INBOX"][0] == 1
    # Nothing was kept anywhere else.
    assert sum(n for name, (n, _) in boxes.items() if name != "INBOX") == 0, boxes
    with session(server) as p:
        assert retr_all(p) == [message(2)]


def test_delete_mode_move_global(make_server):
    srv = make_server({"pop3.delete_mode": "move", "pop3.delete_folder": "Trash"})
    srv.add_user(USER, PASSWORD)
    for i in (1, 2, 3):
        srv.deliver(USER, message(i))
    delete_and_quit(srv, [2])
    boxes = mailbox_list(srv)
    assert boxes["INBOX"][0] == 2
    assert boxes["Trash"] == (1, len(message(2))), boxes
    with session(srv) as p:
        assert retr_all(p) == [message(1), message(3)]
        p.quit()
    # A second round adds to the existing folder.
    delete_and_quit(srv, [1, 2])
    boxes = mailbox_list(srv)
    assert boxes["INBOX"][0] == 0
    assert boxes["Trash"][0] == 3, boxes


def test_delete_mode_move_custom_folder_created_when_missing(make_server):
    srv = make_server({"pop3.delete_mode": "move", "pop3.delete_folder": "Old Mail"})
    srv.add_user(USER, PASSWORD)
    srv.deliver(USER, message(1))
    assert "Old Mail" not in mailbox_list(srv)
    delete_and_quit(srv, [1])
    boxes = mailbox_list(srv)
    assert boxes["INBOX"][0] == 0
    assert boxes["Old Mail"][0] == 1, boxes


def test_delete_mode_move_not_applied_without_quit(make_server):
    srv = make_server({"pop3.delete_mode": "move", "pop3.delete_folder": "Trash"})
    srv.add_user(USER, PASSWORD)
    srv.deliver(USER, message(1))
    p = session(srv)
    assert p.cmd("DELE 1").startswith(b"+OK")
    assert p.cmd("RSET").startswith(b"+OK")
    r, _ = p.quit()
    assert r.startswith(b"+OK")
    boxes = mailbox_list(srv)
    assert boxes["INBOX"][0] == 1
    assert boxes.get("Trash", (0, 0))[0] == 0, boxes


def test_delete_mode_move_per_account(server):
    server.add_user(USER, PASSWORD)
    server.add_user("carol", "carolpw")
    server.cli("user", "set", USER, "pop3.delete_mode=move")
    server.cli("user", "set", USER, "pop3.delete_folder=Archive")
    for u in (USER, "carol"):
        for i in (1, 2):
            server.deliver(u, message(i))
    delete_and_quit(server, [1])
    delete_and_quit(server, [1], "carol", "carolpw")
    boxes = mailbox_list(server)
    assert boxes["INBOX"][0] == 1
    assert boxes["Archive"][0] == 1, boxes
    carol = mailbox_list(server, "carol")
    assert carol["INBOX"][0] == 1
    # carol has the global default (expunge): nothing kept.
    assert sum(n for name, (n, _) in carol.items() if name != "INBOX") == 0, carol


def test_per_account_expunge_overrides_global_move(make_server):
    srv = make_server({"pop3.delete_mode": "move"})
    srv.add_user(USER, PASSWORD)
    srv.cli("user", "set", USER, "pop3.delete_mode=expunge")
    srv.deliver(USER, message(1))
    delete_and_quit(srv, [1])
    boxes = mailbox_list(srv)
    assert boxes["INBOX"][0] == 0
    assert sum(n for name, (n, _) in boxes.items() if name != "INBOX") == 0, boxes


def test_user_set_rejects_bad_values(server):
    server.add_user(USER, PASSWORD)
    for kv in ["pop3.delete_mode=shred", "pop3.only_new=maybe", "no.such_key=1", "pop3.delete_mode"]:
        p = server.cli("user", "set", USER, kv, check=False)
        assert p.returncode != 0, kv
        assert p.stderr.strip(), kv
    p = server.cli("user", "set", "nosuchuser", "pop3.only_new=yes", check=False)
    assert p.returncode != 0


def check_only_new(srv, user, password):
    old = [message(1), message(2)]
    for m in old:
        srv.deliver(user, m)
    # Keep the old mail out of the login's second: the same-second case has a
    # test of its own (test_only_new_same_second_boundary).
    time.sleep(1.1)
    with session(srv, user, password) as p:
        # The first login: everything already there is not offered.
        assert p.stat() == (0, 0)
        status, lines = p.multi_lines("LIST")
        assert lines == []
        assert p.cmd("RETR 1").startswith(b"-ERR")
        # Mail arriving during this first session arrived after the first login.
        srv.deliver(user, message(3))
        p.quit()
    srv.deliver(user, message(4))
    with session(srv, user, password) as p:
        assert retr_all(p) == [message(3), message(4)]
        assert p.cmd("DELE 1").startswith(b"+OK")
        p.quit()
    # The old mail is still on the server (for IMAP), only hidden from POP3.
    assert mailbox_list(srv, user)["INBOX"][0] == 3
    with session(srv, user, password) as p:
        assert retr_all(p) == [message(4)]
        p.quit()


def test_only_new_global(make_server):
    srv = make_server({"pop3.only_new": "yes"})
    srv.add_user(USER, PASSWORD)
    check_only_new(srv, USER, PASSWORD)


def test_only_new_per_account(server):
    server.add_user(USER, PASSWORD)
    server.add_user("dave", "davepw")
    server.cli("user", "set", USER, "pop3.only_new=yes")
    check_only_new(server, USER, PASSWORD)
    # dave has the default: everything is offered.
    server.deliver("dave", message(1))
    with session(server, "dave", "davepw") as p:
        assert retr_all(p) == [message(1)]


def test_only_new_failed_login_is_not_the_first_login(make_server):
    srv = make_server({"pop3.only_new": "yes"})
    srv.add_user(USER, PASSWORD)
    with Pop3(srv.ports["pop3"]) as p:
        assert p.cmd("USER alice").startswith(b"+OK")
        assert p.cmd("PASS wrong").startswith(b"-ERR [AUTH]")
    srv.deliver(USER, message(1))
    time.sleep(1.1)
    with session(srv) as p:
        assert p.stat() == (0, 0)


def start_of_second():
    """Sleep until just after a wall-clock second starts."""
    time.sleep(1.0 - time.time() % 1.0 + 0.01)


def test_only_new_same_second_boundary(make_server):
    srv = make_server({"pop3.only_new": "yes"})
    srv.add_user(USER, PASSWORD)
    start_of_second()
    srv.deliver(USER, message(1))  # before the first login, same wall-clock second
    with session(srv) as p:
        assert p.stat() == (0, 0)
        p.quit()


def test_delete_folder_inbox_never_loses_mail(server):
    """Moving deleted mail to INBOX itself is a misconfiguration: it must not
    delete anything (either `user set` refuses it, or QUIT reports an error)."""
    server.add_user(USER, PASSWORD)
    server.deliver(USER, message(1))
    server.deliver(USER, message(2))
    server.cli("user", "set", USER, "pop3.delete_mode=move")
    r = server.cli("user", "set", USER, "pop3.delete_folder=INBOX", check=False)
    if r.returncode == 0:
        p = session(server)
        assert p.cmd("DELE 1").startswith(b"+OK")
        r, _ = p.quit()
        assert r.startswith(b"-ERR [SYS/PERM]"), r
    else:
        assert r.stderr.strip()
    assert mailbox_list(server)["INBOX"][0] == 2
    with session(server) as p:
        assert retr_all(p) == [message(1), message(2)]


def test_listing_stays_readable_when_imap_expunges(server):
    """A POP3 session's listing is fixed at login (RFC 1939): a message
    another session expunges meanwhile is still retrieved whole, and the
    content goes once the POP3 session has ended."""
    import imaplib
    server.add_user(USER, PASSWORD)
    for i in (1, 2, 3):
        server.deliver(USER, message(i))
    p = session(server)
    assert p.stat()[0] == 3
    im = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    im.login(USER, PASSWORD)
    im.select("INBOX")
    im.store("2", "+FLAGS.SILENT", r"(\Deleted)")
    im.expunge()
    status, body = p.multi("RETR 2")
    assert status.startswith(b"+OK") and b"Body line one of message 2." in body, (status, body)
    assert p.cmd("DELE 2").startswith(b"+OK")
    r, _ = p.quit()
    assert r.startswith(b"+OK"), r
    typ, data = im.search(None, "ALL")
    assert data[0].split() == [b"1", b"2"]
    im.logout()
