#!/usr/bin/env bash
# Partition test in network namespaces: three real nodes (`gt up`), each in its own network namespace, joined by
# veth pairs to a bridge in the root namespace, where a `git daemon` serves the ledger remote and the rig's remote
# (git://), so a node cut off from the bridge loses the other nodes *and* the ledger remote, as a real partition
# does. Scripted `exec` agents do the work; the nodes' Refineries merge it.
#
#   1. n0, n1, n2 converge; rig demo is added on each from one git remote; a convoy of four beads: one slung to
#      n2 (its agent commits and then waits, so it is still working when the cut comes), three to n0 and n1
#      (their agents work long enough to be hooked through the partition).
#   2. n2's veth is set down on the bridge side (no reset: packets vanish). The majority marks n2 failed, and
#      after the failover grace re-slings n2's bead at a new epoch on n0 or n1, where it is done and merged.
#      The minority, which sees the others dead, has no majority in view: it takes over none of their beads (and
#      could not: a claim counts only once its push reached the ledger remote, which it cannot reach).
#   3. The link comes back: n2 is alive again everywhere, its ledger learns the new epoch, and its late
#      `gt done` in the old worktree is refused by lease epoch; its worktree and commits are kept. The convoy
#      lands once, the three ledgers converge, every bead is closed with one merge request, and the rig's main
#      holds each bead's work exactly once.
#
# Skips (exit 0, with a message) only when network namespaces cannot be made here (not root, no `ip netns`).
# Every namespace, veth, bridge, process (by pid) and tmux server made here is removed on any exit.
# Environment: GT_BIN_DIR (the directory holding gt and bd; default: the debug build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${GT_BIN_DIR:-$(swift build --show-bin-path)}
GT="$BIN/gt"
BD="$BIN/bd"
[[ -x "$GT" && -x "$BD" ]] || { echo "partition.sh: $GT or $BD not built (run swift build)" >&2; exit 1; }
log() { echo "partition.sh: $*"; }

TAG="gtp$$"
if ! command -v ip >/dev/null || ! ip netns add "$TAG-probe" 2>/dev/null; then
    log "SKIP: network namespaces are not usable here (needs root and iproute2's 'ip netns'); nothing tested"
    exit 0
fi
ip netns del "$TAG-probe"
command -v tmux >/dev/null || { echo "partition.sh: tmux not found" >&2; exit 1; }
[[ -x /usr/lib/git-core/git-daemon ]] || { echo "partition.sh: git daemon not found (package git)" >&2; exit 1; }

# A /24 no interface of the root namespace uses yet.
SUBNET=""
for ((k = 0; k < 64; k++)); do
    candidate="10.213.$((($$ + k) % 250 + 1))"
    ip -4 addr show | grep -qF " $candidate." || { SUBNET=$candidate; break; }
done
[[ -n "$SUBNET" ]] || { echo "partition.sh: no free 10.213.x.0/24 subnet" >&2; exit 1; }
HOST_IP="$SUBNET.254"
BRIDGE="${TAG}br"

