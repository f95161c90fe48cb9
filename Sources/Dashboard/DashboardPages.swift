/// The dashboard's HTML pages, script and style sheet: plain HTML and a little JavaScript, no build step, no
/// external assets (everything is served by the node). Each page is the same shell with its own `data-page`; the
/// script fetches the page's JSON from the API, renders it, and listens to `/events` (server-sent events): every
/// town event is shown in the live strip and makes the page fetch its data again (at most every 300 ms).
///
/// A caseless namespace; nothing to share.
public enum DashboardPages {
    /// The page at `path` (one of `DashboardRoutes.pages`).
    public static func page(path: String, node: String) -> HTTPResponse {
        let title = DashboardRoutes.pages.first { $0.path == path }?.title ?? "GasTown"
        let key = path == "/" ? "nodes" : String(path.dropFirst())
        let navigation = DashboardRoutes.pages.map { page in
            "<a href=\"\(page.path)\"\(page.path == path ? " class=\"here\"" : "")>\(escape(page.title))</a>"
        }.joined(separator: "\n      ")
        let html = """
            <!doctype html>
            <html lang="en">
            <head>
              <meta charset="utf-8">
              <meta name="viewport" content="width=device-width, initial-scale=1">
              <title>\(escape(title)) · GasTown · \(escape(node))</title>
              <link rel="icon" href="data:,">
              <link rel="stylesheet" href="/static/app.css">
            </head>
            <body data-page="\(key)" data-node="\(escape(node))">
              <header>
                <strong>GasTown</strong> <span class="node">node \(escape(node))</span>
                <nav>
                  \(navigation)
                </nav>
                <span id="live-state" class="state">connecting…</span>
              </header>
              <main>
                <h1>\(escape(title))</h1>
                <div id="content"><p class="muted">Loading…</p></div>
              </main>
              <footer>
                <h2>Live events</h2>
                <ol id="events"></ol>
              </footer>
              <script src="/static/app.js"></script>
            </body>
            </html>

            """
        return .text(html, type: "text/html; charset=utf-8")
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    public static let style = """
        :root { --fg: #1d232a; --muted: #6b7580; --line: #d9dee3; --bg: #f7f8fa; --ok: #1f8a4c; --warn: #b7791f;
                --bad: #c53030; --accent: #2b6cb0; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
               background: var(--bg); }
        header { display: flex; gap: 1.2em; align-items: center; padding: .6em 1.2em; background: #fff;
                 border-bottom: 1px solid var(--line); flex-wrap: wrap; }
        header .node { color: var(--muted); }
        nav a { margin-right: .9em; color: var(--accent); text-decoration: none; }
        nav a.here { font-weight: 600; color: var(--fg); border-bottom: 2px solid var(--accent); }
        .state { margin-left: auto; font-size: 12px; color: var(--muted); }
        .state.on { color: var(--ok); }
        main { padding: 1em 1.2em; }
        h1 { font-size: 20px; margin: .2em 0 .6em; }
        h2 { font-size: 15px; margin: .8em 0 .4em; }
        table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
        th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: #eef1f4; font-weight: 600; font-size: 12px; text-transform: uppercase; color: var(--muted); }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        .badge { display: inline-block; padding: 0 .5em; border-radius: 9px; font-size: 12px; background: #e2e8f0; }
        .alive, .working, .merged, .landed, .closed, .healthy { background: #d8f3e3; color: var(--ok); }
        .suspect, .testing, .queued, .in_progress, .hooked, .stalled { background: #fdf0d5; color: var(--warn); }
        .dead, .rework, .conflict, .rejected, .blocked, .escalated, .hung { background: #fde2e2; color: var(--bad); }
        .bar { display: inline-block; width: 120px; height: 8px; background: #e2e8f0; border-radius: 4px;
               vertical-align: middle; overflow: hidden; }
        .bar > span { display: block; height: 100%; background: var(--ok); }
        pre { margin: 0; white-space: pre-wrap; font-size: 12px; max-height: 8em; overflow: auto; }
        .muted { color: var(--muted); }
        footer { padding: .4em 1.2em 1.2em; }
        #events { list-style: none; padding: 0; margin: 0; font: 12px/1.5 ui-monospace, monospace;
                  max-height: 14em; overflow: auto; background: #fff; border: 1px solid var(--line); }
        #events li { padding: .1em .6em; border-bottom: 1px solid #f0f2f4; }
        #events .type { font-weight: 600; }
        body[data-page="live"] #events { max-height: none; }
        body[data-page="live"] main { display: none; }

        """

