#!/bin/sh
# Runs ZEO's own test suite (src/ZEO/tests of a ZEO source tree, unchanged)
# with zope.testrunner, against Python's runzeo and/or zdkit's, and prints
# the counts. Opt-in: without the Python reference it says why and exits 0.
#
#   ZDKIT_PYREF     PYTHONPATH with ZODB, ZEO's dependencies, zope.testrunner
#                   (docs/interop.md, "Setting up the Python reference")
#   ZDKIT_ZEO_SRC   a ZEO 6.0.0 source tree (the directory holding src/ZEO)
#   ZDKIT_PYTHON    interpreter (default python3)
#   ZDKIT_SUITE_SERVER  zdkit (default), python, or both
#   ZDKIT_SUITE_ARGS    extra zope.testrunner arguments (e.g. "-t checkPack")
#   ZDKIT_SUITE_OUT     directory for the transcripts (default: a temp dir)
#
# Exit status 1 when a test fails against zdkit's runzeo that is not in
# zeo-expected-failures.txt (the tests that cannot or deliberately do not
# pass, each with its reason in docs/migrating.md).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
py=${ZDKIT_PYTHON:-python3}
which=${ZDKIT_SUITE_SERVER:-zdkit}

skip() { echo "interop-suites: skipped: $*"; exit 0; }
[ -n "${ZDKIT_PYREF:-}" ] || skip "ZDKIT_PYREF is not set"
[ -n "${ZDKIT_ZEO_SRC:-}" ] || skip "ZDKIT_ZEO_SRC is not set"
[ -d "$ZDKIT_ZEO_SRC/src/ZEO/tests" ] || skip "no src/ZEO/tests under ZDKIT_ZEO_SRC=$ZDKIT_ZEO_SRC"
command -v "$py" >/dev/null 2>&1 || skip "no $py"
pypath="$ZDKIT_ZEO_SRC/src:$ZDKIT_PYREF"
PYTHONPATH=$pypath "$py" -c 'import ZEO.tests.testZEO, zope.testrunner, manuel, zope.testing, random2' 2>/dev/null ||
	skip "$py cannot import ZEO's tests and their runner (zope.testrunner, manuel, zope.testing, random2)"

out=${ZDKIT_SUITE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/zdkit-zeo-suite.XXXXXX")}
mkdir -p "$out/bin"
# nagios.rst loads the zeo-nagios console script through pkg_resources, so
# the source tree needs the entry points an installed ZEO 6.0.0 has
# (setup.py's console_scripts).
dist="$out/dist/ZEO-6.0.0.dist-info"
mkdir -p "$dist"
printf 'Metadata-Version: 2.1\nName: ZEO\nVersion: 6.0.0\n' >"$dist/METADATA"
cat >"$dist/entry_points.txt" <<'END'
[console_scripts]
runzeo = ZEO.runzeo:main
zeo-nagios = ZEO.nagios:main
zeoctl = ZEO.zeoctl:main
zeopack = ZEO.scripts.zeopack:main
END
pypath="$out/dist:$pypath"
echo "interop-suites: building runzeo into $out/bin"
(cd "$repo" && CGO_ENABLED=0 go build -o "$out/bin/" ./cmd/runzeo) || exit 1

# run NAME RUNZEO: one whole suite run in its own working directory.
run() {
	name=$1
	mkdir -p "$out/$name/work" "$out/$name/servers"
	echo "interop-suites: ZEO suite against $name's runzeo (transcript $out/$name/transcript.txt)"
	(cd "$out/$name/work" &&
		ZDKIT_RUNZEO=$2 ZDKIT_SUITE_LOG="$out/$name/servers" PYTHONPATH=$pypath \
			"$py" "$here/zeo_suite.py" --test-path "$ZDKIT_ZEO_SRC/src" -vv \
			${ZDKIT_SUITE_ARGS:-} >"$out/$name/transcript.txt" 2>&1)
	# zope.testrunner ends with "Tests with errors:", "Tests with
	# failures:" (one test a line) and "Total: ..." (or "Ran ..." for a
	# single layer).
	sed 's/\x1b\[[0-9;]*m//g' "$out/$name/transcript.txt" >"$out/$name/plain.txt"
	awk '/^Tests with (errors|failures):$/ {on=1; next}
	     /^Total:|^Ran |^Tests with|^$/ {on=0}
	     on && /^   / {sub(/^ +/, ""); print}' "$out/$name/plain.txt" | sort >"$out/$name/failed.txt"
	total=$(grep -E '^ *(Total|Ran)' "$out/$name/plain.txt" | tail -n 1 |
		sed -E 's/^ *(Total: |Ran )//')
	echo "interop-suites: $name: ${total:-no summary (see the transcript)}"
	echo "interop-suites: $name: $(wc -l <"$out/$name/failed.txt") failing tests:"
	sed 's/^/    /' "$out/$name/failed.txt"
}

status=0
case $which in
python | both) run python python ;;
esac
case $which in
zdkit | both)
	run zdkit "$out/bin/runzeo"
	grep -v '^#' "$here/zeo-expected-failures.txt" | sed '/^ *$/d' | sort -u >"$out/expected.txt"
	# A test matches an entry by its method name ("checkX (module.Class.checkX)")
	# or, for a doctest file, by the file's name.
	unexpected=$(while read -r t; do
		key=${t%% *}
		key=${key##*/}
		grep -qxF "$key" "$out/expected.txt" || echo "$t"
	done <"$out/zdkit/failed.txt")
	if [ -n "$unexpected" ]; then
		echo "interop-suites: FAIL: tests failing against zdkit's runzeo that are not expected to:"
		echo "$unexpected" | sed 's/^/    /'
		status=1
	fi
	;;
esac
exit $status
