#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and local trials of the PostgreSQL store.
#
#   scripts/pg-test-server.sh start [DIR]   creates DIR (default: a new temp dir), starts the
#                                           cluster on 127.0.0.1 on a free port, prints its URL
#   scripts/pg-test-server.sh stop DIR      stops it and removes DIR
#
# Only the URL goes to stdout (postgres://fleetca:<random password>@127.0.0.1:<port>/fleetca);
# progress and the stop command go to stderr. The password is random per cluster and the
# cluster listens on loopback only; fsync is off, since the data is thrown away.
# initdb refuses to run as root, so as root the cluster runs as the "postgres" user.
set -euo pipefail

die() { echo "pg-test-server: $*" >&2; exit 1; }

bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -n "$d" ] && [ -x "$d/initdb" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (install the postgresql package: scripts/install-system-deps.sh)"
  echo "$d"
}

# Runs a command as the cluster's owner: ourselves, or "postgres" when we are root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  # Asks the kernel for a free port; start() retries if someone takes it first.
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

start() {
  local dir="${1:-}" bin port password
  bin="$(bindir)"
  [ -n "$dir" ] || dir="$(mktemp -d "${TMPDIR:-/tmp}/fleetca-pg-XXXXXX")"
  mkdir -p "$dir"
  [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs a \"postgres\" user to own the cluster (initdb refuses root)"
    chown postgres: "$dir"
  fi
  password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  as_owner sh -c 'umask 077; cat > "$1/pwfile"' sh "$dir" <<<"$password"
  as_owner "$bin/initdb" -D "$dir/data" -U fleetca --pwfile="$dir/pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --no-sync --no-instructions -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  as_owner rm -f "$dir/pwfile"
  as_owner mkdir -p "$dir/socket"
  local tries=0
  while :; do
    port="$(free_port)"
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/socket -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null; then
      break
    fi
    tries=$((tries + 1))
    [ "$tries" -lt 5 ] || { tail -20 "$dir/server.log" >&2; die "the server did not start (log: $dir/server.log)"; }
  done
  as_owner "$bin/createdb" -h "$dir/socket" -p "$port" -U fleetca fleetca || die "createdb failed"
  echo "pg-test-server: running in $dir; stop with: $0 stop $dir" >&2
  echo "postgres://fleetca:$password@127.0.0.1:$port/fleetca"
}

stop() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: $0 stop DIR"
  [ -d "$dir" ] || return 0
  # Refuse to delete a directory this script did not make.
  [ -e "$dir/initdb.log" ] || [ -z "$(ls -A "$dir")" ] || die "$dir does not look like a pg-test-server directory; not removing it"
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *) die "usage: $0 start [DIR] | stop DIR" ;;
esac
