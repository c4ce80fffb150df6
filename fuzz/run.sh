#!/bin/sh
# Build every libFuzzer target in fuzz/ with clang and run each for a while.
# usage: fuzz/run.sh [SECONDS]   (default 60; `make test` runs a short smoke pass)
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
out=build/fuzz
mkdir -p "$out"
CFLAGS="-std=c17 -D_GNU_SOURCE -Isrc -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
LIBS="$(pkg-config --libs openssl sqlite3 libcrypt) -lpthread"
core="src/core/util.c src/core/buf.c src/core/log.c src/core/config.c"
build() { # name sources...
	name=$1; shift
	clang $CFLAGS -o "$out/$name" "fuzz/fuzz-$name.c" "$@" $LIBS
}
build pop3-cmd src/pop3/pop3-cmd.c $core
build pop3-stuff src/pop3/pop3-stuff.c $core
build config $core
build sasl src/auth/sasl.c $core
build imap-parse src/imap/imap-parse.c $core
build imap-search src/imap/imap-search-parse.c src/imap/imap-seqset.c src/imap/imap-parse.c src/mime/mime-*.c $core
build mime src/mime/mime-*.c $core
build smtp-cmd src/smtp/smtp-parse.c src/smtp/smtp-data.c $core
build smtp-data src/smtp/smtp-data.c $core
build smtp-reply src/smtp/smtp-client.c src/smtp/smtp-mx.c $core -lresolv
build dkim src/smtp/dkim.c $core
status=0
for t in pop3-cmd pop3-stuff config sasl imap-parse imap-search mime smtp-cmd smtp-data smtp-reply dkim; do
	corpus="$out/corpus-$t"
	mkdir -p "$corpus"
	dict=""
	[ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
	case $t in smtp-*) dict="-dict=fuzz/smtp.dict" ;; esac
	echo "fuzz: $t for ${secs}s"
	if ! "$out/$t" -max_total_time="$secs" -max_len=8192 -timeout=10 $dict "$corpus" "fuzz/seeds/$t" \
		>"$out/$t.log" 2>&1; then
		echo "fuzz: $t FAILED, see $out/$t.log"; tail -n 30 "$out/$t.log"; status=1
	else
		tail -n 1 "$out/$t.log"
	fi
done
exit $status
