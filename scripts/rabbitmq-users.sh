#!/bin/sh
# Create one RabbitMQ user per Tidal service with least-privilege permissions on a vhost.
#
#   scripts/rabbitmq-users.sh [VHOST]          # default vhost: /
#
# Passwords come from TIDAL_RMQ_PASSWORD_<SERVICE> (FRONTEND, HISTORY, MATCHING, TIMER, WORKER);
# a missing one is generated and printed once. TIDAL_RMQ_WORKER_NAMESPACES="ns1 ns2" also
# creates one worker user per namespace, tidal-worker-<ns>, that may only declare and consume
# that namespace's task queues (password from TIDAL_RMQ_PASSWORD_WORKER_<NS>, the namespace
# upper-cased with every other character as "_"). Re-running updates the permissions and (when
# given) the passwords. RABBITMQCTL overrides the rabbitmqctl command (e.g. "docker exec rmq
# rabbitmqctl"). The regexps are derived from tidal_schema.names; docs/security.md explains them
# and tests/test_rabbitmq_users.py checks them against a real broker.
set -eu

VHOST="${1:-/}"
CTL="${RABBITMQCTL:-rabbitmqctl}"

# Names every AmqpBus declares: the dead-letter exchange and queue.
DL='tidal\.dlx|tidal\.dead-letter'

# Records of four whitespace-separated fields (regexps contain no spaces):
# user, then its configure, write and read regexps.
# (amq.default = publishing through the default exchange: replies and worker task queues;
#  direct reply-to needs no permission.)
PERMS="
tidal-frontend
    ^(tidal\.(history|commands|notify|frontend\..*)|${DL})\$
    ^(tidal\.(history|matching|frontend\..*)|${DL}|amq\.default)\$
    ^(tidal\.(commands|notify|frontend\..*)|${DL})\$
tidal-history
    ^(tidal\.(history|matching|timer|notify)|tidal\.(history|timer)\.shard\.[0-9]+|${DL})\$
    ^(tidal\.(matching|timer|notify)|tidal\.(history|timer)\.shard\.[0-9]+|${DL}|amq\.default)\$
    ^(tidal\.(history|matching|timer)|tidal\.(history|timer)\.shard\.[0-9]+|${DL})\$
tidal-matching
    ^(tidal\.(matching|rates)|tidal\.matching\.rates\..*|tidal\.(tq|rl)\..*|${DL})\$
    ^(tidal\.matching|tidal\.matching\.rates\..*|tidal\.rl\..*|${DL}|amq\.default)\$
    ^(tidal\.(matching|rates)|tidal\.matching\.rates\..*|tidal\.rl\..*|${DL})\$
tidal-timer
    ^(tidal\.(timer|history)|tidal\.timer\.shard\.[0-9]+|${DL})\$
    ^(tidal\.history|tidal\.timer\.shard\.[0-9]+|${DL})\$
    ^(tidal\.timer|tidal\.timer\.shard\.[0-9]+|${DL})\$
tidal-worker
    ^(tidal\.tq\..*|tidal\.sticky\..*|tidal\.worker\..*|${DL})\$
    ^(tidal\.(history|rates)|${DL}|amq\.default)\$
    ^(tidal\.tq\..*|tidal\.sticky\..*|tidal\.worker\..*|${DL})\$
"

# apply_user USER CONFIGURE WRITE READ: create USER if missing (password from
# TIDAL_RMQ_PASSWORD_<USER without "tidal-", upper-cased, "_" for other characters>) and set
# its permissions on the vhost.
apply_user() {
    user=$1 configure=$2 write=$3 read=$4
    var="TIDAL_RMQ_PASSWORD_$(echo "${user#tidal-}" | tr '[:lower:]' '[:upper:]' | tr -c 'A-Z0-9\n' '_')"
    password="$(eval "printf '%s' \"\${$var:-}\"")"
    if ! $CTL -q list_users | cut -f1 | grep -qx "$user"; then
        if [ -z "$password" ]; then
            password="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
            echo "$user password (store it; it is not shown again): $password"
        fi
        $CTL -q add_user "$user" "$password" >/dev/null
    elif [ -n "$password" ]; then
        $CTL -q change_password "$user" "$password" >/dev/null
    fi
    $CTL -q set_permissions -p "$VHOST" "$user" "$configure" "$write" "$read" >/dev/null
    echo "$user: permissions set on vhost $VHOST"
}

set -f  # the regexps are not file globs
# shellcheck disable=SC2086
set -- $PERMS
while [ $# -ge 4 ]; do
    apply_user "$1" "$2" "$3" "$4"
    shift 4
done

# Per-namespace workers: reading tasks is confined to tidal.tq.<ns>.* (names.workflow_task_queue
# escapes "." in a namespace as ":2e:", so one namespace's prefix never matches another's).
# Writing cannot be confined: completions go to the direct exchange tidal.history with key
# shard.N, which does not name the namespace (docs/security.md, "The worker trust boundary").
for ns in ${TIDAL_RMQ_WORKER_NAMESPACES:-}; do
    case "$ns" in
        [A-Za-z0-9]*) ;;
        *) echo "not a namespace name: $ns" >&2; exit 2 ;;
    esac
    if [ -n "$(printf '%s' "$ns" | tr -d 'A-Za-z0-9._-')" ]; then
        echo "not a namespace name: $ns" >&2
        exit 2
    fi
    tq="tidal\\.tq\\.$(printf '%s' "$ns" | sed 's/\./:2e:/g')\\..*"
    mine="^(${tq}|tidal\\.sticky\\..*|tidal\\.worker\\..*|${DL})\$"
    apply_user "tidal-worker-$ns" "$mine" "^(tidal\\.(history|rates)|${DL}|amq\\.default)\$" "$mine"
done
