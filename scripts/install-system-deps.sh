#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real: openssl (verifies every
# artefact), puppet-agent (a real agent enrolls), postgresql (the shared store),
# chromium (the console's browser tests drive it headless).
# Idempotent: packages already present are left alone.
set -euo pipefail
want=()
command -v openssl >/dev/null || want+=(openssl)
command -v puppet >/dev/null || want+=(puppet-agent)
[ -x "$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | head -1)" ] || want+=(postgresql)
[ -x /usr/bin/chromium ] || want+=(chromium)
if [ "${#want[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "install-system-deps: need root to install: ${want[*]}" >&2; exit 1; fi
  echo "install-system-deps: installing ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi
echo "install-system-deps: ok"
