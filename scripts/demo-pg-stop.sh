#!/usr/bin/env bash
# Stop what make demo-pg started: both front ends (zeoctl stop), then
# PostgreSQL (pg_ctl stop, by the pid in its postmaster.pid).
set -uo pipefail
cd "$(dirname "$0")/.."
DIR="$PWD/demo-pg"
[ -d "$DIR" ] || { echo "no demo-pg instance"; exit 0; }
for z in "$DIR/zeo1" "$DIR/zeo2"; do
  if [ -x "$z/bin/zeoctl" ]; then "$z/bin/zeoctl" stop; fi
done
if [ -f "$DIR/pg/data/postmaster.pid" ]; then
  pgbin=""
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    if [ -x "$d/pg_ctl" ]; then pgbin=$d; break; fi
  done
  [ -n "$pgbin" ] || pgbin=$(dirname "$(command -v pg_ctl)")
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$DIR/pg/data" -m fast -w stop
  else
    "$pgbin/pg_ctl" -D "$DIR/pg/data" -m fast -w stop
  fi
fi
