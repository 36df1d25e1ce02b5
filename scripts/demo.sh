#!/usr/bin/env bash
# make demo: lay down a ZEO instance with mkzeoinst, start it under zdrun with the
# instance's bin/zeoctl (zdctl), and show it serving: zeoup stores and loads
# root['zeoup'], before and after a restart. It stays up
# until `make demo-stop`.
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

# A second `make demo` must never put two servers on one Data.fs: stop the
# instance a previous run left serving, then lay it down afresh.
if [ -x "$HOME_DIR/bin/zeoctl" ]; then
  "$HOME_DIR/bin/zeoctl" stop >/dev/null 2>&1 || true
fi
rm -rf demo

# If anything below fails, stop what was started so no process is left behind.
cleanup() { "$HOME_DIR/bin/zeoctl" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

say "$BIN/mkzeoinst" "$HOME_DIR" "127.0.0.1:$port"
say "$HOME_DIR/bin/zeoctl" start
say "$HOME_DIR/bin/zeoctl" status
say "$BIN/zeoup" -v -a "127.0.0.1:$port"
say "$BIN/fstest" -v "$HOME_DIR/var/Data.fs"
say "$HOME_DIR/bin/zeoctl" restart
say "$BIN/zeoup" -v -a "127.0.0.1:$port"
printf '\n\033[1m$ echo status | %s\033[0m\n' "$HOME_DIR/bin/zeoctl"
echo status | "$HOME_DIR/bin/zeoctl"
echo
say "$HOME_DIR/bin/zeoctl" status -l
trap - EXIT
cat <<MSG

The ZEO server is running under zdrun, listening on 127.0.0.1:$port.
  instance:   $HOME_DIR
  data:       $HOME_DIR/var/Data.fs
  server log: $HOME_DIR/log/zeo.log      (runzeo)
  zdrun log:  $HOME_DIR/log/zeoctl.log   (the manager)
  control:    $HOME_DIR/bin/zeoctl       (status, logtail, restart, ... or no argument for the shell)
Stop it with:  make demo-stop
MSG
