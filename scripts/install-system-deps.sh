#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real: openssl (verifies every
# artefact), puppet-agent (a real agent enrolls), postgresql (the shared store),
# chromium (the console's browser tests drive it headless), libnss3-tools (the NSS
# database from which Chromium presents an admin client certificate to the console),
# faketime (a Puppet agent whose clock is off, for the troubleshooting guide's tests).
# libfaketime (its library: a running server's clock moved, test/server-crl-clock.test.ts).
# Idempotent: packages already present are left alone.
set -euo pipefail
want=()
command -v openssl >/dev/null || want+=(openssl)
command -v puppet >/dev/null || want+=(puppet-agent)
[ -x "$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | head -1)" ] || want+=(postgresql)
[ -x /usr/bin/chromium ] || want+=(chromium)
command -v pk12util >/dev/null || want+=(libnss3-tools)
command -v faketime >/dev/null || want+=(faketime)
# libfaketime: a running server's clock moved forward (test/server-crl-clock.test.ts).
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || want+=(libfaketime)
if [ "${#want[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "install-system-deps: need root to install: ${want[*]}" >&2; exit 1; fi
  echo "install-system-deps: installing ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi
# A Chromium policy for the console's client-certificate test (test/console-browser.test.ts):
# present, without asking, a certificate issued by the test's own CA (a name no real CA has)
# to 127.0.0.1 and localhost. It selects nothing for any other issuer or site.
policy=/etc/chromium/policies/managed/fleetca-console-tests.json
policy_json='{"AutoSelectCertificateForUrls": ["{\"pattern\":\"https://127.0.0.1:*\",\"filter\":{\"ISSUER\":{\"CN\":\"Puppet CA: fleetca console client certificate test\"}}}", "{\"pattern\":\"https://localhost:*\",\"filter\":{\"ISSUER\":{\"CN\":\"Puppet CA: fleetca console client certificate test\"}}}"]}'
if [ "$(cat "$policy" 2>/dev/null)" != "$policy_json" ]; then
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$(dirname "$policy")"
    printf '%s' "$policy_json" > "$policy"
  else
    echo "install-system-deps: not root: the console's client-certificate browser test will be skipped ($policy missing)" >&2
  fi
fi
echo "install-system-deps: ok"
