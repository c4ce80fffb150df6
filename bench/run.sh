#!/bin/bash
# The benchmark driver behind `make bench`: the store benchmark (when built),
# then Roost against Debian's Dovecot, side by side on the same messages:
#  - POP3 with 10,000 messages: session timings (login, STAT, UIDL, LIST, RETR
#    of everything) and memory per idle and per logged-in connection;
#  - IMAP with a 100,000-message INBOX: SELECT, UID FETCH FLAGS, FETCH ENVELOPE
#    (first time and repeated), UID SEARCH SUBJECT and BODY, STORE +FLAGS, and
#    memory per IDLE connection;
#  - many IMAP clients at once (bench/imap-mixed): several clients per user
#    on shared INBOXes, each sending a mail client's mix of commands, with
#    long-lived sessions and with a login every few commands; operations per
#    second per command and every malformed answer, NO, BAD, EXPUNGEISSUED for
#    a message still shown, and stall over 1 s, both servers on their default
#    password scheme and fsync policy;
#  - SMTP and LMTP delivery rates (Postfix's smtp-source, 4 KB messages, 1 and
#    50 parallel sessions) against Dovecot's LMTP, fsync on for both, into an
#    empty INBOX and into one that already holds 100,000 messages, with
#    smtp-source against Postfix's smtp-sink (no disk) as the load generator's
#    own ceiling.
# Everything runs on 127.0.0.1 in a temporary directory that is removed, with
# every server it started, on any exit. Every wait is bounded. Exit status 0
# unless something failed, a server's answer included (a missed performance
# target is reported, not a failure).
#
# Knobs (environment): BENCH_MSGS (10000 POP3 messages), BENCH_REPS (5),
# BENCH_WINDOW (32, pipelined RETR depth), BENCH_IDLE (1000 POP3 connections),
# BENCH_AUTH (200 logged-in POP3 sessions), BENCH_IMAP_MSGS (100000),
# BENCH_IMAP_IDLE (10000 IDLE connections to Roost), BENCH_IMAP_IDLE_DOVECOT
# (1000 to Dovecot: each is a process of about 5 MB), BENCH_IMAP_BIG_IDLE (50
# Dovecot IDLE connections on the big INBOX: each maps its index),
# BENCH_IMAP_BIG_IDLE_ROOST (1000 Roost ones), BENCH_SMTP_MSGS (5000 messages per run
# at 50 sessions), BENCH_SMTP_MSGS_1 (1000 at 1 session), BENCH_SMTP_BIG
# (100000 messages already in the big INBOX), BENCH_SMTP_BIG_DOVECOT (1000
# messages for Dovecot's run into it: about 15/s here), BENCH_SMTP_WORKERS ("16 32":
# server.workers values for extra Roost runs at 50 sessions; empty for none),
# BENCH_MIXED_CLIENTS ("10 50": concurrent clients of each mixed-load run; add 200
# for the issue's third figure), BENCH_MIXED_SECONDS (15 per run; 600 for
# ten-minute runs), BENCH_MIXED_PROFILES ("long churn"), BENCH_MIXED_USERS (20),
# BENCH_MIXED_MSGS (100 messages per INBOX to start with),
# BENCH_SKIP_STORE=1, BENCH_SKIP_POP3=1, BENCH_SKIP_IMAP=1, BENCH_SKIP_MIXED=1,
# BENCH_SKIP_SMTP=1 (skip that part). BENCH_ROOST and BENCH_BIN (default build/roost and
# build/bench) run other builds of the server and of the C load programs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROOST=${BENCH_ROOST:-$ROOT/build/roost}
BIN=${BENCH_BIN:-$ROOT/build/bench}
LOAD=$BIN/pop3-load
ILOAD=$BIN/imap-load
IFILL=$BIN/imap-fill
DOVECOT_SH=$ROOT/bench/dovecot.sh
SELF=$ROOT/bench/run.sh

N_MSGS=${BENCH_MSGS:-10000}
REPS=${BENCH_REPS:-5}
WINDOW=${BENCH_WINDOW:-32}
N_IDLE=${BENCH_IDLE:-1000}
N_AUTH=${BENCH_AUTH:-200}
N_IMAP=${BENCH_IMAP_MSGS:-100000}
N_IMAP_IDLE=${BENCH_IMAP_IDLE:-10000}
N_IMAP_IDLE_DOVECOT=${BENCH_IMAP_IDLE_DOVECOT:-1000}
N_IMAP_BIG_IDLE=${BENCH_IMAP_BIG_IDLE:-50}
# Roost's connections on the big INBOX: enough that the workers' fixed caches,
# spread over them, do not hide the per-connection cost.
N_IMAP_BIG_IDLE_ROOST=${BENCH_IMAP_BIG_IDLE_ROOST:-1000}
SKIP_POP3=${BENCH_SKIP_POP3:-0}
SKIP_IMAP=${BENCH_SKIP_IMAP:-0}
SKIP_MIXED=${BENCH_SKIP_MIXED:-0}
MIXED_CLIENTS=${BENCH_MIXED_CLIENTS:-10 50}
MIXED_SECONDS=${BENCH_MIXED_SECONDS:-15}
MIXED_PROFILES=${BENCH_MIXED_PROFILES:-long churn}
MIXED_USERS=${BENCH_MIXED_USERS:-20}
MIXED_MSGS=${BENCH_MIXED_MSGS:-100}
MIXED=$BIN/imap-mixed
MIXED_FAILED=0
N_SMTP=${BENCH_SMTP_MSGS:-5000}
N_SMTP_1=${BENCH_SMTP_MSGS_1:-1000}
N_SMTP_BIG=${BENCH_SMTP_BIG:-100000}
N_SMTP_BIG_DOVECOT=${BENCH_SMTP_BIG_DOVECOT:-1000}
SMTP_WORKERS=${BENCH_SMTP_WORKERS-16 32}
SKIP_SMTP=${BENCH_SKIP_SMTP:-0}
SMTP_SOURCE=/usr/sbin/smtp-source
SMTP_SINK=/usr/sbin/smtp-sink
PASSWORD=bench-Secret-42
USER_MAIN=bench
CLK_TCK=$(getconf CLK_TCK)

say() { printf '%s\n' "$*"; }
warn() { printf 'bench: %s\n' "$*" >&2; }
die() { warn "$*"; exit 1; }

# --- measuring processes -----------------------------------------------------

# Process ids of a server: Roost is one process; Dovecot is its master and the
# master's children. DOVECOT_DIR is the running Dovecot's directory (the POP3
# one unless the IMAP part set it).
server_pids() { # KIND
	case $1 in
	roost) cat "$TMP/roost.pid" ;;
	dovecot) "$DOVECOT_SH" pids "${DOVECOT_DIR:-$TMP/dovecot}" ;;
	esac
}

# "RSS_KB PSS_KB NPROCS" summed over the server's processes.
mem_of() { # KIND
	local rss=0 pss=0 n=0 p r s
	for p in $(server_pids "$1"); do
		r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
		s=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
		rss=$((rss + ${r:-0}))
		pss=$((pss + ${s:-0}))
		n=$((n + 1))
	done
	echo "$rss $pss $n"
}

