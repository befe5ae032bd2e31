#!/usr/bin/env bash
# Installs the npm packages, builds the library and runs the demo on the
# SYNTHETIC sample corpus: train, evaluate beside the baselines, reload,
# sample. Takes a few minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."

npm ci --no-audit --no-fund
npm run build
node scripts/demo.cjs "$@"
