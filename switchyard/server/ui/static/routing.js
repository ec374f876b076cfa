/* The "Routing" page: one card per router group from GET /admin/routers (members, threshold and where it comes
   from, live window, realised strong share, decisions; cascade stages; per-team or per-key windows).
   Loaded before app.js, whose helpers (h, api, every, fmt) it calls only once the page is shown. */
"use strict";

function routingWindow(w) {
  if (!w) return "–";
  return `${w.filled} / ${w.size}` + (w.warming_up ? ` (warming up: ${w.warmup} needed)` : "");
}

function routingThreshold(value, source) {
  const shown = value === null || value === undefined ? "–" : Number(value).toFixed(4);
  return source ? `${shown} (${source})` : shown;
}

function routingGroup(g) {
  const field = (name, label, value) => h("tr", { "data-field": name }, h("th", { text: label }), h("td", { text: value }));
  const decisions = Object.entries(g.decisions).map(([m, n]) => `${m}: ${n}`).join(", ") || "none yet";
  const rows = [
    field("strategy", "strategy", g.strategy + (g.shadow ? ` · shadow mode, serves ${g.serve}` : "")),
    field("members", "members (cheap → strong)", g.members.join(" → ")),
  ];
  if (g.calibration) rows.push(field("calibration", "calibration", `${g.calibration}, scope ${g.calibration_scope}`));
  if (g.target_share !== null) rows.push(field("target-share", "target strong share", fmt.pct(g.target_share)));
  if (g.cost_weight !== null) rows.push(field("cost-weight", "cost weight", String(g.cost_weight)));
  if (g.threshold !== null || g.threshold_source) {
    rows.push(field("threshold", "threshold now", routingThreshold(g.threshold, g.threshold_source)));
  }
  if (g.window) rows.push(field("window", "live window", routingWindow(g.window)));
  if (g.recent) {
    rows.push(field("realised-share", g.shadow ? "learned strong share (not served)" : "realised strong share",
      `${fmt.pct(g.realised_strong_share)} of the last ${g.recent} decisions`));
  }
  rows.push(field("decisions", "decisions served since start", decisions));
  if (g.shadow_decisions) {
    rows.push(field("shadow-decisions", "learned choices (shadow)",
      Object.entries(g.shadow_decisions).map(([m, n]) => `${m}: ${n}`).join(", ") || "none yet"));
  }
  if (g.stages) rows.push(field("stream", "streams", g.stream || "–"));
  const card = h("div", { class: "card", "data-router": g.name },
    h("h2", {}, g.name, " ", h("span", { class: "badge ok", text: g.kind })),
    h("table", { class: "fields" }, h("tbody", {}, rows)));
  if (g.stages) {
    card.append(h("h3", { text: "Cascade stages" }), h("table", { class: "stages" },
      h("thead", {}, h("tr", {}, ["stage", "threshold now", "configured", "live window", "accepted / judged",
        "failed", "recent accept share"].map((c) => h("th", { text: c })))),
      h("tbody", {}, g.stages.map((s) => h("tr", { "data-stage": s.member },
        h("td", { text: s.member }), h("td", { text: routingThreshold(s.threshold, s.calibration) }),
        h("td", { class: "num", text: Number(s.configured_threshold).toFixed(4) }),
        h("td", { text: routingWindow(s.window) }), h("td", { class: "num", text: `${s.accepted} / ${s.judged}` }),
        h("td", { class: "num", text: String(s.failed) }),
        h("td", { class: "num", text: s.recent ? `${fmt.pct(s.realised_accept_share)} of ${s.recent}` : "–" }))))));
  }
  if (g.scopes) {
    const s = g.scopes;
    card.append(h("h3", { text: `${s.count} ${s.kind} windows (at most ${s.max_count}); the fullest:` }),
      h("table", { class: "scopes" }, h("thead", {}, h("tr", {}, [`${s.kind} id`, "window", "threshold",
        "realised strong share"].map((c) => h("th", { text: c })))),
      h("tbody", {}, s.fullest.map((w) => h("tr", { "data-scope": w.scope }, h("td", { text: w.scope }),
        h("td", { text: `${w.filled}${w.warming_up ? " (warming up)" : ""}` }),
        h("td", { text: routingThreshold(w.threshold, null) }),
        h("td", { text: w.decisions ? `${fmt.pct(w.realised_strong_share)} of ${w.decisions}` : "–" }))))));
  }
  return card;
}

async function routing(page) {
  const groups = h("div", { id: "routers" });
  page.append(h("h1", { text: "Routing" }), h("p", { class: "muted",
    text: "Router groups on this instance: the threshold in use and where it comes from, how full the live "
      + "window is, and the strong share actually served (dry runs not counted). Refreshes every 5 seconds." }),
  groups);
  async function refresh() {
    const routers = (await api("/admin/routers")).data;
    groups.replaceChildren(...routers.map(routingGroup));
    if (!routers.length) groups.append(h("p", { class: "muted", id: "no-routers", text: "No router groups configured." }));
  }
  await refresh();
  every(5000, refresh);
}
