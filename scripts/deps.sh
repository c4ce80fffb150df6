#!/bin/sh
# Install the Debian packages a task needs, when they are missing.
# usage: scripts/deps.sh GROUP...   (groups: build test bench fuzz)
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu

pkgs_build="gcc make pkg-config libssl-dev libsqlite3-dev libcrypt-dev openssl"
pkgs_test="python3 python3-pytest curl fetchmail getmail6 mpop sqlite3 procps"
pkgs_bench="dovecot-pop3d dovecot-imapd dovecot-lmtpd postfix python3"
pkgs_fuzz="clang libclang-rt-14-dev"
# The IMAP real-client tests: two-way sync tools, a Lua filter, a terminal
# reader driven under tmux, imaplib2 for IDLE, and Node for imapflow (npm below).
pkgs_test="$pkgs_test isync offlineimap3 imapfilter mutt tmux python3-imaplib2 nodejs"
# The SMTP real-client tests: swaks and msmtp, postfix for smtp-sink (the
# stand-in remote MX; postfix itself is never started), dkimpy to verify
# DKIM signatures.
pkgs_test="$pkgs_test swaks libnet-ssleay-perl msmtp postfix python3-dkim"

# npm packages of the test group, pinned whole by the committed lock file, go
# into build/npm (project-local, never global); reinstalled when the lock changes.
npm_src="$(cd "$(dirname "$0")/.." && pwd)/tests/integration/clients"
npm_dir="$(cd "$(dirname "$0")/.." && pwd)/build/npm"
npm_want=0
for g in "$@"; do
	[ "$g" = test ] && npm_want=1
done
npm_install() {
	[ "$npm_want" = 1 ] || return 0
	cmp -s "$npm_src/package-lock.json" "$npm_dir/.installed-lock.json" && return 0
	echo "deps: npm ci into $npm_dir" >&2
	mkdir -p "$npm_dir"
	rm -f "$npm_dir/.installed-lock.json"
	cp "$npm_src/package.json" "$npm_src/package-lock.json" "$npm_dir/"
	(cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	cp "$npm_src/package-lock.json" "$npm_dir/.installed-lock.json"
}

want=""
for g in "$@"; do
	eval "want=\"\$want \$pkgs_$g\""
done

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# Debian's nodejs comes without npm (NodeSource's brings its own). With Node
# already there, ask for npm now; after a fresh nodejs install, see below.
case " $missing " in
*" nodejs "*) ;;
*) [ "$npm_want" = 1 ] && ! command -v npm >/dev/null 2>&1 && missing="$missing npm" ;;
esac
if [ -z "$missing" ]; then
	npm_install
	exit 0
fi

if [ "$(id -u)" = 0 ]; then
	echo "deps: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	# Packages that start services (dovecot) must not start them here.
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.roost
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		cp /usr/sbin/policy-rc.d.roost /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && added_policy=1
	fi
	rm -f /usr/sbin/policy-rc.d.roost
	apt-get update -qq >/dev/null || true
	# postfix is wanted for its test tools only: leave it unconfigured.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	[ "${added_policy:-0}" = 1 ] && rm -f /usr/sbin/policy-rc.d
	if [ "$npm_want" = 1 ] && ! command -v npm >/dev/null 2>&1; then
		apt-get install -y -qq --no-install-recommends npm >/dev/null
	fi
	npm_install
	exit 0
fi
echo "deps: missing packages:$missing" >&2
echo "deps: run: sudo apt-get install -y$missing" >&2
exit 1
