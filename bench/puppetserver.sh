#!/usr/bin/env bash
# Puppet Server (Debian's `puppetserver` package) as the baseline CA for the benchmarks.
# Used by `npm run bench -- --puppetserver`; nothing here runs unless asked.
#
#   bench/puppetserver.sh install          apt-get install puppetserver (needs root; ~1 min)
#   bench/puppetserver.sh start [autosign] fresh CA unless KEEP_CA=1; autosign: true (default) or false
#   bench/puppetserver.sh stop             stops the server started here (by its PID file)
#   bench/puppetserver.sh pid              the JVM's PID (for /proc/PID/status)
#   bench/puppetserver.sh ca ARGS...       `puppetserver ca ARGS` (sign --all, list --all, revoke ...)
#
# It listens on 127.0.0.1:${PS_PORT:-8140} only. Start-up mirrors Debian's systemd unit (user
# puppet, umask 027, the same java command line) but runs without systemd, which this
# machine may not have; "started" is when the restart file reads 1, as the unit waits for.
set -euo pipefail

PORT="${PS_PORT:-8140}"
CONF=/etc/puppet/puppetserver/conf.d
CADIR=/etc/puppet/puppetserver/ca
SSLDIR=/var/lib/puppet/ssl
RUN=/run/puppetserver
PIDFILE="$RUN/bench.pid"
RESTART="$RUN/restart"
LOG="${PS_LOG:-/tmp/puppetserver-bench.log}"

need_install() {
  command -v puppetserver >/dev/null 2>&1 || { echo "puppetserver is not installed: run bench/puppetserver.sh install" >&2; exit 3; }
}

install() {
  if command -v puppetserver >/dev/null 2>&1; then echo "puppetserver already installed"; return; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq puppetserver >/dev/null
  echo "installed: $(dpkg-query -W -f '${Version}' puppetserver)"
}

configure() {
  local autosign="$1"
  # Loopback only, and the heap the reference measurements used.
  sed -i -E "s/^(\s*)ssl-host:.*/\1ssl-host: 127.0.0.1/; s/^(\s*)ssl-port:.*/\1ssl-port: ${PORT}/" "$CONF/webserver.conf"
  if [ -f /etc/default/puppetserver ]; then
    sed -i -E 's/^JAVA_ARGS=.*/JAVA_ARGS="-Xms512m -Xmx2g -Djruby.logger.class=com.puppetlabs.jruby_utils.jruby.Slf4jLogger"/' /etc/default/puppetserver
  fi
  # Debian's puppet.conf is empty; the ssldir Puppet Server's user can create is set explicitly.
  cat >/etc/puppet/puppet.conf <<EOF
[main]
server = localhost
ssldir = ${SSLDIR}
[server]
certname = localhost
autosign = ${autosign}
EOF
}

start() {
  need_install
  local autosign="${1:-true}"
  stop_server quiet
  configure "$autosign"
  if [ "${KEEP_CA:-0}" != "1" ]; then rm -rf "$CADIR" "$SSLDIR"; fi
  mkdir -p "$RUN" "$SSLDIR" && chown puppet:puppet "$RUN" "$SSLDIR"
  rm -f "$RESTART"
  # shellcheck disable=SC1091
  . /etc/default/puppetserver
  local t0; t0=$(date +%s.%N)
  setpriv --reuid=puppet --regid=puppet --init-groups bash -c "umask 027; exec java ${JAVA_ARGS} \
    -Dlogappender=F1 -XX:+CrashOnOutOfMemoryError -XX:ErrorFile=/var/log/puppetserver/puppetserver_err_pid%p.log \
    -jar /usr/share/puppetserver/puppetserver.jar \
    --config /etc/puppet/puppetserver/conf.d --bootstrap-config /etc/puppet/puppetserver/services.d/ \
    --restart-file ${RESTART}" >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 900); do
    if [ "$(cat "$RESTART" 2>/dev/null)" = "1" ]; then
      echo "started in $(echo "$(date +%s.%N) - $t0" | bc) s, pid $(cat "$PIDFILE")"
      return
    fi
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { echo "puppetserver exited; see $LOG" >&2; exit 1; }
    sleep 0.2
  done
  echo "puppetserver did not start within 180 s; see $LOG" >&2
  exit 1
}

stop_server() {
  [ -f "$PIDFILE" ] || { [ "${1:-}" = quiet ] || echo "not running (no $PIDFILE)"; return 0; }
  local pid; pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) stop_server ;;
  pid) cat "$PIDFILE" ;;
  ca) shift; need_install; puppetserver ca "$@" ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
