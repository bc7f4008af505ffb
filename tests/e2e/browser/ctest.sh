#!/usr/bin/env bash
# ctest entry point of the browser end-to-end tests (test e2e_browser, see tests/CMakeLists.txt).
#
#   ctest.sh EVENTSTREAMS_BINARY WORK_DIR ARTIFACTS_DIR
#
# node_modules lives in WORK_DIR (in the build tree), never in the source tree: package.json,
# package-lock.json and run.mjs are copied there and `npm ci` installs the locked versions when
# node_modules is missing or the lock file changed. Needs node >= 20, npm, kcat and Debian's
# /usr/bin/chromium (scripts/install-deps --test); playwright-core drives that Chromium and never
# downloads a browser of its own.
set -euo pipefail
binary=$1 work=$2 artifacts=$3
src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

for tool in node npm kcat; do
  command -v "$tool" >/dev/null || { echo "e2e_browser: $tool is missing (scripts/install-deps --test)"; exit 1; }
done
major=$(node -p 'process.versions.node.split(".")[0]')
((major >= 20)) || { echo "e2e_browser: node >= 20 needed, found $(node --version)"; exit 1; }

mkdir -p "$work" "$artifacts"
cp "$src/package.json" "$src/package-lock.json" "$src/run.mjs" "$work/"
stamp="$work/node_modules/.eventstreams-lock"
if [[ ! -f "$stamp" ]] || ! cmp -s "$src/package-lock.json" "$stamp"; then
  echo "e2e_browser: npm ci in $work"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$work" --no-audit --no-fund --loglevel=error
  cp "$src/package-lock.json" "$stamp"
fi
cd "$work"
exec node run.mjs "$binary" "$artifacts"
