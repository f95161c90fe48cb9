#!/usr/bin/env bash
# Rolling upgrade test (issue 18): a three-node cluster on loopback starts on the previous release's binaries with
# work running (scripted `exec` agents in tmux, beads slung to every node), and its nodes are upgraded to this build
# one at a time, each stopped by its pid (SIGTERM, as `gt down` does) and started from the new binary on the same
# town directory while the others keep working. Asserted: the previous release and this one form one cluster
# (membership converges with mixed versions, each side shows the other's software version; slings cross versions
# both ways; agents started by an old node finish through the new one), and nothing is lost: every bead ends
# closed exactly once with exactly one merge request, its work is on the rig's main exactly once, and the three
# ledgers agree.
#
# The previous release: GT_UPGRADE_FROM (a commit, default below), built once from `git archive` of that commit into
# a cache directory keyed by the commit (GT_UPGRADE_CACHE, default ~/.cache/gastown/upgrade/<commit>), outside the
# repository; a second run reuses it. The default is 06debe3, the last commit of stop 21 (landed, CI green), the
# commit before issue 18's work began (its first commit, 8e1290f, came in stop 23). The git CLI is used here only to
# take that commit's tree; the product itself uses libgit2.
#
# Environment: GT_BIN_DIR (this build's gt and bd; default: the debug build), GT_UPGRADE_FROM, GT_UPGRADE_CACHE,
# GT_UPGRADE_LOGS (a directory that keeps each node's log and events after the run).
# Every process started here (by pid), the tmux server and the temporary directory are removed on any exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
log() { echo "upgrade.sh: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T0=$(now)

NEW_BIN=${GT_BIN_DIR:-$(swift build --show-bin-path)}
[[ -x "$NEW_BIN/gt" && -x "$NEW_BIN/bd" ]] || fail "$NEW_BIN/gt or bd not built (run swift build)"
command -v tmux >/dev/null || fail "tmux not found"
FROM=${GT_UPGRADE_FROM:-06debe319333df1fd0c36572d78077d58a845239}
if ! COMMIT=$(git -C "$REPO" rev-parse --verify --quiet "$FROM^{commit}"); then
    # A shallow clone may lack it: fetch it from origin when there is one.
    git -C "$REPO" remote get-url origin >/dev/null 2>&1 && git -C "$REPO" fetch -q origin "$FROM" 2>/dev/null || true
    COMMIT=$(git -C "$REPO" rev-parse --verify --quiet "$FROM^{commit}") \
        || { echo "SKIPPED: GT_UPGRADE_FROM=$FROM is not a commit of this clone and could not be fetched (a shallow clone?): git fetch it or unshallow the clone (git fetch --unshallow), then run make test-upgrade again" >&2; exit 77; }
fi
CACHE=${GT_UPGRADE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gastown/upgrade}/$COMMIT

# ---- the previous release, built once per commit ----
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 # two runs at once: the second waits for the first one's build
if [[ -f "$CACHE/built" && -x "$CACHE/src/.build/debug/gt" && -x "$CACHE/src/.build/debug/bd" ]]; then
    log "previous release ${COMMIT:0:7}: cached build in $CACHE ($(cat "$CACHE/built"))"
else
    log "previous release ${COMMIT:0:7}: building gt and bd in $CACHE/src (once; the log is $CACHE/build.log)"
    start=$(now)
    if [[ ! -f "$CACHE/src/Package.swift" ]]; then
        rm -rf "$CACHE/src"
        mkdir -p "$CACHE/src"
        git -C "$REPO" archive "$COMMIT" | tar -x -C "$CACHE/src"
    fi
    (cd "$CACHE/src" && swift build --product gt && swift build --product bd) >"$CACHE/build.log" 2>&1 \
        || { tail -n 30 "$CACHE/build.log" >&2; fail "the build of ${COMMIT:0:7} failed"; }
    echo "built in $(since "$start") s on $(date -u +%Y-%m-%dT%H:%MZ)" >"$CACHE/built"
    log "previous release built in $(since "$start") s"
fi
flock -u 9
OLD_BIN=$CACHE/src/.build/debug
OLD_VERSION=$("$OLD_BIN/gt" --version | awk '{print $NF}')
NEW_VERSION=$("$NEW_BIN/gt" --version | awk '{print $NF}')
log "previous release: gt $OLD_VERSION (${COMMIT:0:7}); this build: gt $NEW_VERSION"
[[ "$OLD_VERSION" != "$NEW_VERSION" ]] || fail "both builds call themselves $NEW_VERSION: bump GasTownVersion.current"

WORK=$(mktemp -d /tmp/gt-cluster-upgrade-XXXXXX)
export TMUX_TMPDIR="$WORK/tmux" BEADS_ACTOR=upgrade
unset BEADS_DIR GT_TOWN
mkdir -p "$TMUX_TMPDIR"
NODES=(n0 n1 n2)
declare -A ADDR BIN
for name in "${NODES[@]}"; do BIN[$name]=$OLD_BIN; done
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
    if [[ -n "${GT_UPGRADE_LOGS:-}" ]]; then # keep every node's log and events
        for name in "${NODES[@]}"; do
            mkdir -p "$GT_UPGRADE_LOGS/$name"
            cp "$WORK/$name/.gt/logs/node.log" "$WORK/$name/.gt/events.jsonl" "$GT_UPGRADE_LOGS/$name/" 2>/dev/null
        done
    fi
    if ((status != 0)); then
        for name in "${NODES[@]}"; do
            echo "--- $name (${BIN[$name]}): node log"
            tail -n 30 "$WORK/$name/.gt/logs/node.log" 2>/dev/null || true
            echo "--- $name: events"
            tail -n 15 "$WORK/$name/.gt/events.jsonl" 2>/dev/null || true
        done >&2
    fi
    rm -rf "$WORK"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

gtn() { local node=$1; shift; "${BIN[$node]}/gt" --town "$WORK/$node" "$@"; }
bdn() { local node=$1; shift; "${BIN[$node]}/bd" -C "$WORK/$node" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
wait_until() { # wait_until SECONDS COMMAND...: polls COMMAND every 300 ms; fails when it never succeeds.
    local limit=$1 start
    shift
    start=$(now)
    until "$@"; do
        awk -v a="$start" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }' && return 1
        sleep 0.3
    done
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
for name in "${NODES[@]}"; do ADDR[$name]=127.0.0.1:$(free_port); done

# ---- git remotes: the ledger and the rig (path remotes) ----
mkdir -p "$WORK/git"
git init -q --bare "$WORK/git/ledger.git"
git init -q -b main "$WORK/src"
echo "# upgrade" >"$WORK/src/README.md"
git -C "$WORK/src" add -A
git -C "$WORK/src" -c user.name=t -c user.email=t@t commit -qm "initial commit"
git clone -q --bare "$WORK/src" "$WORK/git/demo.git"

# The scripted agent: commits its work, works for the seconds in $WORK/delay-<bead> (default 2) and calls gt done
# (the gt of the node that started it, first on its PATH: an agent of an old node may finish through a new one). A
# refused gt done is retried, and counted in $WORK/done-retries (reported at the end).
cat >"$WORK/agent.sh" <<AGENT
#!/bin/sh
echo "work on \$GT_BEAD by \$GT_POLECAT" > "work-\$GT_BEAD.txt"
git add -A
git -c user.name="\$GT_POLECAT" -c user.email=polecat@gt commit -qm "work on \$GT_BEAD" || true
sleep "\$(cat "$WORK/delay-\$GT_BEAD" 2>/dev/null || echo 2)"
until gt done; do echo "\$GT_BEAD" >> "$WORK/done-retries"; sleep 1; done
AGENT

# ---- three towns on the previous release, one cluster ----
for name in "${NODES[@]}"; do
    gtn "$name" install "$WORK/$name" --name "$name" >/dev/null
    python3 - "$WORK/$name/mayor/town.json" <<'PY'
import json, sys
path = sys.argv[1]
town = json.load(open(path))
town["node"] = {"slots": 4}
town["refinery"] = {"lease_renew_seconds": 1, "lease_grace_seconds": 4, "poll_seconds": 1}
json.dump(town, open(path, "w"))
PY
done
gtn n0 cluster init --name upgrade >/dev/null
gtn n0 up --listen "${ADDR[n0]}" >/dev/null
for name in n1 n2; do
    token=$(gtn n0 cluster token --name "$name" 2>/dev/null | grep -o 'GTJ1-[0-9a-f-]*' | head -1)
    gtn "$name" node join "${ADDR[n0]}" "$token" >/dev/null
    gtn "$name" up --listen "${ADDR[$name]}" --join "${ADDR[n0]}" >/dev/null
done
for name in "${NODES[@]}"; do
    bdn "$name" remote add origin "$WORK/git/ledger.git" >/dev/null
    gtn "$name" rig add demo "$WORK/git/demo.git" --runtime "exec:'sh $WORK/agent.sh'" --max-polecats 4 >/dev/null
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
# converged: every node sees every node alive with rig demo and at the software version it runs now.
version_of() { [[ "${BIN[$1]}" == "$OLD_BIN" ]] && echo "$OLD_VERSION" || echo "$NEW_VERSION"; }
converged() {
    local observer subject
    for observer in "${NODES[@]}"; do
        for subject in "${NODES[@]}"; do
            [[ $(member "$observer" "$subject" status) == alive ]] || return 1
            [[ $(member "$observer" "$subject" version) == "$(version_of "$subject")" ]] || return 1
            [[ $(member "$observer" "$subject" rigs) == *demo* ]] || return 1
        done
    done
}
start=$(now)
wait_until 90 converged || fail "the three nodes of $OLD_VERSION did not converge with rig demo on each"
log "n0, n1, n2 on gt $OLD_VERSION: alive everywhere with rig demo ($(since "$start") s)"

# ---- work: beads slung to every node, their agents busy through the upgrades ----
BEADS=()
SLUNG_FROM=()
# sling FROM BEAD NODE [DELAY]: FROM's Mayor places BEAD on NODE (admitted there; retried while the target is busy).
sling() {
    local from=$1 bead=$2 node=$3 out
    echo "${4:-2}" >"$WORK/delay-$bead"
    for _ in $(seq 1 60); do
        out=$(gtn "$from" sling "$bead" --node "$node" --json 2>&1) && break
        sleep 0.5
    done
    [[ $(echo "$out" | json 'd["status"]' 2>/dev/null) == admitted ]] || fail "sling $bead from $from to $node: $out"
    BEADS+=("$bead")
    SLUNG_FROM+=("$from($(version_of "$from"))->$node($(version_of "$node"))")
}
new_bead() { bdn "$1" create "$2" --rig demo --silent; }
wave() { # wave FROM DELAY: one bead from FROM to each node
    local from=$1 delay=$2 node
    for node in "${NODES[@]}"; do
        sling "$from" "$(new_bead "$from" "Work from $from to $node at ${#BEADS[@]}")" "$node" "$delay"
    done
}
wave n0 12
log "wave 1: ${#BEADS[@]} beads slung from n0 (gt $OLD_VERSION), agents working 12 s"

# ---- the rolling upgrade: n2, then n1, then n0 ----
node_pid() { cat "$WORK/$1/.gt/node.pid" 2>/dev/null; }
working_on() { # beads NODE's ledger shows hooked on NODE (its agents still working)
    bdn "$1" export 2>/dev/null | python3 -c '
import json, sys
print(sum(1 for line in sys.stdin if (b := json.loads(line))["id"].startswith("demo-")
          and b.get("status") in ("hooked", "in_progress") and b.get("claim_node") == sys.argv[1]))' "$1"
}
upgrade() { # upgrade NODE SEED: stop NODE by pid, start this build on its town, joining through SEED
    local name=$1 seed=$2 pid stopped busy
    pid=$(node_pid "$name")
    [[ -n "$pid" ]] || fail "$name has no pid file"
    busy=$(working_on "$name")
    ((busy >= 1)) || fail "$name has no work in progress to upgrade under"
    kill -TERM "$pid"
    stopped=$(now)
    wait_until 30 sh -c "! kill -0 $pid 2>/dev/null" || fail "$name (pid $pid) did not stop within 30 s of SIGTERM"
    BIN[$name]=$NEW_BIN
    gtn "$name" up --listen "${ADDR[$name]}" --join "${ADDR[$seed]}" >/dev/null \
        || fail "$name did not start on gt $NEW_VERSION"
    [[ $(node_pid "$name") != "$pid" ]] || fail "$name still runs pid $pid"
    wait_until 90 converged || fail "membership did not converge after $name moved to gt $NEW_VERSION"
    log "$name: pid $pid stopped with $busy bead(s) in progress on it; gt $NEW_VERSION serves its town and the three"\
" agree on every member and version $(since "$stopped") s after the stop"
}
MIXED_SEEN=0
mixed() { # both versions in one view, seen from a node of each version
    local old_view new_view
    old_view=$(gtn "$1" node list --json 2>/dev/null | json '",".join(sorted(set(m["version"] for m in d)))')
    new_view=$(gtn "$2" node list --json 2>/dev/null | json '",".join(sorted(set(m["version"] for m in d)))')
    [[ "$old_view" == *"$OLD_VERSION"* && "$old_view" == *"$NEW_VERSION"* && "$new_view" == "$old_view" ]] \
        || fail "mixed views differ: $1 sees $old_view, $2 sees $new_view"
    MIXED_SEEN=$((MIXED_SEEN + 1))
}

upgrade n2 n0
mixed n0 n2
wave n2 10 # from a new Mayor to two old nodes and itself
wave n1 10 # from an old Mayor to the new node too
log "wave 2 and 3: slung from n2 (gt $NEW_VERSION) and n1 (gt $OLD_VERSION) to every node"

upgrade n1 n0
mixed n0 n1
wave n0 8 # the last old Mayor slings to the two new nodes
log "wave 4: slung from n0 (gt $OLD_VERSION, the last old node) to every node"

upgrade n0 n1
wave n0 2
log "wave 5: slung from n0 on gt $NEW_VERSION; the whole cluster runs gt $NEW_VERSION"

# ---- nothing lost: every bead closed once with one merge request, merged once; the ledgers agree ----
bead_status() {
    bdn n0 export 2>/dev/null | python3 -c '
import json, sys
want = set(sys.argv[1:])
done = sum(1 for line in sys.stdin if (b := json.loads(line))["id"] in want and b.get("status") == "closed")
print(done)' "${BEADS[@]}"
}
all_closed() { [[ $(bead_status) == "${#BEADS[@]}" ]]; }
start=$(now)
wait_until 240 all_closed \
    || fail "$(bead_status) of ${#BEADS[@]} beads closed: $(bdn n0 list --rig demo 2>&1 | head -40)"
log "all ${#BEADS[@]} beads closed ($(since "$start") s after the last wave)"
summary() { # id status epoch assignee merge-request-source per bead of rig demo
    bdn "$1" export 2>/dev/null | python3 -c '
import json, sys
rows = []
for line in sys.stdin:
    b = json.loads(line)
    if not b["id"].startswith("demo-") or b.get("status") == "tombstone":
        continue
    md = b.get("metadata") or {}
    rows.append("%s %s %s %s" % (b["id"], b.get("status"), b.get("lease_epoch", 0),
                                 md.get("source_bead", "") if isinstance(md, dict) else ""))
print("\n".join(sorted(rows)))'
}
# merged: every bead has one merge request, closed, and its work is on main (the Refineries may still be merging).
merged() {
    local rows main b
    rows=$(summary n0)
    main=$(git --git-dir "$WORK/git/demo.git" log main --format=%s)
    for b in "${BEADS[@]}"; do
        [[ $(echo "$rows" | awk -v b="$b" '$NF == b { print $2 }') == closed ]] || return 1
        echo "$main" | grep -qxF "work on $b" || return 1
    done
}
wait_until 180 merged || fail "not every bead's merge request merged: $(summary n0)"
log "every merge request merged ($(since "$start") s after the last wave)"
same_ledgers() { local a; a=$(summary n0); [[ -n "$a" && "$a" == "$(summary n1)" && "$a" == "$(summary n2)" ]]; }
wait_until 60 same_ledgers || fail "the ledgers did not converge:
n0: $(summary n0)
n1: $(summary n1)
n2: $(summary n2)"
final=$(summary n0)
main_log=$(git --git-dir "$WORK/git/demo.git" log main --format=%s)
for b in "${BEADS[@]}"; do
    echo "$final" | grep -qE "^$b closed " || fail "$b is not closed: $final"
    requests=$(echo "$final" | awk -v b="$b" '$NF == b' | wc -l)
    ((requests == 1)) || fail "$b has $requests merge requests: $final"
    echo "$final" | awk -v b="$b" '$NF == b { print $2 }' | grep -qx closed || fail "$b's merge request is not closed"
    merged=$(echo "$main_log" | grep -cxF "work on $b" || true)
    ((merged == 1)) || fail "$b's work is on main $merged times"
done
# The nodes' events: each bead done and merged exactly once in the whole cluster (no second gt done, no second
# merge), and every restarted node found its hooked polecats' sessions alive (none restarted).
once=$(cat "$WORK"/n*/.gt/events.jsonl | python3 -c '
import json, sys
want = set(sys.argv[1:])
counts = {}
for line in sys.stdin:
    e = json.loads(line)
    if e.get("type") in ("done", "mq-merged") and e.get("bead") in want:
        counts[(e["type"], e["bead"])] = counts.get((e["type"], e["bead"]), 0) + 1
bad = [f"{t} {b} x{counts.get((t, b), 0)}" for b in sorted(want) for t in ("done", "mq-merged")
       if counts.get((t, b), 0) != 1]
print(" ".join(bad) if bad else "ok")' "${BEADS[@]}")
[[ "$once" == ok ]] || fail "not exactly once in the events: $once"
for name in "${NODES[@]}"; do
    primed=$(grep -F "town re-primed" "$WORK/$name/.gt/logs/node.log" | tail -1)
    [[ "$primed" == *"restarted=0"* && "$primed" != *"found=0"* ]] \
        || fail "$name after its upgrade: $primed (its hooked sessions should be found alive, none restarted)"
done
((MIXED_SEEN == 2)) || fail "the mixed-version views were not checked"
for name in "${NODES[@]}"; do
    [[ $("${BIN[$name]}/gt" --version | awk '{print $NF}') == "$NEW_VERSION" ]] || fail "$name is not on $NEW_VERSION"
done
log "slings across versions: ${SLUNG_FROM[*]}"
log "gt done retried $(cat "$WORK/done-retries" 2>/dev/null | wc -l) time(s) (an agent whose node was down)"
log "every bead done and merged once (events), closed with one merge request, its work on main once;"\
" the three ledgers agree; each upgraded node found its agents' sessions alive and restarted none"
log "ok ($(since "$T0") s in all)"
