#!/bin/sh
# Runs zdaemon 5.2.1's own process-level tests (run.py) against the Python
# originals and then against zdkit's zdctl and zdrun in the directory given
# as $1, and prints both counts.  Skips (exit 0) when the Python reference
# is not set up: ZDKIT_PYREF names the directory holding zdaemon (with its
# tests) and ZConfig, ZDKIT_PYTHON the interpreter (default python3), which
# also needs zope.testing, manuel and zc.customdoctests (docs/interop.md).
# ZDKIT_SUITE_SIDES="zdkit" runs only zdkit's side.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?usage: run.sh BINDIR}
bin=$(cd "$bin" && pwd)
py=${ZDKIT_PYTHON:-python3}
sides=${ZDKIT_SUITE_SIDES:-python zdkit}

skip() {
	echo "interop-suites-zdaemon: skipped: $*"
	exit 0
}
[ -n "${ZDKIT_PYREF:-}" ] || skip "ZDKIT_PYREF not set (see docs/interop.md)"
command -v "$py" >/dev/null 2>&1 || skip "no Python interpreter '$py' (set ZDKIT_PYTHON)"
PYTHONPATH=$ZDKIT_PYREF "$py" -c \
	'import zdaemon.tests.tests, ZConfig, manuel, zc.customdoctests, zope.testing' \
	>/dev/null 2>&1 ||
	skip "$py cannot import zdaemon's tests and their tools from $ZDKIT_PYREF (see docs/interop.md)"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
summary=""
for side in $sides; do
	case $side in
	python) env -u ZDKIT_ZDCTL -u ZDKIT_ZDRUN PYTHONPATH="$ZDKIT_PYREF" \
		"$py" "$here/run.py" >"$log" 2>&1 ;;
	zdkit) ZDKIT_ZDCTL="$bin/zdctl" ZDKIT_ZDRUN="$bin/zdrun" PYTHONPATH="$ZDKIT_PYREF" \
		"$py" "$here/run.py" >"$log" 2>&1 ;;
	*) echo "run.sh: unknown side '$side'" >&2; exit 2 ;;
	esac
	rc=$?
	cat "$log"
	line=$(grep '^zdaemon 5.2.1 process-level tests' "$log" ||
		echo "zdaemon 5.2.1 process-level tests, $side: did not finish (exit $rc)")
	[ $rc -eq 0 ] || status=1
	summary="$summary$line
"
done
printf '\n%s' "$summary"
exit $status
