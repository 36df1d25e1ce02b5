#!/usr/bin/env bash
# make demo-ha: high availability on PostgreSQL. etcd and two Patroni nodes
# (PostgreSQL streaming replication, synchronous_mode) on loopback ports, two
# runzeo front ends under zdrun (instances laid down by mkzeoinst, their
# storage a <relstorage> section with a multi-host DSN and
# target_session_attrs=read-write). It commits through both, kills the
# primary's machine (SIGKILL of its Patroni and PostgreSQL), shows Patroni
# promote the standby and a commit through the same front ends after it,
# restarts the killed node as the new standby, and leaves everything running.
# `./scripts/demo-ha.sh stop` (run by `make demo-stop`) stops it all.
# Needs Debian's postgresql, patroni and etcd-server (the Makefile's
# demo-ha-packages step installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/bin"
D="$PWD/demo/ha"

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
note() { printf '\n\033[1m# %s\033[0m\n' "$*"; }

# stop: front ends first, then every process whose pid file is in $D.
stop() {
  for fe in fe1 fe2; do
    if [ -x "$D/$fe/bin/zeoctl" ]; then "$D/$fe/bin/zeoctl" stop >/dev/null 2>&1 || true; fi
  done
  for n in pg1 pg2; do kill_node "$n"; done
  if [ -f "$D/etcd.pid" ]; then
    pid=$(cat "$D/etcd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$D/etcd.pid"
  fi
}

# kill_node N: the loss of node N's machine: SIGKILL to its Patroni and to
# its PostgreSQL (the postmaster leads a session of its own).
kill_node() {
  local n=$1 pid pm
  if [ -f "$D/$n.pid" ]; then
    pid=$(cat "$D/$n.pid")
    kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
    rm -f "$D/$n.pid"
  fi
  if [ -f "$D/$n/data/postmaster.pid" ]; then
    pm=$(head -1 "$D/$n/data/postmaster.pid")
    if [ -n "$pm" ] && grep -q postgres "/proc/$pm/cmdline" 2>/dev/null; then
      kill -9 -- "-$pm" 2>/dev/null || kill -9 "$pm" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pm" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
}

if [ "${1:-}" = stop ]; then
  if [ -d "$D" ]; then stop; echo "demo-ha stopped"; else echo "no demo-ha"; fi
  exit 0
fi

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
for need in patroni etcd; do
  command -v "$need" >/dev/null || { echo "demo-ha: $need not found: run 'make demo-ha-packages' (Debian packages patroni, etcd-server, postgresql)" >&2; exit 1; }
done
[ -n "$PGBIN" ] || { echo "demo-ha: PostgreSQL server binaries not found (Debian package postgresql)" >&2; exit 1; }

# Free loopback ports: etcd client and peer, per node PostgreSQL and REST
# API, and the two front ends.
ports=()
for p in $(seq 18300 18399); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then ports+=("$p"); fi
  [ ${#ports[@]} -ge 8 ] && break
done
[ ${#ports[@]} -ge 8 ] || { echo "demo-ha: not enough free ports in 18300-18399" >&2; exit 1; }
ETCD=${ports[0]} PEER=${ports[1]} PG1=${ports[2]} API1=${ports[3]} PG2=${ports[4]} API2=${ports[5]} FE1=${ports[6]} FE2=${ports[7]}

# A second run replaces the first.
if [ -d "$D" ]; then stop; fi
rm -rf "$D"
mkdir -p "$D"
chmod 755 "$PWD/demo" "$D"
trap stop EXIT

# PostgreSQL refuses to run as root: Patroni (which runs initdb and
# postgres) then runs as the postgres user.
run_as=()
if [ "$(id -u)" = 0 ]; then run_as=(runuser -u postgres --); fi

note "etcd on 127.0.0.1:$ETCD (Patroni's leader election)"
setsid etcd --name etcd1 --data-dir "$D/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD" --advertise-client-urls "http://127.0.0.1:$ETCD" \
  --listen-peer-urls "http://127.0.0.1:$PEER" --initial-advertise-peer-urls "http://127.0.0.1:$PEER" \
  --initial-cluster "etcd1=http://127.0.0.1:$PEER" --enable-v2=true --log-level warn \
  >"$D/etcd.log" 2>&1 &
echo $! >"$D/etcd.pid"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ETCD/health" >/dev/null && break; sleep 0.1; done

# node N PGPORT APIPORT: write node N's Patroni configuration.
node_conf() {
  local n=$1 pg=$2 api=$3
  mkdir -p "$D/$n/sock"
  cat >"$D/$n/patroni.yml" <<YML
scope: zdkit-demo
namespace: /service/
name: $n
log: {level: INFO, dir: $D/$n}
restapi: {listen: "127.0.0.1:$api", connect_address: "127.0.0.1:$api"}
etcd3: {hosts: "127.0.0.1:$ETCD"}
bootstrap:
  dcs:
    # A dead primary is replaced about ttl seconds after it died.
    # retry_timeout must stay >= 2 for Patroni 3.0 to take the lock.
    ttl: 5
    loop_wait: 1
    retry_timeout: 2
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters: {wal_level: replica, hot_standby: "on", wal_log_hints: "on", max_wal_senders: 10, max_replication_slots: 10, shared_buffers: 32MB}
  initdb: [{encoding: UTF8}, {locale: C}]
postgresql:
  listen: "127.0.0.1:$pg"
  connect_address: "127.0.0.1:$pg"
  data_dir: $D/$n/data
  bin_dir: $PGBIN
  pgpass: $D/$n/pgpass
  authentication:
    superuser: {username: postgres, password: postgres}
    replication: {username: replicator, password: replicator}
    rewind: {username: postgres, password: postgres}
  parameters: {unix_socket_directories: "$D/$n/sock"}
  pg_hba: ["local all all trust", "host replication replicator 127.0.0.1/32 trust", "host all all 127.0.0.1/32 trust"]
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
YML
  if [ "$(id -u)" = 0 ]; then chown -R postgres: "$D/$n"; fi
  chmod 700 "$D/$n"
}

start_node() {
  local n=$1
  # setsid: Patroni (and runuser) lead a process group of their own, which
  # kill_node kills whole.
  (cd "$D/$n"
   HOME="$D/$n" setsid "${run_as[@]}" patroni "$D/$n/patroni.yml" >>"$D/$n/patroni.out" 2>&1 &
   echo $! >"$D/$n.pid")
}

# wait_primary: the node name whose REST API answers 200 on /primary.
wait_primary() {
  local not=${1:-}
  for _ in $(seq 600); do
    for n in pg1:$API1 pg2:$API2; do
      [ "${n%%:*}" = "$not" ] && continue
      if curl -sf -o /dev/null "http://127.0.0.1:${n#*:}/primary"; then echo "${n%%:*}"; return 0; fi
    done
    sleep 0.1
  done
  echo "demo-ha: no primary; see $D/pg*/patroni.log" >&2
  return 1
}

# wait_sync: a standby is streaming and Patroni names it synchronous.
wait_sync() {
  for _ in $(seq 1200); do
    for a in $API1 $API2; do
      if curl -sf -o /dev/null "http://127.0.0.1:$a/sync"; then return 0; fi
    done
    sleep 0.1
  done
  echo "demo-ha: no synchronous standby; see $D/pg*/patroni.log" >&2
  return 1
}

list() { printf '\n\033[1m$ patronictl list\033[0m\n'; patronictl -c "$D/pg1/patroni.yml" list 2>/dev/null || true; }

node_conf pg1 "$PG1" "$API1"
node_conf pg2 "$PG2" "$API2"
note "Patroni node pg1 (PostgreSQL on 127.0.0.1:$PG1) bootstraps the cluster"
start_node pg1
wait_primary >/dev/null
note "Patroni node pg2 (PostgreSQL on 127.0.0.1:$PG2) clones it and streams from it"
start_node pg2
wait_sync
list
P=$(wait_primary)
PORT_OF() { if [ "$1" = pg1 ]; then echo "$PG1"; else echo "$PG2"; fi; }
say psql -q -h 127.0.0.1 -p "$(PORT_OF "$P")" -U postgres -c "CREATE DATABASE zodb"

DSN="postgres://postgres@127.0.0.1:$PG1,127.0.0.1:$PG2/zodb?sslmode=disable&target_session_attrs=read-write&connect_timeout=2"
for fe in fe1:$FE1 fe2:$FE2; do
  name=${fe%%:*} port=${fe#*:}
  say "$BIN/mkzeoinst" "$D/$name" "127.0.0.1:$port"
  # The instance's storage becomes the shared PostgreSQL database.
  conf="$D/$name/etc/zeo.conf"
  awk -v dsn="$DSN" '
    /^<filestorage 1>/ { skip = 1
      print "%import relstorage"
      print "<relstorage 1>"
      print "  poll-interval 0.1"
      print "  <postgresql>"
      print "    dsn " dsn
      print "  </postgresql>"
      print "</relstorage>"
      next }
    skip && /^<\/filestorage>/ { skip = 0; next }
    !skip { print }' "$conf" >"$conf.new"
  # ZConfig wants %import before the sections that use it.
  { echo "%import relstorage"; grep -v '^%import relstorage' "$conf.new"; } >"$conf"
  rm -f "$conf.new"
  say "$D/$name/bin/zeoctl" start
done
printf '\n\033[1m$ grep -A5 "<relstorage" %s\033[0m\n' "$D/fe1/etc/zeo.conf"
grep -A5 "<relstorage" "$D/fe1/etc/zeo.conf"
say "$BIN/zeoup" -v -a "127.0.0.1:$FE1"
say "$BIN/zeoup" -v -a "127.0.0.1:$FE2"

note "the primary $P loses its machine: SIGKILL to its Patroni and its PostgreSQL"
killed_at=$(date +%s.%N)
kill_node "$P"
NEW=$(wait_primary "$P")
promoted_at=$(date +%s.%N)
note "Patroni promoted $NEW $(awk -v a="$killed_at" -v b="$promoted_at" 'BEGIN{printf "%.1f", b-a}') s after the kill"
list
note "the same front ends commit on the new primary (zeoup retries for up to 30 s)"
say "$BIN/zeoup" -v -a "127.0.0.1:$FE1"
say "$BIN/zeoup" -v -a "127.0.0.1:$FE2"
say "$D/fe1/bin/zeoctl" status

note "$P comes back as the standby of $NEW"
start_node "$P"
wait_sync
list
trap - EXIT
cat <<MSG

High availability demo running (everything under $D):
  etcd:        127.0.0.1:$ETCD
  PostgreSQL:  pg1 127.0.0.1:$PG1 (Patroni API :$API1), pg2 127.0.0.1:$PG2 (Patroni API :$API2); primary now: $NEW
  front ends:  runzeo 127.0.0.1:$FE1 ($D/fe1), 127.0.0.1:$FE2 ($D/fe2), under zdrun
  DSN:         $DSN
Try: patronictl -c $D/pg1/patroni.yml list
     $BIN/zeoup -v -a 127.0.0.1:$FE1
Stop it with:  make demo-stop
MSG
