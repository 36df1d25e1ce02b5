#!/usr/bin/env bash
# make demo-pg: a local PostgreSQL and two runzeo front ends on it, each an
# instance laid down by mkzeoinst --postgresql and run under zdrun; zeoup
# commits through one and then through the other, which sees the first
# commit (root['zeoup'] counts up across both). Everything stays up until
# `make demo-stop`. Everything lives under ./demo-pg, loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/bin"
DIR="$PWD/demo-pg"

pgbin=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
  if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then pgbin=$d; break; fi
done
if [ -z "$pgbin" ] && command -v pg_ctl >/dev/null; then pgbin=$(dirname "$(command -v pg_ctl)"); fi
[ -n "$pgbin" ] || { echo "demo-pg: PostgreSQL server binaries not found (Debian: apt-get install postgresql)" >&2; exit 1; }

# initdb and postgres refuse to run as root: use the postgres user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() {
  for p in $(seq "$1" "$2"); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "demo-pg: no free port in $1-$2" >&2; exit 1
}

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

# A previous run: stop it first, then start afresh.
"$PWD/scripts/demo-pg-stop.sh" >/dev/null 2>&1 || true
rm -rf "$DIR"
mkdir -p "$DIR/pg"
if [ "$(id -u)" = 0 ]; then chown postgres "$DIR/pg"; fi

cleanup() { "$PWD/scripts/demo-pg-stop.sh" >/dev/null 2>&1 || true; }
trap cleanup EXIT

pgport=$(free_port 15432 15499)
say as_pg "$pgbin/initdb" -D "$DIR/pg/data" -U postgres --auth=trust --locale=C -E UTF8 >/dev/null
say as_pg "$pgbin/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/postgres.log" -w \
  -o "-p $pgport -k $DIR/pg -c listen_addresses=127.0.0.1" start
say "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U postgres zodb
dsn="host=127.0.0.1 port=$pgport user=postgres dbname=zodb"

port1=$(free_port 18200 18249)
port2=$(free_port 18250 18299)
say "$BIN/mkzeoinst" --postgresql "$dsn" "$DIR/zeo1" "127.0.0.1:$port1"
say "$BIN/mkzeoinst" --postgresql "$dsn" "$DIR/zeo2" "127.0.0.1:$port2"
say "$DIR/zeo1/bin/zeoctl" start
say "$DIR/zeo2/bin/zeoctl" start
say "$BIN/zeoup" -v -a "127.0.0.1:$port1"
say "$BIN/zeoup" -v -a "127.0.0.1:$port2"
say "$BIN/zeoup" -v -a "127.0.0.1:$port1"
say "$DIR/zeo1/bin/zeoctl" status
say "$DIR/zeo2/bin/zeoctl" status
trap - EXIT
cat <<MSG

PostgreSQL and two ZEO front ends on it are running:
  PostgreSQL: $dsn   (data $DIR/pg/data, log $DIR/pg/postgres.log)
  front end 1: 127.0.0.1:$port1   ($DIR/zeo1, log $DIR/zeo1/log/zeo.log)
  front end 2: 127.0.0.1:$port2   ($DIR/zeo2, log $DIR/zeo2/log/zeo.log)
root['zeoup'] counted up through both: each front end sees the other's commits.
Stop everything with:  make demo-stop
MSG