# CPU milliseconds the server has used, including reaped children (Dovecot's
# per-session pop3 processes end up in the master's cutime/cstime).
cpu_ms_of() { # KIND
	local ticks=0 p line rest
	for p in $(server_pids "$1"); do
		line=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		rest=${line##*) }
		# shellcheck disable=SC2086
		set -- $rest
		ticks=$((ticks + ${12} + ${13} + ${14} + ${15}))
	done
	echo $((ticks * 1000 / CLK_TCK))
}

# Internal entry point used by pop3-load idle while its connections are open.
if [ "${1:-}" = "__mem" ]; then
	TMP=$2
	sleep 0.5 # let the server finish whatever the last connection started
	mem_of "$3" >"$4"
	exit 0
fi

# --- setup and cleanup -----------------------------------------------------

[ -x "$ROOST" ] || die "$ROOST missing: run make bench"
for b in "$LOAD" "$ILOAD" "$IFILL"; do [ -x "$b" ] || die "${b#"$ROOT"/} missing: run make bench"; done
command -v dovecot >/dev/null || die "dovecot missing: scripts/deps.sh bench installs dovecot-pop3d and dovecot-imapd"
if [ "$SKIP_SMTP" != 1 ]; then
	for b in "$SMTP_SOURCE" "$SMTP_SINK"; do [ -x "$b" ] || die "$b missing: scripts/deps.sh bench installs postfix"; done
	[ -x /usr/lib/dovecot/lmtp ] || die "Dovecot's LMTP server missing: scripts/deps.sh bench installs dovecot-lmtpd"
fi
[ "$(id -u)" = 0 ] || die "run as root: Dovecot needs root to start (and switches to its own users)"

TMP=$(mktemp -d /tmp/roost-bench.XXXXXX)
chmod 755 "$TMP" # Dovecot's unprivileged processes read below it
ROOST_PID=""
SINK_PID=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$ROOST_PID" ]; then
		kill "$ROOST_PID" 2>/dev/null || true
		local i=0
		while kill -0 "$ROOST_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
		kill -9 "$ROOST_PID" 2>/dev/null || true
	fi
	[ -d "$TMP/dovecot" ] && "$DOVECOT_SH" stop "$TMP/dovecot" 2>/dev/null || true
	[ -d "$TMP/dovecot-imap" ] && "$DOVECOT_SH" stop "$TMP/dovecot-imap" 2>/dev/null || true
	[ -d "$TMP/dovecot-lmtp" ] && "$DOVECOT_SH" stop "$TMP/dovecot-lmtp" 2>/dev/null || true
	[ -d "$TMP/dovecot-mixed" ] && "$DOVECOT_SH" stop "$TMP/dovecot-mixed" 2>/dev/null || true
	[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# File descriptors: the load generator holds every connection, and Roost
# serves them all from one process. Root may raise the hard limit too.
need_fds=$((N_IDLE + N_AUTH + 200))
[ "$SKIP_IMAP" = 1 ] || [ $((N_IMAP_IDLE + N_IMAP_BIG_IDLE_ROOST + 1000)) -le "$need_fds" ] ||
	need_fds=$((N_IMAP_IDLE + N_IMAP_BIG_IDLE_ROOST + 1000))
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge "$need_fds" ] || ulimit -Hn "$need_fds" 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$need_fds" ] ||
	die "ulimit -n is $(ulimit -n); this benchmark needs $need_fds"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start Roost on a data directory with every listener off but the ones the
# extra --set arguments turn on; waits (bounded) for "roost: ready".
start_roost() { # DATA [--set K=V]...
	local data=$1
	shift
	: >"$TMP/roost.out"
	"$ROOST" serve --data "$data" --set pop3.listen= --set pop3s.listen= --set imap.listen= --set imaps.listen= \
		--set smtp.listen= --set submission.listen= --set submissions.listen= --set lmtp.listen= \
		--set server.user=root --set limits.connections_per_ip=100000 --set limits.connections=100000 \
		--set log.level=warn "$@" >"$TMP/roost.out" 2>>"$TMP/roost.log" &
	ROOST_PID=$!
	echo "$ROOST_PID" >"$TMP/roost.pid"
	local i=0
	until grep -q "roost: ready" "$TMP/roost.out"; do
		kill -0 "$ROOST_PID" 2>/dev/null || { tail -5 "$TMP/roost.log" >&2; die "roost serve exited"; }
		[ $i -lt 200 ] || die "roost serve did not get ready in 20 s"
		i=$((i + 1))
		sleep 0.1
	done
}

stop_roost() {
	[ -n "$ROOST_PID" ] || return 0
	kill "$ROOST_PID" 2>/dev/null || true
	local i=0
	while kill -0 "$ROOST_PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	kill -0 "$ROOST_PID" 2>/dev/null && { warn "roost did not stop in 10 s; killing it"; kill -9 "$ROOST_PID"; }
	wait "$ROOST_PID" 2>/dev/null || true
	ROOST_PID=""
}

start_dovecot() { # PORT [pop3|imap|lmtp]
	"$DOVECOT_SH" start "$DOVECOT_DIR" "$1" "$DOVECOT_DIR.passwd" "$MAXCONN" "${2:-pop3}"
}

stop_dovecot() {
	"$DOVECOT_SH" stop "$DOVECOT_DIR"
}

# Messages Roost has yet to add to its SEARCH index: it indexes in the
# background after delivery (src/store/sqlite/sqlite-indexer.c), and searches
# scan what is still queued. Read-only, beside the running server.
roost_index_backlog() { # DATA
	python3 - "$1/roost.db" <<'PY'
import sqlite3, sys
try:
    db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=10)
    print(db.execute("SELECT count(*) FROM search_queue").fetchone()[0])
except sqlite3.OperationalError:
    print(0)  # a store without the SEARCH index
PY
}

# Deliver MSGDIR/000001..N (written by imap-load gen) into USER's INBOX with
# imap-fill (the store API from 16 threads) and check the INBOX holds N.
roost_fill() { # DATA USER MSGDIR N
	"$IFILL" deliver "$1" "$2" "$3" "$4" 16 2>"$TMP/ifill.err" ||
		{ cat "$TMP/ifill.err" >&2; die "imap-fill deliver failed"; }
	local boxline
	boxline=$("$ROOST" mailbox list --user "$2" --data "$1" 2>/dev/null | awk '$1 == "INBOX"')
	[ "$(echo "$boxline" | awk '{print $2}')" = "$4" ] ||
		die "roost INBOX of $2 holds '$boxline', expected $4 messages"
}

# Start Roost on DATA and wait (bounded) until it has indexed everything the
# deliveries queued, so that no background work runs while it is measured;
# writes "BACKLOG SECONDS CPU_MS" to TMP/index.wait. (Not to be called in a
# subshell: the server it starts must be the one cleanup() knows.)
roost_index_wait() { # DATA
	local backlog backlog0 waited=0 t0 t1 c0 c1
	start_roost "$1" --set imap.listen=127.0.0.1:"$RPORT"
	backlog=$(roost_index_backlog "$1")
	backlog0=$backlog
	c0=$(cpu_ms_of roost)
	t0=$(date +%s.%N)
	while [ "$backlog" -gt 0 ]; do
		[ $waited -lt "${BENCH_INDEX_WAIT:-1800}" ] || die "roost still has $backlog messages to index after $waited s"
		sleep 1
		waited=$((waited + 1))
		backlog=$(roost_index_backlog "$1")
	done
	t1=$(date +%s.%N)
	c1=$(cpu_ms_of roost)
	stop_roost
	echo "$backlog0 $(echo "$t0 $t1" | awk '{printf "%.0f", $2 - $1}') $((c1 - c0))" >"$TMP/index.wait"
}

RPORT=$(free_port)
DPORT=$(free_port)
while [ "$DPORT" = "$RPORT" ]; do DPORT=$(free_port); done

# --- the store benchmark ---------------------------------------------------

if [ -x "$ROOT/build/bench/store-bench" ] && [ "${BENCH_SKIP_STORE:-0}" != 1 ]; then
	say "== store benchmark (build/bench/store-bench) =="
	mkdir -p "$TMP/store-bench"
	if ! timeout 360 "$ROOT/build/bench/store-bench" bench --dir "$TMP/store-bench"; then
		warn "store-bench failed (status $?); going on with the POP3 benchmark"
	fi
	rm -rf "$TMP/store-bench"
	say ""
fi

# --- POP3 -----------------------------------------------------------------------

