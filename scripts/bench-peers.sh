#!/usr/bin/env bash
# npm run bench:peers [-- --sales N --poll-ms MS --json] - order visibility between the real Tryton
# and Request Tracker (bench/tryton-rt-bench.ts), on freshly started peers with empty databases
# (scripts/peers-lib.sh), which are stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/peers-lib.sh
trap stop_all EXIT
export RT_TIMEZONE=UTC
start_fresh_peers
node bin/run-ts.js bench/tryton-rt-bench.ts "$@"