WORK=$(mktemp -d /tmp/gt-cluster-partition-XXXXXX)
export TMUX_TMPDIR="$WORK/tmux" BEADS_ACTOR=partition PATH="$BIN:$PATH"
unset BEADS_DIR GT_TOWN
mkdir -p "$TMUX_TMPDIR"
NODES=(n0 n1 n2)
DAEMON_PID=""
cleanup() {
    local status=$? name pid socket
    set +e
    for name in "${NODES[@]}"; do
        pid=$(cat "$WORK/$name/.gt/node.pid" 2>/dev/null)
        [[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null
    done
    for socket in "$TMUX_TMPDIR"/tmux-*/*; do
        [[ -S "$socket" ]] || continue
        pid=$(tmux -S "$socket" display-message -p '#{pid}' 2>/dev/null)
        [[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null
    done
    [[ -n "$DAEMON_PID" ]] && kill -9 "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    for name in "${NODES[@]}"; do
        ip link del "$TAG-h${name#n}" 2>/dev/null
        ip netns del "$TAG-$name" 2>/dev/null
    done
    ip link del "$BRIDGE" 2>/dev/null
    if ((status != 0)); then
        for name in "${NODES[@]}"; do
            echo "--- $name: node log"
            tail -n 25 "$WORK/$name/.gt/logs/node.log" 2>/dev/null || true
            echo "--- $name: events"
            tail -n 25 "$WORK/$name/.gt/events.jsonl" 2>/dev/null || true
        done >&2
    fi
    rm -rf "$WORK"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
ipof() { echo "$SUBNET.$((${1#n} + 1))"; }
# Commands for node N run inside its namespace (the CLI talks to the node over its unix socket either way).
gtn() { local node=$1; shift; ip netns exec "$TAG-$node" "$GT" --town "$WORK/$node" "$@"; }
bdn() { local node=$1; shift; ip netns exec "$TAG-$node" "$BD" -C "$WORK/$node" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# wait_until SECONDS COMMAND...: polls COMMAND every 300 ms; fails when it never succeeds.
wait_until() {
    local limit=$1 start
    shift
    start=$(now)
    until "$@"; do
        awk -v a="$start" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }' && return 1
        sleep 0.3
    done
}

# ---- the network: a bridge in the root namespace, one namespace per node on a veth pair ----
ip link add "$BRIDGE" type bridge
ip addr add "$HOST_IP/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
for name in "${NODES[@]}"; do
    i=${name#n}
    ip netns add "$TAG-$name"
    ip link add "$TAG-h$i" type veth peer name "$TAG-c$i"
    ip link set "$TAG-c$i" netns "$TAG-$name"
    ip link set "$TAG-h$i" master "$BRIDGE" up
    ip netns exec "$TAG-$name" ip link set lo up
    ip netns exec "$TAG-$name" ip addr add "$(ipof "$name")/24" dev "$TAG-c$i"
    ip netns exec "$TAG-$name" ip link set "$TAG-c$i" up
done
log "namespaces $TAG-n0..n2 on bridge $BRIDGE ($SUBNET.0/24)"

# ---- git remotes on the bridge: the ledger and the rig ----
mkdir -p "$WORK/git" "$WORK/src"
git init -q --bare "$WORK/git/ledger.git"
git init -q -b main "$WORK/src"
echo "# partition" >"$WORK/src/README.md"
git -C "$WORK/src" add -A
git -C "$WORK/src" -c user.name=t -c user.email=t@t commit -qm "initial commit"
git clone -q --bare "$WORK/src" "$WORK/git/demo.git"
git daemon --reuseaddr --base-path="$WORK/git" --export-all --enable=receive-pack --listen="$HOST_IP" \
    --port=9418 "$WORK/git" >"$WORK/git-daemon.log" 2>&1 &
DAEMON_PID=$!
for name in "${NODES[@]}"; do
    wait_until 10 ip netns exec "$TAG-$name" git ls-remote -q "git://$HOST_IP/demo.git" >/dev/null 2>&1 \
        || fail "$name cannot reach the git daemon at $HOST_IP"
done

# The scripted agent: commits its work; on n2 it then waits (it is cut off while working); elsewhere it works for
# the seconds in $WORK/delay-<bead> (default 1) and calls gt done.
cat >"$WORK/agent.sh" <<AGENT
#!/bin/sh
echo "work on \$GT_BEAD by \$GT_POLECAT" > "work-\$GT_BEAD.txt"
git add -A
git -c user.name="\$GT_POLECAT" -c user.email=polecat@gt commit -qm "work on \$GT_BEAD" || true
case "\$PWD" in
  $WORK/n2/*) echo "cut off soon: waiting"; while :; do sleep 1; done ;;
esac
sleep "\$(cat "$WORK/delay-\$GT_BEAD" 2>/dev/null || echo 1)"
gt done
AGENT

# ---- three towns, one cluster ----
for name in "${NODES[@]}"; do
    "$GT" install "$WORK/$name" --name "$name" >/dev/null
    python3 - "$WORK/$name/mayor/town.json" <<'PY'
import json, sys
path = sys.argv[1]
town = json.load(open(path))
town["node"] = {"slots": 2}
town["placement"] = {"failover_grace_seconds": 5}
town["refinery"] = {"lease_renew_seconds": 1, "lease_grace_seconds": 4, "poll_seconds": 1}
town["convoy"] = {"poll_seconds": 1, "landing_grace_seconds": 10}
json.dump(town, open(path, "w"))
PY
done
gtn n0 cluster init --name partition >/dev/null
SEED="$(ipof n0):7946"
gtn n0 up --listen "$SEED" >/dev/null
for name in n1 n2; do
    token=$(gtn n0 cluster token --name "$name" 2>/dev/null)
    gtn "$name" node join "$SEED" "$token" >/dev/null
    gtn "$name" up --listen "$(ipof "$name"):7946" --join "$SEED" >/dev/null
done
for name in "${NODES[@]}"; do
    bdn "$name" remote add origin "git://$HOST_IP/ledger.git" >/dev/null
    gtn "$name" rig add demo "git://$HOST_IP/demo.git" --runtime "exec:'sh $WORK/agent.sh'" --max-polecats 4 >/dev/null
done

# member OBSERVER SUBJECT FIELD: SUBJECT's FIELD in OBSERVER's `gt node list --json` ("none").
member() {
    gtn "$1" node list --json --name "$2" 2>/dev/null | python3 -c '
import json, sys
try:
    m = json.load(sys.stdin)
    v = m[0][sys.argv[1]] if m else "none"
    print(",".join(v) if isinstance(v, list) else v)
except Exception:
    print("none")' "$3"
}
sees() { # sees STATUS SUBJECT OBSERVERS...
    local status=$1 subject=$2 observer
    shift 2
    for observer in "$@"; do [[ $(member "$observer" "$subject" status) == "$status" ]] || return 1; done
}
converged() {
    local subject
    for subject in "${NODES[@]}"; do
        sees alive "$subject" "${NODES[@]}" || return 1
        [[ $(member n0 "$subject" rigs) == *demo* ]] || return 1
    done
}
start=$(now)
wait_until 60 converged || fail "the three nodes did not converge with rig demo on each"
log "n0, n1, n2 alive everywhere with rig demo ($(since "$start") s)"

# bead NODE ID FIELD: a field of the bead in NODE's ledger (bd export), or "none".
bead() {
    bdn "$1" export 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    b = json.loads(line)
    if b.get("id") == sys.argv[1]:
        print(b.get(sys.argv[2], "none")); break
else:
    print("none")' "$2" "$3"
}

# ---- a convoy of four beads: one on n2, three on the majority ----
CUT=$(bdn n0 create "Cut off while working" --rig demo --silent)
B1=$(bdn n0 create "Majority work 1" --rig demo --silent)
B2=$(bdn n0 create "Majority work 2" --rig demo --silent)
B3=$(bdn n0 create "Majority work 3" --rig demo --silent)
BEADS=("$CUT" "$B1" "$B2" "$B3")
# The majority's agents work through the partition and its detection (so the minority sees them hooked).
for b in "$B1" "$B2"; do echo 25 >"$WORK/delay-$b"; done
gtn n0 convoy create Partition "${BEADS[@]}" >/dev/null
sling() { # sling BEAD NODE: admitted on NODE; prints the polecat
    local out
    out=$(gtn n0 sling "$1" --node "$2" --json) || fail "sling $1 --node $2: $out"
    [[ $(echo "$out" | json 'd["status"]') == admitted ]] || fail "sling $1 --node $2 not admitted: $out"
    echo "$out" | json 'd["polecat"]'
}
CUT_POLECAT=$(sling "$CUT" n2)
sling "$B1" n0 >/dev/null
sling "$B2" n1 >/dev/null
sling "$B3" n1 >/dev/null
CUT_WORKTREE="$WORK/n2/demo/polecats/$CUT_POLECAT"
committed() { [[ -n $(git -C "$CUT_WORKTREE" log -1 --format=%s 2>/dev/null | grep -F "work on $CUT") ]]; }
wait_until 30 committed || fail "n2's agent did not commit its work on $CUT"
published() { [[ $(bead n0 "$CUT" lease_epoch) == 1 && $(bead n1 "$B2" lease_epoch) == 1 && $(bead n2 "$B1" lease_epoch) == 1 ]]; }
wait_until 30 published || fail "the claims did not reach every ledger (epoch 1)"
log "convoy Partition: $CUT on n2 (polecat $CUT_POLECAT, committed, still working), $B1 on n0, $B2 and $B3 on n1"

# ---- cut n2 off: its veth goes down on the bridge side ----
ip link set "$TAG-h2" down
CUT_AT=$(now)
wait_until 60 sees failed n2 n0 n1 || fail "the majority did not mark n2 failed"
log "n2 cut off: n0 and n1 mark it failed after $(since "$CUT_AT") s"
moved() {
    local epoch
    epoch=$(bead n0 "$CUT" lease_epoch)
    [[ "$epoch" =~ ^[0-9]+$ ]] && ((epoch >= 2))
}
wait_until 60 moved || fail "the majority did not re-sling $CUT at a new epoch"
log "$CUT re-slung by the majority at epoch $(bead n0 "$CUT" lease_epoch) after $(since "$CUT_AT") s from the cut"
cut_closed() { [[ $(bead n0 "$CUT" status) == closed ]]; }
wait_until 90 cut_closed || fail "$CUT was not done and merged on the majority side"
log "$CUT done and merged on the majority side ($(since "$CUT_AT") s from the cut) while n2 is still cut off"
sees failed n0 n2 && sees failed n1 n2 || fail "n2 did not see the others as failed while cut off"
# The minority sees every other member dead: it has no majority in view, so it takes over none of their work (its
# clocks for their deaths stand still until a majority is back, docs/scheduling.md "The majority rule").
minority_held() { grep -qF "no majority in view" "$WORK/n2/.gt/logs/node.log" 2>/dev/null; }
wait_until 30 minority_held || fail "n2 never reported that it has no majority in view"
grep -F "re-slung a dead node's bead" "$WORK/n2/.gt/logs/node.log" 2>/dev/null | grep -qE "$B1|$B2|$B3" \
    && fail "n2 re-slung the majority's beads while cut off"
grep -F '"type":"sling"' "$WORK/n2/.gt/events.jsonl" 2>/dev/null | grep -qE "$B1|$B2|$B3" \
    && fail "n2 started work on the majority's beads while cut off"
log "n2 (minority) claimed none of the majority's beads and started no session for them"

# ---- heal ----
ip link set "$TAG-h2" up
HEAL_AT=$(now)
wait_until 60 sees alive n2 n0 n1 || fail "n2 was not alive again for n0 and n1 after the heal"
wait_until 60 sees alive n0 n2 || fail "n2 does not see n0 alive again"
log "healed: n2 alive everywhere again after $(since "$HEAL_AT") s"
learned() { local e; e=$(bead n2 "$CUT" lease_epoch); [[ "$e" =~ ^[0-9]+$ ]] && ((e >= 2)); }
wait_until 60 learned || fail "n2's ledger did not learn the new epoch of $CUT"
[[ -d "$CUT_WORKTREE" ]] || fail "n2's old worktree $CUT_WORKTREE is gone"
# The old worktree's hook still names the cut-off bead: n2 took nothing over, before or after the heal (its death
# clocks restarted only once it saw a majority again, and by then the others were alive).
hooked=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("bead",""))' "$CUT_WORKTREE/.gt/hook.json" 2>/dev/null || true)
[[ "$hooked" == "$CUT" ]] || fail "n2's old worktree is hooked to ${hooked:-nothing}, not $CUT: n2 took over work after the heal"
set +e
late=$(ip netns exec "$TAG-n2" sh -c "cd '$CUT_WORKTREE' && '$GT' done" 2>&1)
late_status=$?
set -e
((late_status != 0)) || fail "n2's late gt done was accepted: $late"
[[ "$late" == *"lease epoch"* ]] || fail "n2's late gt done was not refused by epoch: $late"
CUT_BRANCH="polecat/n2/$CUT_POLECAT/$CUT/e1"
git -C "$CUT_WORKTREE" log -1 --format=%s "$CUT_BRANCH" | grep -qF "work on $CUT" \
    || fail "n2's commit on its branch $CUT_BRANCH is lost"
log "n2's late gt done refused: $(echo "$late" | head -1)"
log "its work is kept on its branch $CUT_BRANCH"

# ---- everything lands once; the ledgers converge ----
landed() { [[ $(gtn n0 convoy status Partition --json 2>/dev/null | json 'd["status"]' 2>/dev/null) == landed ]]; }
wait_until 90 landed || fail "convoy Partition did not land: $(gtn n0 convoy status Partition 2>&1)"
summary() { # id status epoch assignee per bead of rig demo, and merge requests by source bead
    bdn "$1" export 2>/dev/null | python3 -c '
import json, sys
rows = []
for line in sys.stdin:
    b = json.loads(line)
    if not b["id"].startswith("demo-") or b.get("status") == "tombstone":
        continue
    md = b.get("metadata") or {}
    rows.append("%s %s %s %s %s" % (b["id"], b.get("status"), b.get("lease_epoch", 0), b.get("assignee", ""),
                                    md.get("source_bead", "") if isinstance(md, dict) else ""))
print("\n".join(sorted(rows)))'
}
same_ledgers() { local a; a=$(summary n0); [[ -n "$a" && "$a" == "$(summary n1)" && "$a" == "$(summary n2)" ]]; }
wait_until 60 same_ledgers || fail "the ledgers did not converge:
n0: $(summary n0)
n2: $(summary n2)"
final=$(summary n0)
for b in "${BEADS[@]}"; do
    echo "$final" | grep -qE "^$b closed " || fail "$b is not closed: $final"
    requests=$(echo "$final" | awk -v b="$b" '$NF == b' | wc -l)
    ((requests == 1)) || fail "$b has $requests merge requests: $final"
    merged=$(git --git-dir "$WORK/git/demo.git" log main --format=%s | grep -cxF "work on $b" || true)
    ((merged == 1)) || fail "$b's work is on main $merged times"
done
[[ $(echo "$final" | awk -v b="$CUT" '$1 == b { print $3 }') -ge 2 ]] || fail "$CUT is not at its new epoch: $final"
landings=$(cat "$WORK"/n*/.gt/events.jsonl | grep -cF '"type":"convoy_landed"' || true)
((landings == 1)) || fail "convoy Partition landed $landings times"
grep -qF "re-slung a dead node's bead" "$WORK/n2/.gt/logs/node.log" 2>/dev/null \
    && fail "n2 re-slung work after the heal: $(grep -F "re-slung a dead node's bead" "$WORK/n2/.gt/logs/node.log")"
log "convoy Partition landed once; the three ledgers agree; each bead closed with one merge request, merged once"
log "ok ($(since "$CUT_AT") s from the cut)"