# The same messages for both servers, memory per connection, session timings.
bench_pop3() {
	say "== POP3: Roost vs Dovecot $(dovecot --version | cut -d' ' -f1) =="
	DOVECOT_DIR=$TMP/dovecot
	MAXCONN=$((N_IDLE > N_AUTH ? N_IDLE : N_AUTH))
	HASH=$(openssl passwd -6 -salt roostbench "$PASSWORD")

	mkdir -p "$TMP/dovecot/mail/$USER_MAIN"
	"$LOAD" gen "$TMP/msgs" "$TMP/dovecot/mail/$USER_MAIN/Maildir" "$N_MSGS"
	MSG_BYTES=$(cat "$TMP/msgs"/* | wc -c)

	# Accounts: the maildrop owner plus N_AUTH empty ones for the logged-in memory
	# test. Both servers get the same SHA512-CRYPT hash, so login costs the same
	# password check on both (Roost's own default would be yescrypt).
	{
		echo "$USER_MAIN:{SHA512-CRYPT}$HASH"
		for i in $(seq 0 $((N_AUTH - 1))); do echo "idle$i:{SHA512-CRYPT}$HASH"; done
	} >"$TMP/dovecot.passwd"
	for i in $(seq 0 $((N_AUTH - 1))); do mkdir -p "$TMP/dovecot/mail/idle$i/Maildir/"{cur,new,tmp}; done
	chown -R nobody:nogroup "$TMP/dovecot/mail"

	mkdir -p "$TMP/roost"
	t0=$(date +%s.%N)
	"$ROOST" user add "$USER_MAIN" --hash "$HASH" --data "$TMP/roost" >/dev/null
	seq 0 $((N_AUTH - 1)) | xargs -P 4 -I{} "$ROOST" user add idle{} --hash "$HASH" --data "$TMP/roost" >/dev/null
	t1=$(date +%s.%N)
	# Delivery: the store API from 16 threads of one process (what `roost deliver`
	# does per message, sharing group commits); if that is unavailable, one
	# `roost deliver` per message, 8 at a time.
	if "$LOAD" fill "$TMP/roost" "$USER_MAIN" "$TMP/msgs" "$N_MSGS" 16 2>"$TMP/fill.err"; then
		how="store API, 16 threads"
	else
		warn "fast fill failed ($(head -1 "$TMP/fill.err")); falling back to roost deliver"
		ls "$TMP/msgs" | sed "s|^|$TMP/msgs/|" |
			xargs -P 8 -I{} sh -c '"$1" deliver --user "$2" --data "$3" <"$4"' sh "$ROOST" "$USER_MAIN" "$TMP/roost" {}
		how="roost deliver, 8 processes"
	fi
	t2=$(date +%s.%N)
	# Roost indexes for SEARCH in the background: measure after it is done.
	roost_index_wait "$TMP/roost"
	boxline=$("$ROOST" mailbox list --user "$USER_MAIN" --data "$TMP/roost" | awk '$1 == "INBOX"')
	[ "$(echo "$boxline" | awk '{print $2}')" = "$N_MSGS" ] || die "roost INBOX holds '$boxline', expected $N_MSGS messages"
	awk -v n="$N_MSGS" -v b="$MSG_BYTES" -v a="$N_AUTH" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v how="$how" 'BEGIN {
		u = t1 - t0; d = t2 - t1
		printf "maildrop: %d messages, %.1f MB (%.0f bytes average); %d more accounts for the memory test\n", n, b / 1e6, b / n, a
		printf "setup: %d roost accounts in %.1f s; %d deliveries into roost in %.2f s (%.0f msg/s, %s)\n", a + 1, u, n, d, n / d, how
	}'
	say ""

	# --- memory per connection ---------------------------------------------------

	# Open N connections (greeting only, or logged in), measure the server while
	# they are open, against a baseline taken on the freshly started server.
	mem_test() { # KIND PORT N [USERFMT]
		local kind=$1 port=$2 n=$3 fmt=${4:-}
		sleep 0.3
		mem_of "$kind" >"$TMP/mem.before"
		if [ -n "$fmt" ]; then
			"$LOAD" idle "$port" "$n" "$SELF __mem $TMP $kind $TMP/mem.after" "$fmt" "$PASSWORD" 2>"$TMP/idle.err" ||
				{ cat "$TMP/idle.err" >&2; die "$kind: $n logged-in connections failed"; }
		else
			"$LOAD" idle "$port" "$n" "$SELF __mem $TMP $kind $TMP/mem.after" 2>"$TMP/idle.err" ||
				{ cat "$TMP/idle.err" >&2; die "$kind: $n idle connections failed"; }
		fi
		read -r rss0 pss0 np0 <"$TMP/mem.before"
		read -r rss1 pss1 np1 <"$TMP/mem.after"
		echo "$kind $n $rss0 $rss1 $pss0 $pss1 $np0 $np1"
	}

	mem_line() { # LABEL ROOST_RESULT DOVECOT_RESULT TARGET_KB
		echo "$2 $3" | awk -v label="$1" -v target="$4" '{
			n = $2
			r_rss = ($4 - $3) / n; r_pss = ($6 - $5) / n
			d_rss = ($12 - $11) / n; d_pss = ($14 - $13) / n
			printf "%-34s roost %7.1f KB   dovecot %7.1f KB (Pss; RSS sum %.0f KB, %d processes)   ratio %.1fx less",
				label, r_rss, d_pss, d_rss, $16, (r_rss > 0 ? d_pss / r_rss : 0)
			if (target > 0)
				printf "   [target < %d KB: %s]", target, (r_rss < target ? "met" : "MISSED")
			printf "\n"
		}'
	}

	say "memory per connection (server memory while N connections are open minus before, fresh servers):"
	start_roost "$TMP/roost" --set pop3.listen=127.0.0.1:"$RPORT"
	r_idle=$(mem_test roost "$RPORT" "$N_IDLE")
	stop_roost
	start_dovecot "$DPORT"
	d_idle=$(mem_test dovecot "$DPORT" "$N_IDLE")
	stop_dovecot
	mem_line "idle, greeted ($N_IDLE conns)" "$r_idle" "$d_idle" 10

	start_roost "$TMP/roost" --set pop3.listen=127.0.0.1:"$RPORT"
	r_auth=$(mem_test roost "$RPORT" "$N_AUTH" "idle%ld")
	stop_roost
	start_dovecot "$DPORT"
	d_auth=$(mem_test dovecot "$DPORT" "$N_AUTH" "idle%ld")
	stop_dovecot
	mem_line "logged in, empty box ($N_AUTH users)" "$r_auth" "$d_auth" 0
	say "  (roost: VmRSS of its one process; dovecot: Pss summed over master, pop3-login and pop3 processes,"
	say "   i.e. shared library pages counted once; kernel socket buffers are not included for either)"
	say ""

	# --- session timings -----------------------------------------------------------

	# Run REPS sessions of one operation; prints "MEDIAN_OP_MS MEDIAN_TOTAL_MS CPU_MS_PER_REP MSGS BYTES".
	timing() { # KIND PORT OP [WINDOW [MAX]]
		local kind=$1 port=$2 op=$3
		shift 3
		local c0 c1
		c0=$(cpu_ms_of "$kind")
		"$LOAD" session "$port" "$USER_MAIN" "$PASSWORD" "$op" "$REPS" "$@" >"$TMP/t.out" 2>"$TMP/t.err" ||
			{ cat "$TMP/t.err" >&2; die "$kind: $op session failed"; }
		sleep 0.2 # let Dovecot's master reap the session's pop3 process
		c1=$(cpu_ms_of "$kind")
		local op_ms total_ms
		op_ms=$(sed 's/.* op_ms=\([0-9.]*\).*/\1/' "$TMP/t.out" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
		total_ms=$(sed 's/.* total_ms=\([0-9.]*\).*/\1/' "$TMP/t.out" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
		local last
		last=$(tail -1 "$TMP/t.out")
		echo "$op_ms $total_ms $(((c1 - c0) / REPS)) $(echo "$last" | sed 's/.* msgs=\([0-9]*\) bytes=\([0-9]*\)/\1 \2/')"
	}

	# One table row. Speed ratio = dovecot time / roost time (above 1: Roost faster).
	row() { # LABEL OPWORD ROOST DOVECOT TARGET
		echo "$3 $4" | awk -v label="$1" -v target="$5" '{
			r = $1; d = $6; rt = $2; dt = $7; rc = $3; dc = $8; n = $4
			rs = (r >= 1000) ? sprintf("%.2f s", r / 1000) : sprintf("%.1f ms", r)
			ds = (d >= 1000) ? sprintf("%.2f s", d / 1000) : sprintf("%.1f ms", d)
			rate = ""
			if (label ~ /RETR/)
				rate = sprintf("  (%.0f vs %.0f msg/s)", n / (r / 1000), n / (d / 1000))
			printf "%-30s roost %9s  dovecot %9s  ratio %5.2fx", label, rs, ds, (r > 0 ? d / r : 0)
			if (target > 0)
				printf " %-8s", (d / r >= target ? "[met]" : "[MISSED]")
			else
				printf " %-8s", ""
			printf " cpu/session %5d vs %5d ms  whole session %.1f vs %.1f ms%s\n", rc, dc, rt, dt, rate
		}'
	}

	say "POP3 sessions on the $N_MSGS-message maildrop: median of $REPS; time from PASS's +OK to the last byte"
	say "of the answer; ratio = dovecot time / roost time (>1: roost faster; target 2x); cpu = server CPU per session"
	# Roost runs with its default limits (limits.commands_per_second included).
	start_roost "$TMP/roost" --set pop3.listen=127.0.0.1:"$RPORT"
	start_dovecot "$DPORT"
	# Warm-up: Dovecot builds its index and caches on the first session, both
	# servers get their files into the page cache.
	for kind in roost dovecot; do
		port=$RPORT
		[ $kind = dovecot ] && port=$DPORT
		for op in stat uidl list; do "$LOAD" session "$port" "$USER_MAIN" "$PASSWORD" $op 1 >/dev/null; done
		"$LOAD" session "$port" "$USER_MAIN" "$PASSWORD" retr 1 "$WINDOW" >/dev/null
	done

	declare -A RES
	for spec in "login" "stat" "uidl" "list" "retr 1" "retr $WINDOW"; do
		# shellcheck disable=SC2086
		RES["roost $spec"]=$(timing roost "$RPORT" $spec)
		# shellcheck disable=SC2086
		RES["dovecot $spec"]=$(timing dovecot "$DPORT" $spec)
	done
	# Same number of messages and bytes on both sides, or the comparison is void.
	for spec in "stat" "uidl" "retr 1" "retr $WINDOW"; do
		r=$(echo "${RES["roost $spec"]}" | cut -d' ' -f4-5)
		d=$(echo "${RES["dovecot $spec"]}" | cut -d' ' -f4-5)
		[ "$r" = "$d" ] || warn "$spec: roost returned '$r' (messages bytes), dovecot '$d'"
	done
	row "login (USER+PASS, QUIT)" login "$(echo "${RES["roost login"]}" | awk '{print $2, $2, $3, 1, 0}')" \
		"$(echo "${RES["dovecot login"]}" | awk '{print $2, $2, $3, 1, 0}')" 0
	row "STAT" stat "${RES["roost stat"]}" "${RES["dovecot stat"]}" 2
	row "UIDL (all $N_MSGS)" uidl "${RES["roost uidl"]}" "${RES["dovecot uidl"]}" 2
	row "LIST (all $N_MSGS)" list "${RES["roost list"]}" "${RES["dovecot list"]}" 2
	row "RETR all, one at a time" retr "${RES["roost retr 1"]}" "${RES["dovecot retr 1"]}" 2
	row "RETR all, $WINDOW pipelined" retr "${RES["roost retr $WINDOW"]}" "${RES["dovecot retr $WINDOW"]}" 2
	stop_dovecot
	stop_roost
}

