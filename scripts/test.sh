#!/usr/bin/env bash
# Installs everything the checks need (Jupyter from Debian's packages, the
# npm packages, the tslab kernel), then runs lint, the unit and end-to-end
# tests, the notebooks, the API reference build and the library example.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v jupyter-nbconvert >/dev/null 2>&1 || ! /usr/bin/python3 -c 'import ipykernel' >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Jupyter is missing: install it with sudo apt-get install -y jupyter-nbconvert jupyter-client python3-ipykernel" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends jupyter-nbconvert jupyter-client python3-ipykernel
fi

npm ci --no-audit --no-fund
npm run build
node scripts/notebooks.cjs register
npm run lint
mkdir -p build
npm test -- --json --outputFile=build/jest-results.json
npm run docs
npm run example

# One closing line with the Jest counts, in the plain form CI logs understand.
node -e "const r = require('./build/jest-results.json'); console.log(r.numPassedTests + ' passed, ' + r.numFailedTests + ' failed, ' + r.numPendingTests + ' skipped');"
