#!/bin/sh
# Install the Debian packages a task needs, when they are missing.
# usage: scripts/deps.sh GROUP...   (groups: build test bench fuzz)
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu

pkgs_build="gcc make pkg-config libssl-dev libsqlite3-dev libcrypt-dev openssl"
pkgs_test="python3 python3-pytest curl fetchmail getmail6 mpop sqlite3 procps"
pkgs_bench="dovecot-pop3d python3"
pkgs_fuzz="clang libclang-rt-14-dev"

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
[ -z "$missing" ] && exit 0

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
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	[ "${added_policy:-0}" = 1 ] && rm -f /usr/sbin/policy-rc.d
	exit 0
fi
echo "deps: missing packages:$missing" >&2
echo "deps: run: sudo apt-get install -y$missing" >&2
exit 1