# --- IMAP ------------------------------------------------------------------------

IMAP_USER=ibench
IMAP_FAILED=0

# One IMAP operation REPS times in fresh sessions on one server. Prints
# "MEDIAN_OP_MS FIRST_OP_MS CPU_MS_PER_REP COUNT BYTES EXISTS", or "NA reason"
# when the server answered the operation with NO or BAD. IL_DUMP in the
# environment keeps the first repetition's untagged answers.
imap_timing() { # KIND PORT OP REPS [WORD]
	local kind=$1 port=$2 op=$3 reps=$4 word=${5:-} c0 c1 rc=0
	c0=$(cpu_ms_of "$kind")
	# shellcheck disable=SC2086
	"$ILOAD" session "$port" "$IMAP_USER" "$PASSWORD" "$op" "$reps" $word >"$TMP/it.out" 2>"$TMP/it.err" || rc=$?
	if [ $rc = 3 ]; then
		echo "NA $(sed -n 's/.*server said //p' "$TMP/it.err" | head -1)"
		return 0
	fi
	[ $rc = 0 ] || { cat "$TMP/it.err" >&2; die "$kind: IMAP $op failed"; }
	sleep 0.2 # let Dovecot's master reap the session's imap process
	c1=$(cpu_ms_of "$kind")
	local median
	median=$(sed 's/.* op_ms=\([0-9.]*\).*/\1/' "$TMP/it.out" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
	awk -v cpu=$(((c1 - c0) / reps)) -v median="$median" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if (NR == 1) first = v["op_ms"]
		count = v["count"]; bytes = v["bytes"]; exists = v["exists"]
	} END {
		printf "%s %s %d %s %s %s\n", median, first, cpu, count, bytes, exists
	}' "$TMP/it.out"
}

# Field F (1: the median, 2: the first) of an imap_timing result, as "12.3 ms".
fmt_ms() { # RESULT [F]
	echo "$1" | awk -v f="${2:-1}" '$1 == "NA" {print "n/a"; exit}
	{ms = $f; if (ms >= 1000) printf "%.2f s\n", ms / 1000; else if (ms >= 100) printf "%.0f ms\n", ms; else printf "%.1f ms\n", ms}'
}

# One table row; ratio = dovecot time / roost time (above 1: Roost faster).
# Marks the run failed when a server's answer count is not the expected one.
imap_row() { # LABEL TARGET EXPECTED ROOST_RESULT DOVECOT_RESULT
	local rc=0
	awk -v label="$1" -v target="$2" -v want="$3" -v r="$4" -v d="$5" 'function t(ms) {
		return ms >= 1000 ? sprintf("%.2f s", ms / 1000) : ms >= 100 ? sprintf("%.0f ms", ms) : sprintf("%.1f ms", ms)
	}
	BEGIN {
		nr = split(r, R, " "); nd = split(d, D, " ")
		if (R[1] == "NA" || D[1] == "NA") {
			printf "%-38s %9s %9s %8s %6s  %-8s (%s)\n", label, R[1] == "NA" ? "n/a" : t(R[1]),
				D[1] == "NA" ? "n/a" : t(D[1]), "", target "x", "n/a",
				"server said: " (R[1] == "NA" ? substr(r, 4) : substr(d, 4))
			exit (D[1] == "NA" ? 2 : 0)
		}
		ratio = R[1] > 0 ? D[1] / R[1] : 0
		ok = (R[4] == want && D[4] == want)
		res = !ok ? "WRONG" : ratio >= target ? "met" : "MISSED"
		ans = ok ? sprintf("%d, same", want) : sprintf("roost %d, dovecot %d, expected %d", R[4], D[4], want)
		printf "%-38s %9s %9s %7.2fx %5sx  %-8s %6d / %6d ms  %s\n", label, t(R[1]), t(D[1]), ratio, target, res,
			R[3], D[3], ans
		exit (ok ? 0 : 2)
	}' || rc=$?
	[ $rc = 0 ] || IMAP_FAILED=1
}

# N connections logged in with SELECT INBOX and IDLE, on a freshly started
# server; prints imap-load idle's result line.
imap_idle() { # KIND PORT N USERFMT
	local pids
	case $1 in
	roost) pids="cat $TMP/roost.pid" ;;
	dovecot) pids="$DOVECOT_SH pids $DOVECOT_DIR" ;;
	esac
	sleep 0.3
	"$ILOAD" idle "$2" "$3" "$4" "$PASSWORD" "$pids" 2>"$TMP/idle.err" ||
		{ cat "$TMP/idle.err" >&2; die "$1: $3 IDLE connections failed"; }
}

imap_mem_line() { # LABEL ROOST_RESULT DOVECOT_RESULT TARGET_KB
	echo "$2 $3" | awk -v label="$1" -v target="$4" '{
		for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] == "conns") side++
			v[side, kv[1]] = kv[2]
		}
		r = v[1, "rss_per_conn_kb"]; d = v[2, "rss_per_conn_kb"]; dp = v[2, "pss_per_conn_kb"]
		printf "%-40s roost %7.1f KB (%d conns)   dovecot %7.0f KB RSS, %5.0f KB Pss (%d conns, %d processes)   ratio %.0fx (RSS), %.0fx (Pss)",
			label, r, v[1, "conns"], d, dp, v[2, "conns"], v[2, "procs_after"], (r > 0 ? d / r : 0), (r > 0 ? dp / r : 0)
		if (target > 0)
			printf "   [target < %d KB: %s]", target, (r < target ? "met" : "MISSED")
		printf "\n"
	}'
}

