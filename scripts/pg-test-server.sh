#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and local trials of the PostgreSQL store.
#
#   scripts/pg-test-server.sh start [DIR]   creates DIR (default: a new temp dir), starts the
#                                           cluster on 127.0.0.1 on a free port, prints its URL
#   scripts/pg-test-server.sh stop DIR      stops it and removes DIR
#   scripts/pg-test-server.sh standby PRIMARY_DIR DIR
#                                           a streaming-replication standby of the cluster in
#                                           PRIMARY_DIR, on its own port, made synchronous (the
#                                           primary's commits wait for it); prints its URL
#   scripts/pg-test-server.sh halt DIR      stops the server hard (immediate: as a crash), keeps DIR
#   scripts/pg-test-server.sh resume DIR    starts a halted server again, on the same port
#   scripts/pg-test-server.sh promote DIR   promotes a standby to primary (pg_ctl promote)
#   scripts/pg-test-server.sh freeze DIR    suspends the server's processes (SIGSTOP): connections
#                                           stay open but nothing answers, as a host lost or cut off
#   scripts/pg-test-server.sh thaw DIR      lets a frozen server run on (SIGCONT)
#
# Only the URL goes to stdout (postgres://fleetca:<random password>@127.0.0.1:<port>/fleetca);
# progress and the stop command go to stderr. The password is random per cluster and the
# cluster listens on loopback only; fsync is off, since the data is thrown away (which a
# halt, killing the server but not the machine, does not make lose acknowledged commits).
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
  # Kept (owner-only) for a standby, which replicates with the same role.
  as_owner mv "$dir/pwfile" "$dir/password"
  as_owner mkdir -p "$dir/socket"
  # synchronous_commit stays at PostgreSQL's default (on): with it off, COMMIT is answered
  # before the commit reaches the WAL, and `halt` (a crash) would undo acknowledged commits,
  # which no test of what survives a crash can tell from a fleetca bug. fsync=off is harmless
  # to that: a halt kills the server's processes, not the machine, so written WAL stays.
  # PG_TEST_SERVER_OPTS: more server options (the benchmark loads pg_stat_statements; a test
  # sets synchronous_commit=off to check fleetca's sessions turn it back on).
  launch "$bin" "$dir" "${PG_TEST_SERVER_OPTS:-}"
  port="$(cat "$dir/port")"
  as_owner "$bin/createdb" -h "$dir/socket" -p "$port" -U fleetca fleetca || die "createdb failed"
  echo "pg-test-server: running in $dir; stop with: $0 stop $dir" >&2
  echo "postgres://fleetca:$password@127.0.0.1:$port/fleetca"
}

# Starts the cluster in $2/data on a free port with the options in $3, remembering both for resume.
launch() {
  local bin="$1" dir="$2" extra="$3" tries=0 port
  while :; do
    port="$(free_port)"
    local opts="-c listen_addresses=127.0.0.1 -p $port -k $dir/socket -c fsync=off -c full_page_writes=off $extra"
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "$opts" start >/dev/null; then
      as_owner sh -c 'printf "%s\n" "$2" > "$1/port"; printf "%s\n" "$3" > "$1/opts"' sh "$dir" "$port" "$opts"
      break
    fi
    tries=$((tries + 1))
    [ "$tries" -lt 5 ] || { tail -20 "$dir/server.log" >&2; die "the server did not start (log: $dir/server.log)"; }
  done
}

