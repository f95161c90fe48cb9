#!/bin/sh
# Starts one town node in the foreground, making the town on first start.
#   GT_TOWN_DIR    the town directory                 (default: /town, the volume)
#   GT_TOWN_NAME   the town (and node) name          (default: the container's hostname)
#   GT_LISTEN      where the node listens             (default: 0.0.0.0:7946)
#   GT_JOIN        HOST:PORT of a member to join, with GT_TOKEN, on first start; unset on the CA node
#   GT_TOKEN       a one-time join token from `gt cluster token --name <name>` on the CA node
set -eu
TOWN=${GT_TOWN_DIR:-/town}
NAME=${GT_TOWN_NAME:-$(hostname)}
LISTEN=${GT_LISTEN:-0.0.0.0:7946}
if [ ! -f "$TOWN/mayor/town.json" ]; then
    gt install "$TOWN" --name "$NAME"
    if [ -n "${GT_JOIN:-}" ]; then
        gt --town "$TOWN" node join "$GT_JOIN" "${GT_TOKEN:?GT_TOKEN is needed with GT_JOIN}" --node-name "$NAME"
    else
        gt --town "$TOWN" cluster init
    fi
fi
exec gt --town "$TOWN" node run --listen "$LISTEN"