    public static let script = """
        "use strict";
        (function () {
          const page = document.body.dataset.page;
          const content = document.getElementById("content");
          const eventsList = document.getElementById("events");
          const liveState = document.getElementById("live-state");

          function esc(value) {
            return String(value === undefined || value === null ? "" : value)
              .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
          }
          function badge(text) {
            return text ? '<span class="badge ' + esc(String(text).replace(/[^a-z_]/gi, "")) + '">' + esc(text) +
              "</span>" : "";
          }
          function table(headers, rows, empty) {
            if (rows.length === 0) { return '<p class="muted">' + esc(empty) + "</p>"; }
            return "<table><thead><tr>" + headers.map(function (h) { return "<th>" + esc(h) + "</th>"; }).join("") +
              "</tr></thead><tbody>" + rows.map(function (cells) {
                return "<tr>" + cells.map(function (c) { return "<td>" + c + "</td>"; }).join("") + "</tr>";
              }).join("") + "</tbody></table>";
          }
          function bar(done, total) {
            const percent = total > 0 ? Math.round(100 * done / total) : 0;
            return '<span class="bar"><span style="width:' + percent + '%"></span></span> ' + esc(done) + "/" +
              esc(total);
          }
          async function getJSON(path) {
            const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
            if (!response.ok) { throw new Error(path + ": HTTP " + response.status); }
            return response.json();
          }

          const renderers = {
            nodes: async function () {
              const data = await getJSON("/api/nodes");
              return table(["Node", "Status", "Address", "Free slots", "Agents", "Load", "Rigs", "Version"],
                data.nodes.map(function (n) {
                  return [esc(n.name) + (n.self ? ' <span class="muted">(this node)</span>' : ""), badge(n.status),
                    esc(n.address), '<span class="num">' + esc(n.free_slots) + "</span>", esc(n.running_agents),
                    esc(n.load.toFixed(2)), esc(n.rigs.join(", ")), esc(n.version) + (n.draining ? " draining" : "")];
                }), "No members known yet.");
            },
            rigs: async function () {
              const data = await getJSON("/api/rigs");
              return table(["Rig", "Prefix", "Remote", "Branch", "Polecats", "Working", "Open beads"],
                data.rigs.map(function (r) {
                  return [esc(r.name), esc(r.prefix), esc(r.git_url), esc(r.default_branch), esc(r.polecats),
                    esc(r.working), esc(r.open_beads)];
                }), "No rigs yet: add one with 'gt rig add'.");
            },
            polecats: async function () {
              const data = await getJSON("/api/polecats");
              return table(["Polecat", "State", "Hook", "Epochs", "Health", "Last output", "Evidence"],
                data.polecats.map(function (p) {
                  const evidence = Object.keys(p.evidence).sort().map(function (k) {
                    return esc(k) + "=" + esc(p.evidence[k]);
                  }).join("<br>");
                  return [esc(p.agent), badge(p.state),
                    p.hook_bead ? esc(p.hook_bead) + ' <span class="muted">' + esc(p.hook_title) + "</span>" : "",
                    "lease " + esc(p.hook_epoch) + ", session " + esc(p.session_epoch),
                    badge(p.health) + (p.action ? " " + esc(p.action) : "") +
                      (p.reason ? '<br><span class="muted">' + esc(p.reason) + "</span>" : ""),
                    p.last_output ? "<pre>" + esc(p.last_output) + "</pre>" : "", evidence];
                }), "No polecats yet: 'gt sling' makes them.");
            },
            convoys: async function () {
              const data = await getJSON("/api/convoys");
              return table(["Convoy", "Name", "Status", "Progress", "Tracked"],
                data.convoys.map(function (c) {
                  return [esc(c.id), esc(c.name), badge(c.status) + (c.landable ? " landable" : ""),
                    bar(c.done, c.total), c.tracked.map(function (t) {
                      return esc(t.id) + " " + badge(t.status) + (t.merge_status ? " mr " + badge(t.merge_status) : "");
                    }).join("<br>")];
                }), "No convoys.");
            },
            "merge-queue": async function () {
              const data = await getJSON("/api/merge-queue");
              return table(["Request", "Rig", "Bead", "Branch", "Status", "Epoch", "Reason"],
                data.merge_requests.map(function (m) {
                  return [esc(m.id), esc(m.rig), esc(m.source_bead), esc(m.branch), badge(m.status),
                    esc(m.lease_epoch), esc(m.reason || "")];
                }), "The merge queue is empty.");
            },
            beads: async function () {
              const data = await getJSON("/api/ledger/beads?limit=200");
              const shown = table(["Bead", "Title", "Type", "Status", "Priority", "Assignee", "Epoch", "Updated"],
                data.beads.filter(function (b) { return b.status !== "tombstone"; }).map(function (b) {
                  return [esc(b.id), esc(b.title), esc(b.issue_type), badge(b.status),
                    '<span class="num">' + esc(b.priority) + "</span>", esc(b.assignee), esc(b.lease_epoch),
                    esc((b.updated_at || "").replace("T", " ").slice(0, 19))];
                }), "The ledger is empty: 'bd create' adds a bead.");
              return shown + (data.next_cursor ? '<p class="muted">The first 200 beads; the API pages on ' +
                "(/api/ledger/beads?cursor=…).</p>" : "");
            },
            mail: async function () {
              const data = await getJSON("/api/mail");
              return table(["When", "From", "To", "Subject", ""],
                data.messages.map(function (m) {
                  return [esc(m.created_at), esc(m.from), esc(m.to), esc(m.subject), m.read ? "read" : badge("new")];
                }), "No mail.");
            },
            live: async function () { return ""; }
          };

          let pending = null;
          let loading = false;
          async function refresh() {
            if (loading) { schedule(); return; }
            loading = true;
            try {
              content.innerHTML = await (renderers[page] || renderers.nodes)();
              content.dataset.loaded = String(Date.now());
            } catch (error) {
              content.innerHTML = '<p class="muted">Could not load: ' + esc(error.message) + "</p>";
            } finally {
              loading = false;
            }
          }
          function schedule() {
            if (pending !== null) { return; }
            pending = setTimeout(function () { pending = null; refresh(); }, 300);
          }

          function showEvent(event) {
            const item = document.createElement("li");
            const fields = Object.keys(event).filter(function (k) {
              return k !== "ts" && k !== "type" && k !== "node";
            }).sort().map(function (k) { return k + "=" + event[k]; }).join(" ");
            item.innerHTML = esc((event.ts || "").replace("T", " ").slice(0, 19)) + " " + esc(event.node || "") +
              ' <span class="type">' + esc(event.type || "") + "</span> " + esc(fields);
            eventsList.insertBefore(item, eventsList.firstChild);
            while (eventsList.children.length > 200) { eventsList.removeChild(eventsList.lastChild); }
          }

          if (window.EventSource) {
            const source = new EventSource("/events");
            source.addEventListener("open", function () {
              liveState.textContent = "live";
              liveState.className = "state on";
            });
            source.addEventListener("error", function () {
              liveState.textContent = "reconnecting…";
              liveState.className = "state";
            });
            source.addEventListener("town", function (message) {
              try { showEvent(JSON.parse(message.data)); } catch (error) { return; }
              schedule();
            });
          }
          refresh();
        })();

        """
}
