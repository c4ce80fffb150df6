#!/bin/sh
# Run every unit-test binary, then print the totals as the last line.
set -u
passed=0; failed=0; status=0
for t in "$@"; do
	echo "== $t"
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -v '^ok ' || true
	last=$(printf '%s\n' "$out" | tail -n 1)
	p=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
	f=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
	if [ -z "$p" ]; then
		echo "$t: crashed or printed no totals (exit $rc)"; failed=$((failed + 1)); status=1; continue
	fi
	passed=$((passed + p)); failed=$((failed + f))
	[ "$rc" = 0 ] || status=1
done
echo "unit: $passed passed, $failed failed"
exit $status
