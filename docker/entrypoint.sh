#!/bin/sh
# Starts one town node in the foreground, making the town (and joining the cluster) on first start.
#   GT_TOWN_DIR      the town directory                                  (default: /town, the volume)
#   GT_TOWN_NAME     the town (and node) name                            (default: the container's hostname)
#   GT_LISTEN        where the node listens; peers dial this address too  (default: <hostname>:7946, so the
#                    other containers reach it by name; 0.0.0.0 would tell them an address they cannot dial)
#   GT_CONFIG        a cluster-config/*.town.json applied at every start (gt node run --config)
#   GT_CLUSTER_NAME  the cluster's name, on the CA node                  (default: the town name)
#   GT_JOIN          HOST:PORT of the CA node to join on first start; unset on the CA node
#   GT_TOKEN         a one-time join token from `gt cluster token --name <name>` on the CA node
#   GT_TOKEN_DIR     instead of GT_TOKEN: a directory shared with the CA node, where it leaves <name>.token
#   GT_ISSUE_TOKENS  on the CA node with GT_TOKEN_DIR: the names to leave a token for on first start
#   GT_JOIN_TIMEOUT  seconds to wait for the token file and for the CA node to answer (default: 120)
set -eu
TOWN=${GT_TOWN_DIR:-/town}
NAME=${GT_TOWN_NAME:-$(hostname)}
LISTEN=${GT_LISTEN:-$(hostname):7946}
WAIT=${GT_JOIN_TIMEOUT:-120}
say() { echo "gastown-entrypoint: $*" >&2; }

[ -f "$TOWN/mayor/town.json" ] || gt install "$TOWN" --name "$NAME"
# First start (no node certificate yet): make the CA, or join. A join that fails leaves no certificate, so the
# next start tries again.
if [ ! -f "$TOWN/.gt/pki/node.crt" ]; then
    if [ -z "${GT_JOIN:-}" ]; then
        gt --town "$TOWN" cluster init --name "${GT_CLUSTER_NAME:-$NAME}"
        if [ -n "${GT_TOKEN_DIR:-}" ]; then
            mkdir -p "$GT_TOKEN_DIR"
            for peer in ${GT_ISSUE_TOKENS:-}; do
                gt --town "$TOWN" cluster token --name "$peer" >"$GT_TOKEN_DIR/.$peer.token"
                mv "$GT_TOKEN_DIR/.$peer.token" "$GT_TOKEN_DIR/$peer.token"
                say "left a join token for $peer in $GT_TOKEN_DIR"
            done
        fi
    else
        token=${GT_TOKEN:-}
        if [ -z "$token" ] && [ -n "${GT_TOKEN_DIR:-}" ]; then
            waited=0
            until [ -s "$GT_TOKEN_DIR/$NAME.token" ]; do
                [ "$waited" -lt "$WAIT" ] || { say "no $GT_TOKEN_DIR/$NAME.token after $WAIT s (the CA node leaves it there: GT_ISSUE_TOKENS)"; exit 1; }
                sleep 1
                waited=$((waited + 1))
            done
            token=$(cat "$GT_TOKEN_DIR/$NAME.token")
        fi
        [ -n "$token" ] || { say "GT_JOIN needs GT_TOKEN or GT_TOKEN_DIR: run 'gt cluster token --name $NAME' on the CA node"; exit 1; }
        waited=0
        until gt --town "$TOWN" node join "$GT_JOIN" "$token" --node-name "$NAME" --listen "$LISTEN"; do
            [ "$waited" -lt "$WAIT" ] || { say "could not join through $GT_JOIN within $WAIT s"; exit 1; }
            sleep 2
            waited=$((waited + 2))
        done
        [ -z "${GT_TOKEN_DIR:-}" ] || rm -f "$GT_TOKEN_DIR/$NAME.token"
    fi
fi
if [ -n "${GT_CONFIG:-}" ]; then
    exec gt --town "$TOWN" node run --listen "$LISTEN" --config "$GT_CONFIG"
fi
exec gt --town "$TOWN" node run --listen "$LISTEN"
