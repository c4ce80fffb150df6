#!/bin/bash
# The benchmark driver behind `make bench`: the store benchmark (when built),
# then Roost against Debian's Dovecot over POP3 with the same 10,000 messages:
# session timings (login, STAT, UIDL, LIST, RETR of everything) and memory per
# idle and per logged-in connection. Everything runs on 127.0.0.1 in a
# temporary directory that is removed, with every server it started, on any
# exit. Every wait is bounded. Exit status 0 unless something failed (a missed
# performance target is reported, not a failure).
#
# Knobs (environment): BENCH_MSGS (10000), BENCH_REPS (5), BENCH_WINDOW (32,
# pipelined RETR depth), BENCH_IDLE (1000 connections), BENCH_AUTH (200
# logged-in sessions), BENCH_SKIP_STORE=1 (skip the store benchmark).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROOST=$ROOT/build/roost
LOAD=$ROOT/build/bench/pop3-load
DOVECOT_SH=$ROOT/bench/dovecot.sh
SELF=$ROOT/bench/run.sh

N_MSGS=${BENCH_MSGS:-10000}
REPS=${BENCH_REPS:-5}
WINDOW=${BENCH_WINDOW:-32}
N_IDLE=${BENCH_IDLE:-1000}
N_AUTH=${BENCH_AUTH:-200}
PASSWORD=bench-Secret-42
USER_MAIN=bench
CLK_TCK=$(getconf CLK_TCK)

say() { printf '%s\n' "$*"; }
warn() { printf 'bench: %s\n' "$*" >&2; }
die() { warn "$*"; exit 1; }

# --- measuring processes -----------------------------------------------------

# Process ids of a server: Roost is one process; Dovecot is its master and the
# master's children.
server_pids() { # KIND
	case $1 in
	roost) cat "$TMP/roost.pid" ;;
	dovecot) "$DOVECOT_SH" pids "$TMP/dovecot" ;;
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

[ -x "$ROOST" ] || die "build/roost missing: run make bench"
[ -x "$LOAD" ] || die "build/bench/pop3-load missing: run make bench"
command -v dovecot >/dev/null || die "dovecot missing: scripts/deps.sh bench installs dovecot-pop3d"
[ "$(id -u)" = 0 ] || die "run as root: Dovecot needs root to start (and switches to its own users)"

TMP=$(mktemp -d /tmp/roost-bench.XXXXXX)
chmod 755 "$TMP" # Dovecot's unprivileged processes read below it
ROOST_PID=""

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
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need_fds=$((N_IDLE + N_AUTH + 200))
[ "$(ulimit -n)" -ge "$need_fds" ] || die "ulimit -n is $(ulimit -n); this benchmark needs $need_fds"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start Roost on its data directory with extra --set arguments; waits (bounded)
# for "roost: ready".
start_roost() { # PORT [--set K=V]...
	local port=$1
	shift
	: >"$TMP/roost.out"
	"$ROOST" serve --data "$TMP/roost" --set pop3.listen=127.0.0.1:"$port" --set pop3s.listen= \
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

start_dovecot() { # PORT
	"$DOVECOT_SH" start "$TMP/dovecot" "$1" "$TMP/dovecot.passwd" "$MAXCONN"
}

stop_dovecot() {
	"$DOVECOT_SH" stop "$TMP/dovecot"
}

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

# --- data: the same messages for both servers -------------------------------

say "== POP3: Roost vs Dovecot $(dovecot --version | cut -d' ' -f1) =="
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

RPORT=$(free_port)
DPORT=$(free_port)
while [ "$DPORT" = "$RPORT" ]; do DPORT=$(free_port); done

say "memory per connection (server memory while N connections are open minus before, fresh servers):"
start_roost "$RPORT"
r_idle=$(mem_test roost "$RPORT" "$N_IDLE")
stop_roost
start_dovecot "$DPORT"
d_idle=$(mem_test dovecot "$DPORT" "$N_IDLE")
stop_dovecot
mem_line "idle, greeted ($N_IDLE conns)" "$r_idle" "$d_idle" 10

start_roost "$RPORT"
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
start_roost "$RPORT"
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