bench_imap() {
	local version
	version=$(dovecot --version | cut -d' ' -f1)
	say "== IMAP: Roost vs Dovecot $version =="
	DOVECOT_DIR=$TMP/dovecot-imap
	local big_or_idle=$((N_IMAP_IDLE_DOVECOT > N_IMAP_BIG_IDLE ? N_IMAP_IDLE_DOVECOT : N_IMAP_BIG_IDLE))
	MAXCONN=$((big_or_idle + 10))
	HASH=$(openssl passwd -6 -salt roostbench "$PASSWORD")

	# The messages, as files; Dovecot gets them hard-linked into its maildir.
	local t0 t1 t2 t3
	t0=$(date +%s.%N)
	mkdir -p "$DOVECOT_DIR/mail/$IMAP_USER"
	"$ILOAD" gen "$TMP/imsgs" "$DOVECOT_DIR/mail/$IMAP_USER/Maildir" "$N_IMAP" >"$TMP/imanifest"
	mf() { tr ' ' '\n' <"$TMP/imanifest" | sed -n "s/^$1=//p"; }
	{
		echo "$IMAP_USER:{SHA512-CRYPT}$HASH"
		for i in $(seq 0 $((N_IMAP_IDLE_DOVECOT - 1))); do echo "idle$i:{SHA512-CRYPT}$HASH"; done
	} >"$DOVECOT_DIR.passwd"
	for i in $(seq 0 $((N_IMAP_IDLE_DOVECOT - 1))); do mkdir -p "$DOVECOT_DIR/mail/idle$i/Maildir/"{cur,new,tmp}; done
	chown -R nobody:nogroup "$DOVECOT_DIR/mail"

	# Roost: the same files through the store API (imap-fill), the owner and
	# N_IMAP_IDLE empty accounts for the IDLE test, with the same hash.
	t1=$(date +%s.%N)
	mkdir -p "$TMP/roost-imap"
	"$IFILL" accounts "$TMP/roost-imap" "$IMAP_USER" 1 "$HASH" 1 2>/dev/null ||
		die "imap-fill could not create $IMAP_USER"
	"$IFILL" accounts "$TMP/roost-imap" 'idle%ld' "$N_IMAP_IDLE" "$HASH" 16 2>"$TMP/ifill.err" ||
		{ cat "$TMP/ifill.err" >&2; die "imap-fill accounts failed"; }
	t2=$(date +%s.%N)
	roost_fill "$TMP/roost-imap" "$IMAP_USER" "$TMP/imsgs" "$N_IMAP"
	t3=$(date +%s.%N)
	# Roost indexes for SEARCH in the background: measure after it is done.
	local ix
	roost_index_wait "$TMP/roost-imap"
	ix=$(cat "$TMP/index.wait")
	local subj_word body_word subj_hits body_hits
	subj_word=$(mf subject_word) body_word=$(mf body_word)
	subj_hits=$(mf subject_hits) body_hits=$(mf body_hits)
	awk -v n="$N_IMAP" -v b="$(mf bytes)" -v p="$(mf plain)" -v q="$(mf plain_qp)" -v a="$(mf alternative)" \
		-v m="$(mf mixed)" -v e="$(mf encoded_subjects)" -v sw="$subj_word" -v sh="$subj_hits" -v bw="$body_word" \
		-v bh="$body_hits" -v ni="$N_IMAP_IDLE" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" -v ix="$ix" 'BEGIN {
		printf "mailbox: %d messages, %.1f MB (%.0f bytes average): %d text/plain (%d of them quoted-printable UTF-8), %d multipart/alternative (text + HTML), %d multipart/mixed (text + attachment); %d RFC 2047 subjects\n", n, b / 1e6, b / n, p + q, q, a, m, e
		printf "searched words: \"%s\" in %d subjects, \"%s\" in %d bodies (nowhere else)\n", sw, sh, bw, bh
		printf "setup: messages written and linked into the maildir in %.1f s; roost: %d accounts in %.1f s, %d deliveries in %.1f s (%.0f msg/s, store API from 16 threads, parsed at delivery)\n", t1 - t0, ni + 1, t2 - t1, n, t3 - t2, n / (t3 - t2)
		split(ix, x, " ")
		printf "roost indexes for SEARCH in the background (the deliveries share the store\047s writer with it): %d messages were still queued after the last delivery, indexed in %d s (%.1f ms CPU each)\n", x[1], x[2], (x[1] > 0 ? x[3] / x[1] : 0)
	}'
	say ""

	# --- timings ---
	start_roost "$TMP/roost-imap" --set imap.listen=127.0.0.1:"$RPORT"
	start_dovecot "$DPORT" imap
	local r d
	r=$(imap_timing roost "$RPORT" select 1)
	d=$(imap_timing dovecot "$DPORT" select 1)
	say "first SELECT after loading: roost $(fmt_ms "$r"), dovecot $(fmt_ms "$d") (Dovecot builds its index from the maildir here)"
	# Warm-up: both servers read their flags once (and the files are in the
	# page cache since they were written).
	imap_timing roost "$RPORT" fetchflags 1 >/dev/null
	imap_timing dovecot "$DPORT" fetchflags 1 >/dev/null

	say ""
	say "IMAP commands on the $N_IMAP-message INBOX: median of $REPS fresh sessions (one for \"first time\"); time from"
	say "sending the command to its tagged OK; ratio = dovecot time / roost time (>1: roost faster); cpu = server CPU per session"
	printf '%-38s %9s %9s %8s %6s  %-8s %-17s  %s\n' operation roost dovecot ratio target result "cpu roost/dovecot" answers
	declare -A IR
	IR[rs]=$(imap_timing roost "$RPORT" select "$REPS")
	IR[ds]=$(imap_timing dovecot "$DPORT" select "$REPS")
	IR[rf]=$(imap_timing roost "$RPORT" fetchflags "$REPS")
	IR[df]=$(imap_timing dovecot "$DPORT" fetchflags "$REPS")
	export IL_DUMP=$TMP/envelope.roost
	IR[re1]=$(imap_timing roost "$RPORT" envelope 1)
	export IL_DUMP=$TMP/envelope.dovecot
	IR[de1]=$(imap_timing dovecot "$DPORT" envelope 1)
	unset IL_DUMP
	IR[re]=$(imap_timing roost "$RPORT" envelope "$REPS")
	IR[de]=$(imap_timing dovecot "$DPORT" envelope "$REPS")
	IR[rss]=$(imap_timing roost "$RPORT" search-subject "$REPS" "$subj_word")
	IR[dss]=$(imap_timing dovecot "$DPORT" search-subject "$REPS" "$subj_word")
	IR[rsb]=$(imap_timing roost "$RPORT" search-body "$REPS" "$body_word")
	IR[dsb]=$(imap_timing dovecot "$DPORT" search-body "$REPS" "$body_word")
	IR[rst]=$(imap_timing roost "$RPORT" store "$REPS")
	IR[dst]=$(imap_timing dovecot "$DPORT" store "$REPS")
	stop_dovecot
	stop_roost
	# SELECT counts EXISTS; the others count FETCH answers or SEARCH hits.
	imap_row "SELECT INBOX" 2 "$N_IMAP" "$(echo "${IR[rs]}" | awk '$1 != "NA" {$4 = $6} 1')" \
		"$(echo "${IR[ds]}" | awk '$1 != "NA" {$4 = $6} 1')"
	imap_row "UID FETCH 1:* (FLAGS)" 2 "$N_IMAP" "${IR[rf]}" "${IR[df]}"
	imap_row "FETCH 1:* (ENVELOPE), first time" 20 "$N_IMAP" "${IR[re1]}" "${IR[de1]}"
	imap_row "FETCH 1:* (ENVELOPE), repeated" 2 "$N_IMAP" "${IR[re]}" "${IR[de]}"
	imap_row "UID SEARCH SUBJECT $subj_word" 2 "$subj_hits" "${IR[rss]}" "${IR[dss]}"
	imap_row "UID SEARCH BODY $body_word" 20 "$body_hits" "${IR[rsb]}" "${IR[dsb]}"
	imap_row "STORE 1:* +FLAGS (\\Seen)" 2 "$N_IMAP" "${IR[rst]}" "${IR[dst]}"
	# The first of the repetitions, where it differs from the rest.
	say "first of the $REPS sessions: SEARCH SUBJECT roost $(fmt_ms "${IR[rss]}" 2), dovecot $(fmt_ms "${IR[dss]}" 2);" \
		"SEARCH BODY roost $(fmt_ms "${IR[rsb]}" 2), dovecot $(fmt_ms "${IR[dsb]}" 2)"
	# Both servers should describe every message the same way.
	if [ -s "$TMP/envelope.roost" ] && [ -s "$TMP/envelope.dovecot" ]; then
		local er ed differ
		sed -E 's/^\* [0-9]+ FETCH //' "$TMP/envelope.roost" | sort >"$TMP/envelope.roost.s"
		sed -E 's/^\* [0-9]+ FETCH //' "$TMP/envelope.dovecot" | sort >"$TMP/envelope.dovecot.s"
		er=$(wc -l <"$TMP/envelope.roost.s")
		differ=$(comm -23 "$TMP/envelope.roost.s" "$TMP/envelope.dovecot.s" | wc -l)
		say "ENVELOPE: $((er - differ)) of $er answers byte for byte the same as Dovecot's (compared as sets: the UIDs differ)"
		if [ "$differ" -gt 0 ]; then
			comm -23 "$TMP/envelope.roost.s" "$TMP/envelope.dovecot.s" | head -2 | cut -c1-300 | sed 's/^/  roost:   /'
			comm -13 "$TMP/envelope.roost.s" "$TMP/envelope.dovecot.s" | head -2 | cut -c1-300 | sed 's/^/  dovecot: /'
		fi
	fi
	say ""

	# --- memory per IDLE connection ---
	say "memory per IDLE connection (LOGIN, SELECT INBOX, IDLE; server memory while all are open minus before, fresh servers):"
	local ri di rb db
	start_roost "$TMP/roost-imap" --set imap.listen=127.0.0.1:"$RPORT"
	ri=$(imap_idle roost "$RPORT" "$N_IMAP_IDLE" 'idle%ld')
	stop_roost
	start_dovecot "$DPORT" imap
	di=$(imap_idle dovecot "$DPORT" "$N_IMAP_IDLE_DOVECOT" 'idle%ld')
	stop_dovecot
	imap_mem_line "own account, empty INBOX" "$ri" "$di" 10
	start_roost "$TMP/roost-imap" --set imap.listen=127.0.0.1:"$RPORT"
	rb=$(imap_idle roost "$RPORT" "$N_IMAP_BIG_IDLE_ROOST" "$IMAP_USER")
	stop_roost
	start_dovecot "$DPORT" imap
	db=$(imap_idle dovecot "$DPORT" "$N_IMAP_BIG_IDLE" "$IMAP_USER")
	stop_dovecot
	imap_mem_line "one account, the $N_IMAP-message INBOX" "$rb" "$db" 0
	say "  (roost: VmRSS of its one process; dovecot: RSS and Pss summed over master, imap-login and imap processes;"
	say "   Dovecot gets fewer connections than Roost: each is an imap process of about 5 MB resident; kernel socket"
	say "   buffers are not included for either)"
}

