"""Crash test for the embedded store: no acknowledged message is lost and the
database stays intact when the process dies mid-write.

`store-bench load` delivers from 64 threads and records each token only after
the store acknowledged it; we SIGKILL it while writes are in flight, then
`store-bench verify` checks that every acknowledged token is stored exactly once
and that PRAGMA integrity_check passes. Twice on the same directory, so the
second run starts from a database that has already survived a crash.
"""

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "build" / "bench" / "store-bench"

MIN_ACKS = 300        # acknowledged deliveries to wait for before the kill
ACK_WAIT_S = 20       # at most this long
VERIFY_TIMEOUT_S = 120


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.fixture(scope="module")
def bench():
    if not BENCH.exists():
        subprocess.run(["make", "--no-print-directory", "build/bench/store-bench"],
                       cwd=REPO, check=False, timeout=600)
    if not BENCH.exists():
        pytest.fail(f"{BENCH} is missing: run `make build/bench/store-bench`")
    return str(BENCH)


def load_and_kill(bench, data, acked):
    before = count_lines(acked)
    proc = subprocess.Popen(
        [bench, "load", "--dir", str(data), "--threads", "64", "--acked", str(acked)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + ACK_WAIT_S
        while count_lines(acked) - before < MIN_ACKS:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")
                pytest.fail(f"load exited early with {proc.returncode}: {err}")
            if time.monotonic() > deadline:
                pytest.fail(f"only {count_lines(acked) - before} acks after {ACK_WAIT_S} s")
            time.sleep(0.02)
        # Let it run a little longer, so the kill lands at an arbitrary
        # point: mid-batch, mid-checkpoint, mid-acknowledgement.
        time.sleep(random.uniform(0.05, 0.5))
    finally:
        # The crash: no chance to finish a commit, flush or clean up.
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return count_lines(acked) - before


def verify(bench, data, acked):
    res = subprocess.run([bench, "verify", "--dir", str(data), "--acked", str(acked)],
                         capture_output=True, text=True, timeout=VERIFY_TIMEOUT_S)
    assert res.returncode == 0, f"verify failed:\n{res.stdout}\n{res.stderr}"
    assert "PASS" in res.stdout
    return res.stdout


def test_store_survives_sigkill_twice(bench, tmp_path):
    data = tmp_path / "var"
    acked = tmp_path / "acked.txt"

    first = load_and_kill(bench, data, acked)
    assert first >= MIN_ACKS
    verify(bench, data, acked)

    second = load_and_kill(bench, data, acked)
    assert second >= MIN_ACKS
    out = verify(bench, data, acked)
    print(out)
    # The summary counts every token acknowledged across both runs.
    assert f"{first + second} acknowledged" in out, out
