#!/usr/bin/env bash
# Multi-process membership test: real `gt node run` processes on loopback with real TLS (towns made with
# `gt install`, `gt cluster init`, `gt cluster token` and `gt node join`), default membership settings.
#
#   Tests/cluster/membership.sh          5 nodes: SIGSTOP shorter than the minimum suspicion timeout (nobody
#                                        marks the node failed); a node busy sending large frames to a peer
#                                        (gt node flood) is never suspected by it, nor it by the peer;
#                                        kill -9 (everyone marks it failed); restart (it rejoins with a higher
#                                        incarnation); graceful leave (seen as left).
#                                        gt node drain and --undo spread to everyone.
#   Tests/cluster/membership.sh --light  3 nodes: kill -9 and restart only (a quick check).
#
# Every process started here is killed by its pid and the temporary directory removed, even on failure.
# Environment: GT_BIN_DIR (the directory holding gt; default: the debug build).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${1:-full}
BIN=${GT_BIN_DIR:-$(swift build --show-bin-path)}
GT="$BIN/gt"
[[ -x "$GT" ]] || { echo "membership.sh: $GT not built (run swift build)" >&2; exit 1; }
if [[ "$MODE" == --light ]]; then N=3; else N=5; fi

WORK=$(mktemp -d /tmp/gt-cluster-membership-XXXXXX)
declare -A PID ADDR
cleanup() {
    local status=$?
    for name in "${!PID[@]}"; do kill -9 "${PID[$name]}" 2>/dev/null || true; done
    for name in "${!PID[@]}"; do wait "${PID[$name]}" 2>/dev/null || true; done
    if ((status != 0)); then
        for f in "$WORK"/*.out; do [[ -f "$f" ]] && { echo "--- $f"; tail -n 15 "$f"; }; done >&2
    fi
    rm -rf "$WORK"
    exit $status
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "membership.sh: $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
town() { echo "$WORK/$1"; }
gtc() { local node=$1; shift; "$GT" --town "$(town "$node")" "$@"; }

# member_field OBSERVER SUBJECT FIELD: the field of SUBJECT in OBSERVER's `gt node list --json` ("none").
member_field() {
    gtc "$1" node list --json --name "$2" 2>/dev/null | python3 -c '
import json, sys
try:
    members = json.load(sys.stdin)
    print(members[0][sys.argv[1]] if members else "none")
except Exception:
    print("none")' "$3"
}

# wait_until SECONDS COMMAND...: polls COMMAND every 200 ms; fails when it never succeeds.
wait_until() {
    local limit=$1 start
    shift
    start=$(now)
    until "$@"; do
        awk -v a="$start" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }' && return 1
        sleep 0.2
    done
}

# start_node NAME [--join ADDR]: runs `gt node run` in the background and waits until it serves.
start_node() {
    local name=$1 listen=${ADDR[$1]:-127.0.0.1:0}
    shift
    rm -f "$(town "$name")/.gt/node.json"
    "$GT" --town "$(town "$name")" node run --listen "$listen" "$@" >>"$WORK/$name.out" 2>&1 &
    PID[$name]=$!
    wait_until 20 test -s "$(town "$name")/.gt/node.json" || fail "$name did not start"
    ADDR[$name]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listen"])' \
        "$(town "$name")/.gt/node.json")
}

all_list_alive() {
    local count=$1 observer
    shift
    for observer in "$@"; do
        [[ $(gtc "$observer" node list --json --status alive | grep -c '"name"') == "$count" ]] || return 1
    done
}

everyone_sees() { # everyone_sees SUBJECT STATUS OBSERVERS...
    local subject=$1 status=$2 observer
    shift 2
    for observer in "$@"; do [[ $(member_field "$observer" "$subject" status) == "$status" ]] || return 1; done
}

everyone_sees_field() { # everyone_sees_field SUBJECT FIELD VALUE OBSERVERS...
    local subject=$1 field=$2 value=$3 observer
    shift 3
    for observer in "$@"; do [[ $(member_field "$observer" "$subject" "$field") == "$value" ]] || return 1; done
}

events_count() { # events_count NODE TYPE MEMBER: lines of NODE's events file of TYPE about MEMBER
    grep -F "\"type\":\"$2\"" "$(town "$1")/.gt/events.jsonl" 2>/dev/null | grep -cF "\"member\":\"$3\"" || true
}

# ---- a cluster of N towns ----
NAMES=()
for ((i = 0; i < N; i++)); do
    NAMES+=("n$i")
    "$GT" install "$(town "n$i")" --name "n$i" >/dev/null
done
# n1 advertises labels, slots and runtimes from its town.json.
python3 - "$(town n1)/mayor/town.json" <<'PY'
import json, sys
path = sys.argv[1]
town = json.load(open(path))
town["node"] = {"labels": {"region": "eu-west", "tier": "gold"}, "slots": 4, "runtimes": ["exec"]}
json.dump(town, open(path, "w"))
PY
gtc n0 cluster init --name membership-test >/dev/null
start_node n0
for name in "${NAMES[@]:1}"; do
    token=$(gtc n0 cluster token 2>/dev/null)
    gtc "$name" node join "${ADDR[n0]}" "$token" >/dev/null
    start_node "$name" --join "${ADDR[n0]}"
done
start=$(now)
wait_until 30 all_list_alive "$N" "${NAMES[@]}" || fail "the $N nodes did not converge"
log "$N nodes converged in $(since "$start") s after the last start"
advertised() {
    local observer
    for observer in "${NAMES[@]}"; do
        [[ $(member_field "$observer" n1 free_slots) == 4 ]] || return 1
        [[ $(member_field "$observer" n1 labels) == *"'region': 'eu-west'"* ]] || return 1
        [[ $(member_field "$observer" n1 runtimes) == "['exec']" ]] || return 1
    done
}
wait_until 10 advertised || fail "n1's labels, slots and runtimes from town.json did not reach everyone"
log "town.json labels, slots and runtimes of n1 are seen by every member"

if [[ "$MODE" != --light ]]; then
    # ---- SIGSTOP for less than the minimum suspicion timeout (4 s for 5 members): never marked failed ----
    # The pause is repeated (at most 8 times) until someone noticed it (a suspicion), so the check means
    # something. A pause is noticed only when a probe of n3 starts in its first second (about 1 expected:
    # 4 members, each probing one of 4 targets per second), so one in three goes unnoticed.
    suspicions=0
    for attempt in 1 2 3 4 5 6 7 8; do
        kill -STOP "${PID[n3]}"
        sleep 2
        kill -CONT "${PID[n3]}"
        sleep 5
        for observer in n0 n1 n2 n4; do
            (($(events_count "$observer" member_failed n3) == 0)) || fail "$observer marked n3 failed after a 2 s pause"
            suspicions=$((suspicions + $(events_count "$observer" member_suspect n3)))
        done
        ((suspicions > 0)) && break
    done
    ((suspicions > 0)) || fail "eight 2 s pauses of n3 went unnoticed: the check proves nothing"
    everyone_sees n3 alive n0 n1 n2 n4 || fail "n3 is not alive everywhere after its pause"
    log "SIGSTOP 2 s (x$attempt): nobody marked n3 failed ($suspicions suspicions, refuted)"

    # ---- n0 busy sending large frames to n1: neither suspects the other ----
    before01=$(events_count n0 member_suspect n1)
    before10=$(events_count n1 member_suspect n0)
    flood=$(gtc n0 node flood n1 --seconds 8 --frame-bytes 4194304 --concurrency 4)
    sleep 1
    (($(events_count n0 member_suspect n1) == before01)) || fail "n0 suspected n1 while flooding it: $flood"
    (($(events_count n1 member_suspect n0) == before10)) || fail "n1 suspected n0 while flooded by it: $flood"
    (($(events_count n0 member_failed n1) == 0)) || fail "n0 marked n1 failed while flooding it"
    log "flood n0 -> n1 ($flood): no suspicion either way"

    # ---- drain spreads by gossip, and is undone ----
    gtc n1 node drain >/dev/null
    wait_until 10 everyone_sees_field n1 draining True n0 n2 n3 n4 || fail "n1's draining flag did not spread"
    gtc n1 node drain --undo >/dev/null
    wait_until 10 everyone_sees_field n1 draining False n0 n2 n3 n4 || fail "n1's drain --undo did not spread"
    sent=$(gtc n0 node info --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["traffic"]["bytes_sent"])')
    ((sent > 0)) || fail "gt node info reports no membership bytes sent"
    log "gt node drain / --undo: seen by every member; n0 sent $sent membership bytes so far"
fi

# ---- kill -9: every other member marks it failed ----
victim=${NAMES[$((N - 1))]}
observers=("${NAMES[@]:0:$((N - 1))}")
old_incarnation=$(member_field n0 "$victim" incarnation)
kill -9 "${PID[$victim]}"
wait "${PID[$victim]}" 2>/dev/null || true
unset "PID[$victim]"
start=$(now)
# Bound: a full probe round (2(n-1)+1 probe intervals), the longest suspicion timeout (24 s), a gossip interval.
bound=$((2 * (N - 1) + 1 + 24 + 1))
wait_until "$bound" everyone_sees "$victim" failed "${observers[@]}" || fail "$victim was not marked failed within $bound s"
log "kill -9 $victim: every other member marked it failed after $(since "$start") s (bound $bound s)"

# ---- restart: it rejoins with a higher incarnation ----
start_node "$victim" --join "${ADDR[n0]}"
rejoined() {
    local observer
    for observer in "${observers[@]}"; do
        [[ $(member_field "$observer" "$victim" status) == alive ]] || return 1
        (($(member_field "$observer" "$victim" incarnation) > old_incarnation)) || return 1
    done
}
start=$(now)
wait_until 30 rejoined || fail "$victim did not rejoin with an incarnation above $old_incarnation"
log "restart $victim: alive everywhere again at incarnation $(member_field n0 "$victim" incarnation) > $old_incarnation after $(since "$start") s"

if [[ "$MODE" != --light ]]; then
    # ---- graceful leave: seen as left ----
    gtc n2 node leave >/dev/null
    wait_until 10 everyone_sees n2 left n0 n1 n3 n4 || fail "n2's leave was not seen as left everywhere"
    log "gt node leave n2: every member lists it as left"
fi
log "ok"
