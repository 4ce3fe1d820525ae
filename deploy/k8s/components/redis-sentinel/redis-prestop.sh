#!/bin/sh
# Before a Redis pod stops (rolling update, node drain): if it is the master, ask one of the other
# pods' sentinels to fail over now and wait until this Redis is a replica. The apps then follow a
# planned switch instead of waiting for the sentinels to find the master gone. Its own sentinel is
# stopping at the same moment, so it is not asked.
set -u
. "$(dirname "$0")/redis-peers.sh"
role() { redis-cli -h "$REDIS_LOCAL_ADDRESS" -p "$REDIS_PORT" --raw info replication 2>/dev/null | tr -d '\r' | sed -n 's/^role://p'; }

[ "$(role)" = master ] || exit 0
for i in 0 1 2; do
  [ "$i" = "$ordinal" ] && continue
  if [ "$(redis-cli -h "$(host_of "$i")" -p "$SENTINEL_PORT" --raw sentinel failover "$SENTINEL_MASTER" 2>/dev/null)" = OK ]; then
    # Sentinel demotes the old master some seconds after the switch (11 s on loopback): well within
    # terminationGracePeriodSeconds (60 s).
    for _ in $(seq 1 30); do
      [ "$(role)" = master ] || exit 0
      sleep 1
    done
    exit 0
  fi
done
echo "redis-prestop: no sentinel started a failover; stopping as master" >&2
