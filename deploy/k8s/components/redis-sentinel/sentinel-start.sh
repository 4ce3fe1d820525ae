#!/bin/sh
# Starts the sentinel beside this pod's Redis. Its state (the current master, epochs, its own id,
# the other sentinels and replicas) is kept on the data volume, so a restarted sentinel resumes
# where it was instead of joining as a stranger. On a first start it monitors the master that
# another sentinel names, else pod 0.
set -eu
ordinal="${HOSTNAME##*-}"
set_name="${HOSTNAME%-*}"
self="$HOSTNAME.$REDIS_SERVICE"
dir=/data/sentinel
conf="$dir/sentinel.conf"
mkdir -p "$dir"

if [ ! -s "$conf" ]; then
  master=""
  for i in 0 1 2; do
    [ "$i" = "$ordinal" ] && continue
    answer="$(redis-cli -h "$set_name-$i.$REDIS_SERVICE" -p 26379 --raw sentinel get-master-addr-by-name "$SENTINEL_MASTER" 2>/dev/null | head -n 1 || true)"
    case "$answer" in "" | *ERR* | *rror*) ;; *) master="$answer"; break ;; esac
  done
  [ -n "$master" ] || master="$set_name-0.$REDIS_SERVICE"
  # Hostnames, not pod IPs: pod IPs change at every restart.
  cat > "$conf" <<CONF
port 26379
dir $dir
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel announce-port 26379
sentinel monitor $SENTINEL_MASTER $master 6379 $SENTINEL_QUORUM
sentinel down-after-milliseconds $SENTINEL_MASTER $SENTINEL_DOWN_AFTER_MS
sentinel failover-timeout $SENTINEL_MASTER $SENTINEL_FAILOVER_TIMEOUT_MS
sentinel parallel-syncs $SENTINEL_MASTER 1
CONF
fi
exec redis-server "$conf" --sentinel
