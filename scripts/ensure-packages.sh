#!/usr/bin/env bash
# ensure-packages.sh PKG...: install the Debian packages that are missing,
# with apt-get (as root, or through sudo). Used by .ci/run and the demo
# targets, so that a fresh machine gets what the tests and demos start
# (PostgreSQL, Patroni, etcd) the same way everywhere.
set -euo pipefail
missing=()
for p in "$@"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "installing ${missing[*]} (apt-get)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
