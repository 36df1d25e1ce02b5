#!/usr/bin/env bash
# make demo: lay down a ZEO instance with mkzeoinst, start it under zdrun with the
# instance's bin/zeoctl (zdctl), show it serving with zeoup, then stop it again.
# Everything lives under ./demo and only loopback addresses are used.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/bin"
HOME_DIR="$PWD/demo/zeo"

# A free loopback port: try a few, skipping any that something already answers on.
port=""
for p in $(seq 18100 18199); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "demo: no free port in 18100-18199" >&2; exit 1; }

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

# Stop the instance whatever happens, so the demo never leaves a process behind.
cleanup() { "$HOME_DIR/bin/zeoctl" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

rm -rf demo
say "$BIN/mkzeoinst" "$HOME_DIR" "127.0.0.1:$port"
say "$HOME_DIR/bin/zeoctl" start
say "$HOME_DIR/bin/zeoctl" status
say "$BIN/zeoup" -a "127.0.0.1:$port"
say "$HOME_DIR/bin/zeoctl" status -l
say "$BIN/fstest" "$HOME_DIR/var/Data.fs"
say "$HOME_DIR/bin/zeoctl" kill HUP
sleep 1
say "$HOME_DIR/bin/zeoctl" status
say "$BIN/zeoup" -a "127.0.0.1:$port"
printf '\n\033[1m$ echo status | %s\033[0m\n' "$HOME_DIR/bin/zeoctl"
echo status | "$HOME_DIR/bin/zeoctl"
echo
say tail -n 5 "$HOME_DIR/log/zeo.log"
say "$HOME_DIR/bin/zeoctl" stop
say "$HOME_DIR/bin/zeoctl" status || true
trap - EXIT
echo
echo "demo: the instance is in demo/zeo; start it again with demo/zeo/bin/zeoctl start"