# --- many IMAP clients at once ----------------------------------------------------

# One imap-mixed run; prints "OPS_PER_S CPU_MS_PER_1000_OPS FAILURES ERRORS"
# and keeps the whole output in TMP/mixed.KIND.PROFILE.N.
mixed_run() { # KIND PORT PROFILE CLIENTS
	local out=$TMP/mixed.$1.$3.$4 c0 c1 rc=0
	c0=$(cpu_ms_of "$1")
	"$MIXED" run "$2" 'mix%d' "$MIXED_USERS" "$PASSWORD" --profile "$3" --clients "$4" \
		--seconds "$MIXED_SECONDS" --seed 1 >"$out" 2>&1 || rc=$?
	c1=$(cpu_ms_of "$1")
	[ $rc -le 2 ] || { tail -5 "$out" >&2; die "imap-mixed against $1 could not run (status $rc)"; }
	grep -q '^result ' "$out" || { tail -5 "$out" >&2; die "imap-mixed against $1 printed no result"; }
	awk -v cpu=$((c1 - c0)) '/^result / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
	}
	/^failures: / { f = $0; sub(/^failures: /, "", f) }
	END { printf "%s %.0f %s %s\n", r["ops_per_s"], (r["ops"] > 0 ? cpu * 1000 / r["ops"] : 0), r["errors"], f }' "$out"
}

bench_mixed() {
	local version
	version=$(dovecot --version | cut -d' ' -f1)
	say "== many IMAP clients at once: Roost vs Dovecot $version (bench/imap-mixed) =="
	DOVECOT_DIR=$TMP/dovecot-mixed
	local max_clients=0 n
	for n in $MIXED_CLIENTS; do [ "$n" -le "$max_clients" ] || max_clients=$n; done
	MAXCONN=$((max_clients + 10))
	# Each server on its default: Roost hashes with yescrypt (roost user add),
	# Dovecot's passwd-file holds the plain password, and it keeps its default
	# mail_fsync = optimized (no fsync for flag changes, like Roost).
	mkdir -p "$TMP/roost-mixed" "$DOVECOT_DIR/mail"
	local i
	for i in $(seq 0 $((MIXED_USERS - 1))); do
		echo "mix$i:{PLAIN}$PASSWORD"
		mkdir -p "$DOVECOT_DIR/mail/mix$i/Maildir/"{cur,new,tmp}
	done >"$DOVECOT_DIR.passwd"
	chown -R nobody:nogroup "$DOVECOT_DIR/mail"
	seq 0 $((MIXED_USERS - 1)) |
		xargs -I{} sh -c 'echo "$1" | "$2" user add "mix$3" --data "$4" >/dev/null' sh "$PASSWORD" "$ROOST" {} "$TMP/roost-mixed"
	start_roost "$TMP/roost-mixed" --set imap.listen=127.0.0.1:"$RPORT"
	DOVECOT_FSYNC=optimized start_dovecot "$DPORT" imap
	"$MIXED" fill "$RPORT" 'mix%d' "$MIXED_USERS" "$PASSWORD" "$MIXED_MSGS" >/dev/null 2>"$TMP/mixed.fill" ||
		{ cat "$TMP/mixed.fill" >&2; die "imap-mixed fill into roost failed"; }
	"$MIXED" fill "$DPORT" 'mix%d' "$MIXED_USERS" "$PASSWORD" "$MIXED_MSGS" >/dev/null 2>"$TMP/mixed.fill" ||
		{ cat "$TMP/mixed.fill" >&2; die "imap-mixed fill into dovecot failed"; }
	say "$MIXED_USERS users, $MIXED_MSGS messages in each INBOX to start with (kept between 20 and 400), clients"
	say "spread over the users (several on each INBOX), $MIXED_SECONDS s per run, the runs one after the other on the same"
	say "mailboxes; long: one login per client; churn: LOGIN, SELECT, 1-5 commands, LOGOUT, again."
	say "ratio = roost ops/s / dovecot ops/s; cpu = server CPU ms per 1000 operations; failures counted by imap-mixed"
	printf '%-8s %7s %11s %11s %7s %8s %15s   %s\n' profile clients "roost op/s" "dovecot" ratio target "cpu r/d" failures
	local prof r d target
	for prof in $MIXED_PROFILES; do
		for n in $MIXED_CLIENTS; do
			r=$(mixed_run roost "$RPORT" "$prof" "$n")
			d=$(mixed_run dovecot "$DPORT" "$prof" "$n")
			target=2
			[ "$prof" = churn ] && target=5
			echo "$r|$d" | awk -F'|' -v p="$prof" -v n="$n" -v t="$target" '{
				split($1, r, " "); split($2, d, " ")
				rf = $1; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", rf)
				df = $2; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", df)
				ratio = d[1] > 0 ? r[1] / d[1] : 0
				printf "%-8s %7d %11.0f %11.0f %6.2fx %8s %7d/%-7d   roost: %s\n", p, n, r[1], d[1], ratio,
					(ratio >= t ? "[met]" : "[MISSED]"), r[2], d[2], (r[3] == 0 ? "none" : rf)
				if (d[3] != 0)
					printf "%56s dovecot: %s\n", "", df
			}'
			[ "$(echo "$r" | cut -d' ' -f3)" = 0 ] || {
				MIXED_FAILED=1
				grep -m 5 '^imap-mixed: ' "$TMP/mixed.roost.$prof.$n" | cut -c1-300 | sed 's/^/  /'
			}
		done
	done
	say "targets: 2x Dovecot with long-lived sessions, 5x with login churn; zero failures for Roost"
	say "per-command rates and latencies: the runs' tables, e.g. roost long $max_clients clients:"
	sed -n '/^command/,/^total/p' "$TMP/mixed.roost.long.$max_clients" 2>/dev/null | sed 's/^/  /'
	stop_dovecot
	stop_roost
}

