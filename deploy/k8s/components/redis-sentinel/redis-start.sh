#!/bin/sh
# Starts one Redis of the replicated set. The replication role is decided at every start, never
# stored in the image: the master that a live sentinel names, else the master this pod's own
# sentinel last knew (its state file on the data volume survives a restart of the whole set),
# else pod 0 (first start of the set). Arguments are passed on to redis-server.
set -eu
. "$(dirname "$0")/redis-peers.sh"
sentinel_conf="$REDIS_DATA_DIR/sentinel/sentinel.conf"

master="$(live_master)"
if [ -z "$master" ] && [ -f "$sentinel_conf" ]; then
  master="$(awk -v name="$SENTINEL_MASTER" '$1 == "sentinel" && $2 == "monitor" && $3 == name { print $4 }' "$sentinel_conf")"
fi
[ -n "$master" ] || master="$(host_of 0)"

# Written at every start (an emptyDir): Sentinel rewrites it when it re-points this Redis.
# protected-mode off, said here rather than left to the image (the official one builds it off): on,
# a Redis with no bind and no password refuses the other pods. The NetworkPolicy decides who connects.
{
  echo "protected-mode no"
  echo "replica-announce-ip $self"
  echo "replica-announce-port $REDIS_PORT"
  if [ "$master" != "$self" ]; then echo "replicaof $master $REDIS_PORT"; fi
} > "$REDIS_CONF"
echo "redis-start: $self starts as $([ "$master" = "$self" ] && echo master || echo "replica of $master")"
exec redis-server "$REDIS_CONF" "$@"
