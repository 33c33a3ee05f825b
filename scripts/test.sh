#!/usr/bin/env bash
# The whole test suite: system packages (when missing), type-check, lint, then every test
# file under src/ and test/ with node's test runner. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
echo "== build";      npm run --silent build
echo "== typecheck";  npx tsc -p tsconfig.json --noEmit
echo "== lint";       npx eslint src test bench web
echo "== tests"
mapfile -t files < <(find src test -name '*.test.ts' | sort)
node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