# --- SMTP and LMTP delivery ------------------------------------------------------

SMTP_FROM=sender@example.net

# Run smtp-source against 127.0.0.1:PORT (4 KB messages, one connection per
# session kept open for its share of the messages, as an MTA's connection cache
# does) and time it with the monotonic clock. Sets SMTP_SECS and SMTP_CPU (the
# server's CPU milliseconds over the run; 0 for the sink). Any refused message
# or broken session fails the run.
smtp_timed() { # KIND PORT SESSIONS MSGS RCPT [-L]
	local kind=$1 port=$2 sessions=$3 n=$4 rcpt=$5 c0=0 c1=0
	shift 5
	[ "$kind" = sink ] || c0=$(cpu_ms_of "$kind")
	SMTP_SECS=$(python3 - "${BENCH_SMTP_TIMEOUT:-600}" "$SMTP_SOURCE" "$@" -d -s "$sessions" -m "$n" -l 4096 \
		-f "$SMTP_FROM" -t "$rcpt" "127.0.0.1:$port" 2>"$TMP/smtp-source.err" <<'PY'
import subprocess, sys, time
limit, cmd = float(sys.argv[1]), sys.argv[2:]
t0 = time.monotonic()
try:
    rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=limit).returncode
except subprocess.TimeoutExpired:
    sys.exit("smtp-source did not finish in %.0f s" % limit)
t1 = time.monotonic()
if rc != 0:
    sys.exit("smtp-source exited with status %d" % rc)
print("%.6f" % (t1 - t0))
PY
	) || {
		tail -3 "$TMP/smtp-source.err" >&2
		[ "$kind" = dovecot ] && tail -3 "$DOVECOT_DIR/dovecot.log" >&2
		[ "$kind" = roost ] && { tail -3 "$TMP/roost.log" >&2; kill -0 "$ROOST_PID" 2>/dev/null || warn "roost is gone"; }
		die "$kind: smtp-source -s $sessions -m $n $* to $rcpt failed"
	}
	sleep 0.2 # let Dovecot's master reap what ended
	[ "$kind" = sink ] || c1=$(cpu_ms_of "$kind")
	SMTP_CPU=$((c1 - c0))
}

# "RATE CPU_MS_PER_MSG" of the last smtp_timed run of N messages.
smtp_result() { # N
	awk -v n="$1" -v s="$SMTP_SECS" -v c="$SMTP_CPU" 'BEGIN {printf "%.0f %.2f\n", n / s, c / n}'
}

# Messages in a Dovecot maildir (new and cur).
maildir_count() { # MAILDIR
	find "$1/new" "$1/cur" -type f 2>/dev/null | wc -l
}

roost_inbox_count() { # DATA USER
	"$ROOST" mailbox list --user "$2" --data "$1" 2>/dev/null | awk '$1 == "INBOX" {print $2}'
}

# Wait (bounded) until something accepts connections on 127.0.0.1:PORT.
wait_port() { # PORT
	local i=0
	until python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' "$1" 2>/dev/null; do
		[ $i -lt 100 ] || die "nothing listens on 127.0.0.1:$1 after 10 s"
		i=$((i + 1))
		sleep 0.1
	done
}