standby() {
  local primary="${1:-}" dir="${2:-}" bin password pport port
  [ -n "$primary" ] && [ -f "$primary/port" ] || die "usage: $0 standby PRIMARY_DIR DIR (PRIMARY_DIR made by start)"
  bin="$(bindir)"
  [ -n "$dir" ] || dir="$(mktemp -d "${TMPDIR:-/tmp}/fleetca-pg-XXXXXX")"
  mkdir -p "$dir"
  [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
  [ "$(id -u)" != 0 ] || chown postgres: "$dir"
  password="$(as_owner cat "$primary/password")"
  pport="$(cat "$primary/port")"
  as_owner sh -c 'umask 077; cat > "$1/password"' sh "$dir" <<<"$password"
  as_owner mkdir -p "$dir/socket"
  : >"$dir/initdb.log"
  as_owner env PGPASSWORD="$password" "$bin/pg_basebackup" -h 127.0.0.1 -p "$pport" -U fleetca -D "$dir/data" \
    -X stream --no-sync --checkpoint=fast >"$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log" >&2; die "pg_basebackup failed"; }
  as_owner touch "$dir/data/standby.signal"
  as_owner sh -c 'cat >> "$1/data/postgresql.auto.conf"' sh "$dir" <<EOF2
primary_conninfo = 'host=127.0.0.1 port=$pport user=fleetca password=$password application_name=fleetca_standby'
EOF2
  # Synchronous: a commit the primary acknowledges is on the standby too, so a promotion loses none.
  launch "$bin" "$dir" "-c synchronous_commit=on"
  port="$(cat "$dir/port")"
  as_owner "$bin/psql" -h "$primary/socket" -p "$pport" -U fleetca -d fleetca -qAt \
    -c "ALTER SYSTEM SET synchronous_standby_names = 'fleetca_standby'" -c "ALTER SYSTEM SET synchronous_commit = 'on'" \
    -c "SELECT pg_reload_conf()" >/dev/null || die "could not make the standby synchronous"
  local i
  for i in $(seq 1 100); do
    [ "$(as_owner "$bin/psql" -h "$primary/socket" -p "$pport" -U fleetca -d fleetca -qAt \
      -c "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'fleetca_standby' AND sync_state = 'sync'")" = 1 ] && break
    sleep 0.1
  done
  [ "$i" -lt 100 ] || die "the standby did not become synchronous (log: $dir/server.log)"
  echo "pg-test-server: standby running in $dir; stop with: $0 stop $dir" >&2
  echo "postgres://fleetca:$password@127.0.0.1:$port/fleetca"
}

halt() {
  local dir="${1:-}"
  [ -f "$dir/port" ] || die "usage: $0 halt DIR"
  as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
}

resume() {
  local dir="${1:-}"
  [ -f "$dir/opts" ] || die "usage: $0 resume DIR"
  as_owner "$(bindir)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "$(cat "$dir/opts")" start >/dev/null || die "could not start $dir again (log: $dir/server.log)"
}

promote() {
  local dir="${1:-}"
  [ -f "$dir/data/standby.signal" ] || die "$dir is not a standby"
  as_owner "$(bindir)/pg_ctl" -D "$dir/data" -w -t 30 promote >/dev/null
}

# The postmaster first, so that it forks no new backend while its children are listed.
freeze() {
  local dir="${1:-}" pid
  [ -f "$dir/data/postmaster.pid" ] || die "usage: $0 freeze DIR (a running server)"
  pid="$(head -1 "$dir/data/postmaster.pid")"
  : >"$dir/frozen"
  kill -STOP "$pid"
  # shellcheck disable=SC2046
  kill -STOP $(ps -o pid= --ppid "$pid")
}

thaw() {
  local dir="${1:-}" pid
  [ -f "$dir/data/postmaster.pid" ] || die "usage: $0 thaw DIR (a frozen server)"
  pid="$(head -1 "$dir/data/postmaster.pid")"
  # shellcheck disable=SC2046
  kill -CONT $(ps -o pid= --ppid "$pid") "$pid"
  rm -f "$dir/frozen"
}

stop() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: $0 stop DIR"
  [ -d "$dir" ] || return 0
  # Refuse to delete a directory this script did not make.
  [ -e "$dir/initdb.log" ] || [ -z "$(ls -A "$dir")" ] || die "$dir does not look like a pg-test-server directory; not removing it"
  if [ -f "$dir/data/postmaster.pid" ]; then
    # A frozen server would not stop.
    [ ! -e "$dir/frozen" ] || thaw "$dir"
    as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  standby) standby "${2:-}" "${3:-}" ;;
  halt) halt "${2:-}" ;;
  resume) resume "${2:-}" ;;
  promote) promote "${2:-}" ;;
  freeze) freeze "${2:-}" ;;
  thaw) thaw "${2:-}" ;;
  *) die "usage: $0 start [DIR] | stop DIR | standby PRIMARY_DIR DIR | halt DIR | resume DIR | promote DIR | freeze DIR | thaw DIR" ;;
esac
