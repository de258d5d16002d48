#!/usr/bin/env bash
# npm run test:peers - the connector and journey tests against the real peers (Tryton 6.0, Request
# Tracker 5). Starts both on fresh databases (scripts/peers-lib.sh, which installs them on first use),
# runs test/peers with vitest.peers.config.ts (RT in UTC), runs the RT suite again with
# RT_TIMEZONE=America/Chicago, and stops the peers whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/peers-lib.sh
trap stop_all EXIT

export CROSSDOCK_REQUIRE_PEERS=1
t0=$(date +%s)
export RT_TIMEZONE=UTC
start_fresh_peers
log "peers ready in $(( $(date +%s) - t0 )) s (Tryton :$TRYTON_PORT, RT :$RT_PORT in UTC)"
npx vitest run --config vitest.peers.config.ts

log "again with RT in America/Chicago, on a fresh RT database"
export RT_TIMEZONE=America/Chicago
fresh_start rt "$RT_DB_FILE" "$RT_HOME/rt-server.pid"
npx vitest run --config vitest.peers.config.ts test/peers/request-tracker.test.ts
log "all peer tests passed in $(( $(date +%s) - t0 )) s"
