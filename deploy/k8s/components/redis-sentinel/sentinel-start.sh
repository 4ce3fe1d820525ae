#!/bin/sh
# Starts the sentinel beside this pod's Redis. Its state (the current master, epochs, its own id,
# the other sentinels and replicas) is kept on the data volume, so a restarted sentinel resumes
# where it was instead of joining as a stranger. On a first start it monitors the master that
# another sentinel names, else pod 0. Arguments are passed on to redis-server.
set -eu
. "$(dirname "$0")/redis-peers.sh"
dir="$REDIS_DATA_DIR/sentinel"
conf="$dir/sentinel.conf"
mkdir -p "$dir"

if [ ! -s "$conf" ]; then
  master="$(live_master)"
  [ -n "$master" ] || master="$(host_of 0)"
  # Hostnames, not pod IPs: pod IPs change at every restart. protected-mode: as in redis-start.sh.
  cat > "$conf" <<CONF
port $SENTINEL_PORT
dir $dir
protected-mode no
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel announce-port $SENTINEL_PORT
sentinel monitor $SENTINEL_MASTER $master $REDIS_PORT $SENTINEL_QUORUM
sentinel down-after-milliseconds $SENTINEL_MASTER $SENTINEL_DOWN_AFTER_MS
sentinel failover-timeout $SENTINEL_MASTER $SENTINEL_FAILOVER_TIMEOUT_MS
sentinel parallel-syncs $SENTINEL_MASTER 1
CONF
fi
exec redis-server "$conf" --sentinel "$@"
