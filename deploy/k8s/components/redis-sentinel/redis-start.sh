#!/bin/sh
# Starts one Redis of the replicated set. The replication role is decided at every start, never
# stored in the image: the master that a live sentinel names, else the master this pod's own
# sentinel last knew (its state file on the data volume survives a restart of the whole set),
# else pod 0 (first start of the set). Arguments are passed on to redis-server.
set -eu
ordinal="${HOSTNAME##*-}"
set_name="${HOSTNAME%-*}"
self="$HOSTNAME.$REDIS_SERVICE"
master=""

for i in 0 1 2; do
  [ "$i" = "$ordinal" ] && continue
  answer="$(redis-cli -h "$set_name-$i.$REDIS_SERVICE" -p 26379 --raw sentinel get-master-addr-by-name "$SENTINEL_MASTER" 2>/dev/null | head -n 1 || true)"
  case "$answer" in "" | *ERR* | *rror*) ;; *) master="$answer"; break ;; esac
done
if [ -z "$master" ] && [ -f /data/sentinel/sentinel.conf ]; then
  master="$(awk -v name="$SENTINEL_MASTER" '$1 == "sentinel" && $2 == "monitor" && $3 == name { print $4 }' /data/sentinel/sentinel.conf)"
fi
[ -n "$master" ] || master="$set_name-0.$REDIS_SERVICE"

# Written at every start (an emptyDir): Sentinel rewrites it when it re-points this Redis.
conf=/tmp/redis.conf
{
  echo "replica-announce-ip $self"
  echo "replica-announce-port 6379"
  if [ "$master" != "$self" ]; then echo "replicaof $master 6379"; fi
} > "$conf"
echo "redis-start: $self starts as $([ "$master" = "$self" ] && echo master || echo "replica of $master")"
exec redis-server "$conf" "$@"
