# Shared by scripts/test-peers.sh and scripts/bench-peers.sh: starts the real peers (Tryton 6.0,
# Request Tracker 5) with ../shared/peers/*-up.sh, each on a fresh copy of a pristine database, on
# their own ports and state folder, away from a developer's peers on 8000/8010.
#
# Env: CROSSDOCK_PEERS_HOME (/var/lib/peers/crossdock-test): where these peers keep their state and
#      the pristine database copies; TRYTON_PORT (8100) and RT_PORT (8110); PEERS_DIR
#      (../shared/peers): the peers' scripts. Note: rt-up.sh writes RT's site configuration under /etc
#      (one per machine); another RT on this machine picks these settings up only if it restarts.

PEERS_DIR=${PEERS_DIR:-../shared/peers}
STATE=${CROSSDOCK_PEERS_HOME:-/var/lib/peers/crossdock-test}
export TRYTON_HOME=$STATE/tryton RT_HOME=$STATE/rt PEERS_DIR
export TRYTON_PORT=${TRYTON_PORT:-8100} RT_PORT=${RT_PORT:-8110}
TRYTON_DB_FILE=$TRYTON_HOME/db/tryton.sqlite
RT_DB_FILE=$RT_HOME/rtdb

log() { echo "[peers] $*" >&2; }

# Stops a peer and waits until its process is gone, so its database file can be copied safely.
stop_peer() { # stop_peer tryton|rt PIDFILE
  local pid=""
  [ -f "$2" ] && pid=$(cat "$2")
  bash "$PEERS_DIR/$1-up.sh" stop >/dev/null 2>&1 || true
  if [ -n "$pid" ]; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    log "$1 (pid $pid) did not stop in 10 s"; return 1
  fi
}
stop_all() {
  stop_peer tryton "$TRYTON_HOME/trytond.pid" || true
  stop_peer rt "$RT_HOME/rt-server.pid" || true
}

# Starts a peer on a fresh copy of its pristine database; the first run installs and initialises it
# (about a minute) and keeps the initialised database as the pristine copy.
fresh_start() { # fresh_start tryton|rt DBFILE PIDFILE
  local name=$1 db=$2 pidfile=$3 pristine=$STATE/$1-pristine.db
  mkdir -p "$STATE"
  stop_peer "$name" "$pidfile"
  if [ ! -f "$pristine" ]; then
    log "first run: installing and initialising $name"
    bash "$PEERS_DIR/$name-up.sh" start >/dev/null
    stop_peer "$name" "$pidfile"
    cp "$db" "$pristine"
  fi
  cp "$pristine" "$db"
  rm -f "$db-journal" "$db-wal" "$db-shm"
  bash "$PEERS_DIR/$name-up.sh" start >/dev/null
}

start_fresh_peers() {
  fresh_start rt "$RT_DB_FILE" "$RT_HOME/rt-server.pid"
  fresh_start tryton "$TRYTON_DB_FILE" "$TRYTON_HOME/trytond.pid"
}
