#!/usr/bin/env bash
# Sums up the checks the tests ran with programs and readers nobody here
# wrote (internal/testtool appends one line per check to the file
# MKPORTABLE_CHECK_LOG names: "checker<TAB>test"), so that `make test`
# shows they ran rather than skipped. Fails when none ran, unless
# MKPORTABLE_SKIP_TOOLS=1.
set -euo pipefail
log=${1:?usage: scripts/checks-summary.sh CHECK_LOG}
if [ ! -s "$log" ]; then
	echo "checks: no test ran an independent check (see $log)" >&2
	[ "${MKPORTABLE_SKIP_TOOLS:-}" = 1 ] && exit 0
	exit 1
fi
total=$(wc -l <"$log")
tests=$(cut -f2 "$log" | sort -u | wc -l)
echo "checks: $total runs of independent tools and readers in $tests tests:"
cut -f1 "$log" | sort | uniq -c | sort -rn | awk '{printf "  %6d  %s\n", $1, $2}'
