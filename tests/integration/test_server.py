"""Server-wide behaviour that is not POP3's: confinement and privileges."""
import os
import time

import pytest



def status_field(pid, name):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return None


def test_sandbox_confines_the_running_server(server):
    log = server.read_log()
    assert "event=sandbox landlock=" in log
    if "landlock=on" in log:
        # Landlock requires no_new_privs; it is set only by the confinement.
        assert status_field(server.proc.pid, "NoNewPrivs") == "1"


def test_sandbox_can_be_turned_off(make_server):
    srv = make_server({"server.sandbox": "no"})
    assert "event=sandbox" not in srv.read_log()
    assert status_field(srv.proc.pid, "NoNewPrivs") == "0"


def test_root_drops_to_its_own_user(server):
    if os.geteuid() != 0:
        pytest.skip("the suite runs unprivileged: there is no root to drop")
    uid = status_field(server.proc.pid, "Uid").split()
    assert uid[0] != "0" and len(set(uid)) == 1, uid
    st = os.stat(os.path.join(server.data, "roost.db"))
    assert st.st_uid == int(uid[0])


def test_delivery_by_another_process_reaches_the_server(make_server):
    """`roost deliver` commits in its own process; the running server hears of
    the change through the data directory's notification socket."""
    srv = make_server({"log.level": "debug"})
    srv.add_user("nina", "pw")
    time.sleep(0.2)
    before = len(srv.read_log())
    srv.deliver("nina", b"Subject: ping\r\n\r\nhello\r\n")
    deadline = time.time() + 10
    while time.time() < deadline and "event=mailbox_changed" not in srv.read_log()[before:]:
        time.sleep(0.05)
    assert "event=mailbox_changed account=1 mailbox=1 " in srv.read_log()[before:]