bench_smtp() {
	local version
	version=$(dovecot --version | cut -d' ' -f1)
	say "== SMTP and LMTP delivery: Roost vs Dovecot $version LMTP (smtp-source, 4096-byte messages) =="
	local lport sport kport data=$TMP/roost-smtp
	lport=$(free_port)
	sport=$(free_port)
	kport=$(free_port)
	DOVECOT_DIR=$TMP/dovecot-lmtp
	MAXCONN=60
	HASH=$(openssl passwd -6 -salt roostbench "$PASSWORD")
	local box=$DOVECOT_DIR/mail/$USER_MAIN/Maildir bigbox=$DOVECOT_DIR/mail/big/Maildir
	local r_sent=0 d_sent=0 r_big_sent=0 d_big_sent=0
	declare -A SR

	# Accounts: USER_MAIN receives the runs into an empty INBOX, big the runs
	# into the INBOX that already holds N_SMTP_BIG messages (filled later).
	mkdir -p "$data" "$box"/{cur,new,tmp} "$bigbox"/{cur,new,tmp}
	printf '%s:{SHA512-CRYPT}%s\nbig:{SHA512-CRYPT}%s\n' "$USER_MAIN" "$HASH" "$HASH" >"$DOVECOT_DIR.passwd"
	chown -R nobody:nogroup "$DOVECOT_DIR/mail"
	for u in "$USER_MAIN" big; do
		"$IFILL" accounts "$data" "$u" 1 "$HASH" 1 2>/dev/null || die "imap-fill could not create $u"
	done

	# The load generator's ceiling: smtp-source against Postfix's smtp-sink,
	# which answers LMTP without storing anything.
	"$SMTP_SINK" -u nobody -L "127.0.0.1:$kport" 500 >/dev/null 2>"$TMP/sink.err" &
	SINK_PID=$!
	wait_port "$kport"
	smtp_timed sink "$kport" 1 "$N_SMTP" "$USER_MAIN@localhost" -L
	SR[k1]=$(smtp_result "$N_SMTP")
	smtp_timed sink "$kport" 50 "$N_SMTP" "$USER_MAIN@localhost" -L
	SR[k50]=$(smtp_result "$N_SMTP")
	kill "$SINK_PID" 2>/dev/null || true
	wait "$SINK_PID" 2>/dev/null || true
	SINK_PID=""

	# Roost, default configuration: LMTP and SMTP (the port-25 listener, a local
	# recipient) at 1 and 50 sessions, after 10 messages of warm-up.
	start_roost "$data" --set lmtp.listen=127.0.0.1:"$lport" --set smtp.listen=127.0.0.1:"$sport"
	smtp_timed roost "$lport" 1 10 "$USER_MAIN@localhost" -L
	r_sent=$((r_sent + 10))
	smtp_timed roost "$lport" 1 "$N_SMTP_1" "$USER_MAIN@localhost" -L
	SR[rl1]=$(smtp_result "$N_SMTP_1")
	smtp_timed roost "$lport" 50 "$N_SMTP" "$USER_MAIN@localhost" -L
	SR[rl50]=$(smtp_result "$N_SMTP")
	smtp_timed roost "$sport" 1 "$N_SMTP_1" "$USER_MAIN@localhost"
	SR[rs1]=$(smtp_result "$N_SMTP_1")
	smtp_timed roost "$sport" 50 "$N_SMTP" "$USER_MAIN@localhost"
	SR[rs50]=$(smtp_result "$N_SMTP")
	r_sent=$((r_sent + 2 * N_SMTP_1 + 2 * N_SMTP))
	stop_roost
	# The same at 50 sessions with other numbers of worker threads.
	local w
	for w in $SMTP_WORKERS; do
		start_roost "$data" --set lmtp.listen=127.0.0.1:"$lport" --set smtp.listen=127.0.0.1:"$sport" \
			--set server.workers="$w"
		smtp_timed roost "$lport" 50 "$N_SMTP" "$USER_MAIN@localhost" -L
		SR[rl50w$w]=$(smtp_result "$N_SMTP")
		smtp_timed roost "$sport" 50 "$N_SMTP" "$USER_MAIN@localhost"
		SR[rs50w$w]=$(smtp_result "$N_SMTP")
		r_sent=$((r_sent + 2 * N_SMTP))
		stop_roost
	done

	# Dovecot LMTP, mail_fsync = always.
	start_dovecot "$DPORT" lmtp
	local fs
	fs=$(doveconf -c "$DOVECOT_DIR/dovecot.conf" -h mail_fsync 2>/dev/null || true)
	[ "$fs" = always ] || die "dovecot runs with mail_fsync = '$fs', not always"
	smtp_timed dovecot "$DPORT" 1 10 "$USER_MAIN@localhost" -L
	d_sent=$((d_sent + 10))
	smtp_timed dovecot "$DPORT" 1 "$N_SMTP_1" "$USER_MAIN@localhost" -L
	SR[dl1]=$(smtp_result "$N_SMTP_1")
	smtp_timed dovecot "$DPORT" 50 "$N_SMTP" "$USER_MAIN@localhost" -L
	SR[dl50]=$(smtp_result "$N_SMTP")
	d_sent=$((d_sent + N_SMTP_1 + N_SMTP))
	stop_dovecot

	# The big INBOX: the IMAP benchmark's messages, linked into Dovecot's
	# maildir and delivered into Roost through the store API; Roost's search
	# indexer catches up before anything is measured.
	local t0 t1
	t0=$(date +%s.%N)
	"$ILOAD" gen "$TMP/smsgs" "$bigbox" "$N_SMTP_BIG" >/dev/null
	chown -R nobody:nogroup "$bigbox"
	roost_fill "$data" big "$TMP/smsgs" "$N_SMTP_BIG"
	t1=$(date +%s.%N)
	rm -rf "$TMP/smsgs"
	roost_index_wait "$data"
	# Both get 10 messages of warm-up (timed and shown), then LMTP at 50
	# sessions.
	start_roost "$data" --set lmtp.listen=127.0.0.1:"$lport"
	smtp_timed roost "$lport" 1 10 big@localhost -L
	SR[rbw]=$SMTP_SECS
	smtp_timed roost "$lport" 50 "$N_SMTP" big@localhost -L
	SR[rb50]=$(smtp_result "$N_SMTP")
	r_big_sent=$((N_SMTP_BIG + 10 + N_SMTP))
	stop_roost
	start_dovecot "$DPORT" lmtp
	# A mailbox of that size has been read: Dovecot has its index and uidlist
	# of the 100,000 files (Roost's store has its rows). Built here, timed.
	local s0 s1
	s0=$(date +%s.%N)
	timeout 600 doveadm -c "$DOVECOT_DIR/dovecot.conf" mailbox status -u big messages INBOX >"$TMP/doveadm.out" 2>&1 ||
		{ cat "$TMP/doveadm.out" >&2; die "doveadm could not index the big maildir"; }
	s1=$(date +%s.%N)
	[ "$(cat "$TMP/doveadm.out")" = "INBOX messages=$N_SMTP_BIG" ] || die "doveadm says '$(cat "$TMP/doveadm.out")', expected INBOX messages=$N_SMTP_BIG"
	SR[dbi]=$(echo "$s0 $s1" | awk '{print $2 - $1}')
	smtp_timed dovecot "$DPORT" 1 10 big@localhost -L
	SR[dbw]=$SMTP_SECS
	smtp_timed dovecot "$DPORT" 50 "$N_SMTP_BIG_DOVECOT" big@localhost -L
	SR[db50]=$(smtp_result "$N_SMTP_BIG_DOVECOT")
	d_big_sent=$((N_SMTP_BIG + 10 + N_SMTP_BIG_DOVECOT))
	stop_dovecot

	# Every message the servers acknowledged must be in the mailbox.
	local rc rbc dc dbc
	rc=$(roost_inbox_count "$data" "$USER_MAIN")
	rbc=$(roost_inbox_count "$data" big)
	dc=$(maildir_count "$box")
	dbc=$(maildir_count "$bigbox")

	# server.workers = 0: max(16, 4 x CPUs), as src/net/server.c picks it.
	local workers_default=$(($(nproc) * 4 > 16 ? $(nproc) * 4 : 16))
	awk -v n1="$N_SMTP_1" -v n50="$N_SMTP" -v nbd="$N_SMTP_BIG_DOVECOT" -v big="$N_SMTP_BIG" -v wd="$workers_default" \
		-v k1="${SR[k1]}" -v k50="${SR[k50]}" -v rl1="${SR[rl1]}" -v rl50="${SR[rl50]}" -v rs1="${SR[rs1]}" \
		-v rs50="${SR[rs50]}" -v dl1="${SR[dl1]}" -v dl50="${SR[dl50]}" -v rb50="${SR[rb50]}" -v db50="${SR[db50]}" \
		-v rbw="${SR[rbw]}" -v dbw="${SR[dbw]}" -v dbi="${SR[dbi]}" -v t="$(echo "${t0:-0} ${t1:-0}" | awk '{print $2 - $1}')" 'function f(x, i) {
		split(x, a, " "); return a[i]
	}
	function line(label, r, d) {
		printf "%-32s roost %6d/s  %6.2f ms cpu/msg   dovecot %6d/s  %6.2f ms cpu/msg   ratio %5.2fx\n",
			label, f(r, 1), f(r, 2), f(d, 1), f(d, 2), f(r, 1) / f(d, 1)
	}
	BEGIN {
		printf "setup: the big INBOX (%d messages) written, linked into the maildir and delivered into roost in %.1f s\n", big, t
		printf "load generator ceiling (smtp-source -> smtp-sink, LMTP, nothing stored): 1 session %d/s, 50 sessions %d/s\n\n",
			f(k1, 1), f(k50, 1)
		printf "deliveries per second (%d messages at 1 session, %d at 50, %d for dovecot into the big INBOX;\n", n1, n50, nbd
		printf "roost server.workers default = %d; ", wd
		printf "ratio = roost rate / dovecot LMTP rate; cpu = server CPU per message)\n"
		line("LMTP, 1 session", rl1, dl1)
		line("LMTP, 50 sessions", rl50, dl50)
		line("SMTP (port 25), 1 session", rs1, dl1)
		line("SMTP (port 25), 50 sessions", rs50, dl50)
		line(sprintf("LMTP, 50 sessions, %dk INBOX", big / 1000), rb50, db50)
		printf "dovecot indexed the %d-message maildir (doveadm mailbox status) in %.1f s before the runs\n", big, dbi
		printf "first 10 messages into the %d-message INBOX (1 session): roost %.2f s, dovecot %.2f s\n", big, rbw, dbw
		printf "big INBOX against empty INBOX at 50 sessions: roost %.0f%%, dovecot %.0f%% of its empty-INBOX rate\n",
			100 * f(rb50, 1) / f(rl50, 1), 100 * f(db50, 1) / f(dl50, 1)
		tgt = 5 * f(dl50, 1)
		printf "target: LMTP at 50 sessions >= 5x Dovecot (%d/s): %s (%.2fx)\n", tgt,
			(f(rl50, 1) >= tgt ? "met" : "MISSED"), f(rl50, 1) / f(dl50, 1)
		printf "target: the same rate into the %d-message INBOX (>= %d/s): %s (%d/s, %.2fx Dovecot on the same INBOX)\n",
			big, tgt, (f(rb50, 1) >= tgt ? "met" : "MISSED"), f(rb50, 1), f(rb50, 1) / f(db50, 1)
	}'
	local wline=""
	for w in $SMTP_WORKERS; do
		wline="$wline; workers=$w: LMTP $(echo "${SR[rl50w$w]}" | cut -d' ' -f1)/s, SMTP $(echo "${SR[rs50w$w]}" | cut -d' ' -f1)/s"
	done
	[ -z "$wline" ] || say "roost at 50 sessions with other server.workers values${wline}"
	say "delivered: roost $rc of $r_sent and $rbc of $r_big_sent (big), dovecot $dc of $d_sent and $dbc of $d_big_sent (big);" \
		"fsync: dovecot mail_fsync = $fs, roost fsyncs every delivery before its 250"
	[ "$rc" = "$r_sent" ] && [ "$rbc" = "$r_big_sent" ] || die "roost's mailboxes do not hold every message it acknowledged"
	[ "$dc" = "$d_sent" ] && [ "$dbc" = "$d_big_sent" ] || die "dovecot's mailboxes do not hold every message it acknowledged"
}

# --- run ---------------------------------------------------------------------------

if [ "$SKIP_POP3" != 1 ]; then
	bench_pop3
	say ""
fi
if [ "$SKIP_IMAP" != 1 ]; then
	bench_imap
	say ""
fi
if [ "$SKIP_MIXED" != 1 ]; then
	bench_mixed
	say ""
fi
if [ "$SKIP_SMTP" != 1 ]; then
	bench_smtp
fi
[ "$IMAP_FAILED" = 0 ] || die "an IMAP answer was not what was expected (see WRONG above)"
[ "$MIXED_FAILED" = 0 ] || die "imap-mixed counted failures in Roost's answers (see above)"
