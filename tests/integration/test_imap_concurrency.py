"""Many IMAP clients at once on shared mailboxes: bench/imap-mixed, our
concurrent mixed-operation load generator, runs briefly against a real
`roost serve` and must find no malformed response, no protocol violation, no
NO or BAD, no NO [EXPUNGEISSUED] for a message the session still sees, no
stall and no lost connection.

Several clients share each user's INBOX (several devices on one mailbox), so
every run has sessions fetching messages that another session has just
expunged, flags changing under FETCH and SEARCH, and APPENDs announced
mid-command. The generator's strict parser is checked on canned output first
(`imap-mixed selftest`), so a run without failures means the server answered
well, not that the parser looked away.

The stall limit here is 5 s, not the benchmark's 1 s: the suite runs the
sanitizer build on shared machines, and the failures this catches (a lost
wake-up, a worker held by a lock) stall for tens of seconds. The benchmark
(bench/run.sh) holds Roost to 1 s.
"""

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MIXED = REPO / "build" / "bench" / "imap-mixed"
PASSWORD = "mixed-Secret-7"
USERS = 4
STALL_MS = 5000


@pytest.fixture(scope="module")
def mixed():
    if not MIXED.exists():
        subprocess.run(["make", "--no-print-directory", "build/bench/imap-mixed"],
                       cwd=REPO, check=False, timeout=600)
    if not MIXED.exists():
        pytest.fail(f"{MIXED} is missing: run `make build/bench/imap-mixed`")
    return str(MIXED)


def result_of(out):
    """The generator's last line, "result ops=N ... errors=N", as a dict."""
    lines = [l for l in out.splitlines() if l.startswith("result ")]
    assert lines, "no result line in:\n" + out[-3000:]
    fields = dict(f.split("=", 1) for f in lines[-1].split()[1:])
    return {k: float(v) if "." in v else int(v) for k, v in fields.items()}


def counts_of(out):
    """Per command kind, how many were answered (the table's count column)."""
    counts = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 6 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


@pytest.fixture
def loaded(server, mixed):
    for i in range(USERS):
        server.add_user("mix%d" % i, PASSWORD)
    port = str(server.ports["imap"])
    p = subprocess.run([mixed, "fill", port, "mix%d", str(USERS), PASSWORD, "40", "--clients", "4"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return server, port


def run_mixed(mixed, port, *args, timeout=180):
    p = subprocess.run([mixed, "run", port, "mix%d", str(USERS), PASSWORD, "--min-msgs", "10",
                        "--max-msgs", "80", "--stall-ms", str(STALL_MS), *args],
                       capture_output=True, text=True, timeout=timeout)
    out = p.stdout + p.stderr
    assert p.returncode in (0, 2), out  # 1: the run could not be made
    return p.returncode, out


def test_generator_judges_canned_output(mixed):
    p = subprocess.run([mixed, "selftest"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "judged right" in p.stdout


@pytest.mark.parametrize("profile,clients,seconds", [("long", 10, 6), ("churn", 8, 4)])
def test_many_clients_on_shared_mailboxes(loaded, mixed, profile, clients, seconds):
    server, port = loaded
    rc, out = run_mixed(mixed, port, "--profile", profile, "--clients", str(clients),
                        "--seconds", str(seconds), "--seed", "7")
    r = result_of(out)
    failures = {k: r[k] for k in ("malformed", "protocol", "no", "bad", "expungeissued_visible",
                                  "stalls", "bye", "conn")}
    assert r["errors"] == 0 and rc == 0, "failures %s\n%s" % (failures, out[-6000:])
    # The run did the work that exposes the races, not just logins.
    counts = counts_of(out)
    for kind in ("fetch-body", "fetch-text", "fetch-headers", "store", "expunge", "append", "search-unseen"):
        assert counts.get(kind, 0) > 0, "no %s in the run:\n%s" % (kind, out[-3000:])
    if profile == "churn":
        assert counts["login"] > clients, out[-3000:]
    assert server.alive()
