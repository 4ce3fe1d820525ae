# Sourced by the scripts of the replicated Redis: who this pod is, where its peers are, and which
# master a live sentinel names. Each variable defaults to what the StatefulSet gives a pod; the test
# (test/deploy/redis-sentinel-scripts.test.ts) sets them to run three "pods" on one machine.
#   REDIS_HOSTS          the three pods' hosts in ordinal order (default: the pods' names under the
#                        headless Service, <set>-<i>.$REDIS_SERVICE)
#   REDIS_PORT           Redis port of every pod (default 6379)
#   SENTINEL_PORT        sentinel port of every pod (default 26379)
#   REDIS_DATA_DIR       the data volume (default /data)
#   REDIS_CONF           the Redis config written at each start (default /tmp/redis.conf, an emptyDir)
#   REDIS_LOCAL_ADDRESS  where this pod's own Redis answers (default 127.0.0.1)
ordinal="${HOSTNAME##*-}"
set_name="${HOSTNAME%-*}"
REDIS_PORT="${REDIS_PORT:-6379}"
SENTINEL_PORT="${SENTINEL_PORT:-26379}"
REDIS_DATA_DIR="${REDIS_DATA_DIR:-/data}"
REDIS_CONF="${REDIS_CONF:-/tmp/redis.conf}"
REDIS_LOCAL_ADDRESS="${REDIS_LOCAL_ADDRESS:-127.0.0.1}"
REDIS_HOSTS="${REDIS_HOSTS:-$set_name-0.$REDIS_SERVICE $set_name-1.$REDIS_SERVICE $set_name-2.$REDIS_SERVICE}"

# The host of pod $1.
host_of() { echo "$REDIS_HOSTS" | awk -v i="$1" '{ print $(i + 1) }'; }
self="$(host_of "$ordinal")"

# The master that the sentinel of another pod names, or nothing when none answers.
live_master() {
  for i in 0 1 2; do
    [ "$i" = "$ordinal" ] && continue
    answer="$(redis-cli -h "$(host_of "$i")" -p "$SENTINEL_PORT" --raw sentinel get-master-addr-by-name "$SENTINEL_MASTER" 2>/dev/null | head -n 1 || true)"
    case "$answer" in "" | *ERR* | *rror*) ;; *) echo "$answer"; return 0 ;; esac
  done
  return 0
}
