"""imaplib2 (Debian's python3-imaplib2) IDLE, woken twice: once by a delivery
from another process (the command after `--`, fed a message on stdin), once by
an APPEND from a second imaplib2 session. Run with Debian's interpreter.
usage: imaplib2_idle.py HOST IMAPS_PORT USER PASS CAFILE -- DELIVER-COMMAND...
Prints `RESULT {"exists": [...], "subjects": [...]}` and exits 0, or fails."""
import json
import subprocess
import sys
import threading
import time

import imaplib2

HOST, PORT, USER, PW, CA = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
DELIVER = sys.argv[sys.argv.index("--") + 1:]


def connect():
    # imaplib2 checks the certificate against the CA file and the host name.
    return imaplib2.IMAP4_SSL(HOST, PORT, ca_certs=CA, cert_verify_cb=None, timeout=30)


def msg(subject):
    return ("From: idle@example.org\r\nSubject: %s\r\n\r\nwake up\r\n" % subject).encode()


def poke(how):
    time.sleep(1)  # let the other session enter IDLE; the outcome does not depend on it
    if how == "deliver":
        subprocess.run(DELIVER, input=msg("woken by roost deliver"), check=True, timeout=30)
    else:
        P = connect()
        P.login(USER, PW)
        typ, d = P.append("INBOX", None, None, msg("woken by append"))
        assert typ == "OK", d
        P.logout()


M = connect()
M.login(USER, PW)
typ, d = M.select("INBOX")
assert typ == "OK", d
exists, subjects = [], []
for how in ("deliver", "append"):
    t = threading.Thread(target=poke, args=(how,))
    t.start()
    typ, d = M.idle(timeout=30)       # returns when the server says something
    t.join()
    assert typ == "OK", (typ, d)
    typ, d = M.noop()                 # collects whatever came after the wake-up
    typ, d = M.response("EXISTS")
    assert d and d[-1] is not None, (how, d)
    n = int(d[-1])
    exists.append(n)
    typ, d = M.fetch(str(n), "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK", d
    subjects.append(d[0][1].decode().strip().split(": ", 1)[1])
M.logout()
print("RESULT " + json.dumps({"exists": exists, "subjects": subjects}))
