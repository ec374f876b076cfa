/* The operator dashboard: a small hash-routed app over the admin API. The key lives in sessionStorage and goes
   out as a Bearer token; everything shown comes from /admin/* (and is written with textContent, never as HTML). */
"use strict";

const KEY = "switchyard.key";
const gateway = JSON.parse(document.getElementById("gateway").textContent);
const state = { timers: [], window: 900, filters: {}, cursors: [], spendBy: "model", spendSince: "7d" };

// --- helpers -------------------------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function option(value, label, selected) {
  return h("option", { value, selected: String(value) === String(selected) }, label);
}

const fmt = {
  ms: (v) => (v === null || v === undefined ? "–" : `${Math.round(v)} ms`),
  usd: (v) => (v === null || v === undefined ? "–" : `$${Number(v).toFixed(6)}`),
  pct: (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`),
  time: (ts) => new Date(ts * 1000).toLocaleString(),
  num: (v) => (v === null || v === undefined ? "–" : String(v)),
};

function statusBadge(code) {
  const kind = code < 400 ? "ok" : code < 500 ? "warn" : "bad";
  return h("span", { class: `badge ${kind}`, "data-status": code }, String(code));
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ""}` };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET", headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : response.statusText;
    if (response.status === 401) signOut(message);
    throw new ApiError(response.status, message);
  }
  return body;
}

function every(ms, fn) {
  state.timers.push(setInterval(() => fn().catch(() => {}), ms));
}

function stopTimers() {
  state.timers.forEach(clearInterval);
  state.timers = [];
}

function failure(page, error) {
  page.append(h("p", { class: "error", role: "alert" }, error.message || String(error)));
}

// --- sign in -------------------------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(KEY);
  stopTimers();
  document.getElementById("nav").hidden = true;
  document.getElementById("page").hidden = true;
  document.getElementById("login").hidden = false;
  const error = document.getElementById("login-error");
  error.hidden = !message;
  error.textContent = message || "";
}

async function signIn(event) {
  event.preventDefault();
  const key = document.getElementById("login-key").value.trim();
  sessionStorage.setItem(KEY, key);
  try {
    await api("/admin/status");
  } catch (error) {
    signOut(error.status === 403 ? "This key may not use the dashboard: it needs the admin or viewer role."
      : error.message);
    return;
  }
  document.getElementById("login-key").value = "";
  if (!location.hash || location.hash === "#/") location.hash = "#/overview";
  render();
}

// --- pages ---------------------------------------------------------------------------------------------------

async function overview(page) {
  const windows = [[300, "last 5 minutes"], [900, "last 15 minutes"], [3600, "last hour"]];
  const picker = h("select", { id: "window", onchange: (e) => { state.window = Number(e.target.value); refresh(); } },
    windows.map(([v, label]) => option(v, label, state.window)));
  const stats = h("div", { class: "stats" });
  const boxes = ["requests", "latency", "errors", "cost"].map((name) => h("div", { class: "chart", id: `chart-${name}` }));
  page.append(
    h("div", { class: "toolbar" }, h("h1", { text: "Overview" }), h("span", { class: "spacer" }), picker),
    stats, h("div", { class: "charts" }, boxes),
    h("p", { class: "muted", text: "This instance's traffic, in 5-second buckets; refreshes every 5 seconds." }),
  );
  async function refresh() {
    const s = await api(`/admin/summary?window=${state.window}`);
    const stat = (name, label, value) => h("div", { class: "stat", "data-stat": name },
      h("div", { class: "label", text: label }), h("div", { class: "value", text: value }));
    stats.replaceChildren(
      stat("requests", "requests", String(s.requests)),
      stat("rps", "requests / s", s.requests_per_s.toFixed(2)),
      stat("p50", "p50 latency", fmt.ms(s.p50_ms)),
      stat("p99", "p99 latency", fmt.ms(s.p99_ms)),
      stat("error-rate", "error rate", fmt.pct(s.error_rate)),
      stat("cost", "cost", fmt.usd(s.cost_usd)),
      stat("cache", "cache hit rate", fmt.pct(s.cache_hit_rate)),
    );
    const xs = s.series.map((p) => p.ts);
    const chart = (i, title, series, unit) => {
      const box = boxes[i];
      const plot = h("div");
      box.replaceChildren(h("h3", { text: title }), plot);
      Charts.time(plot, xs, series, unit);
    };
    chart(0, "Requests per bucket", [{ label: "requests", values: s.series.map((p) => p.requests) },
      { label: "errors", values: s.series.map((p) => p.errors) }], "");
    chart(1, "Latency", [{ label: "p50", values: s.series.map((p) => p.p50_ms) },
      { label: "p99", values: s.series.map((p) => p.p99_ms) }], "ms");
    chart(2, "Error rate", [{ label: "errors / requests",
      values: s.series.map((p) => (p.requests ? p.errors / p.requests : null)) }], "");
    chart(3, "Cost (USD)", [{ label: "cost", values: s.series.map((p) => p.cost_usd) }], "$");
  }
  await refresh();
  every(5000, refresh);
}

async function requests(page) {
  const f = state.filters;
  const select = (name, label, choices) => h("label", {}, label,
    h("select", { name }, option("", "any", f[name] || ""), choices.map((c) => option(c, c, f[name] || ""))));
  const form = h("form", { class: "filters", id: "filters" },
    select("model", "model", gateway.groups),
    select("deployment", "deployment", gateway.deployments),
    select("status", "status", ["ok", "error", "200", "400", "401", "403", "404", "429", "500", "502", "503", "504"]),
    h("label", {}, "key id", h("input", { name: "key_id", value: f.key_id || "", size: 14 })),
    h("button", { type: "submit" }, "Apply"),
    h("label", { class: "live" }, "live", h("input", { type: "checkbox", name: "live", checked: f.live !== false })),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData(form);
    state.filters = { live: data.get("live") === "on" };
    for (const name of ["model", "deployment", "status", "key_id"]) if (data.get(name)) state.filters[name] = data.get(name);
    state.cursors = [];
    render();
  });
  const body = h("tbody");
  const pager = h("div", { class: "toolbar" });
  page.append(h("h1", { text: "Requests" }), form,
    h("table", { id: "logs" }, h("thead", {}, h("tr", {}, ["time", "status", "model", "deployment", "latency",
      "tokens", "cost", "cache", "attempts", "error", "request id"].map((c) => h("th", { text: c })))), body), pager);
  async function refresh() {
    const params = new URLSearchParams({ limit: "50" });
    for (const name of ["model", "deployment", "status", "key_id"]) if (f[name]) params.set(name, f[name]);
    const cursor = state.cursors[state.cursors.length - 1];
    if (cursor) params.set("cursor", cursor);
    const logs = await api(`/admin/logs?${params}`);
    body.replaceChildren(...logs.data.map((r) => h("tr", {
      class: "clickable", "data-request-id": r.request_id,
      onclick: () => { location.hash = `#/requests/${encodeURIComponent(r.request_id)}`; },
    }, h("td", { text: fmt.time(r.ts) }), h("td", {}, statusBadge(r.status)), h("td", { text: r.model_group || "–" }),
      h("td", { text: r.deployment || "–" }), h("td", { class: "num", text: fmt.ms(r.latency_ms) }),
      h("td", { class: "num", text: r.prompt_tokens === undefined ? "–" : `${r.prompt_tokens}+${r.completion_tokens || 0}` }),
      h("td", { class: "num", text: fmt.usd(r.cost_usd) }), h("td", { text: r.cache_status || "" }),
      h("td", { class: "num", text: String(r.attempts || 0) }), h("td", { text: r.error_code || "" }),
      h("td", { class: "muted", text: r.request_id }))));
    if (!logs.data.length) body.append(h("tr", {}, h("td", { colspan: 11, class: "muted", text: "No requests match." })));
    pager.replaceChildren(
      h("button", { class: "secondary", disabled: !state.cursors.length, onclick: () => { state.cursors.pop(); render(); } }, "Newer"),
      h("button", { class: "secondary", disabled: !logs.next_cursor,
        onclick: () => { state.cursors.push(logs.next_cursor); render(); } }, "Older"));
  }
  await refresh();
  if (f.live !== false && !state.cursors.length) every(3000, refresh);
}

async function requestDetail(page, id) {
  page.append(h("p", {}, h("a", { href: "#/requests", text: "← all requests" })));
  const r = await api(`/admin/logs/${encodeURIComponent(id)}`);
  const fields = ["request_id", "ts", "endpoint", "status", "model_group", "deployment", "latency_ms", "ttft_ms",
    "stream", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "cache_status", "error_code",
    "attempts", "key_id", "team_id", "user_id", "upstream_request_id"];
  const dl = h("dl", { class: "fields", id: "detail" });
  for (const name of fields) {
    if (r[name] === undefined || r[name] === null) continue;
    dl.append(h("dt", { text: name }), h("dd", { "data-field": name, text: name === "ts" ? fmt.time(r.ts) : String(r[name]) }));
  }
  page.append(h("h1", {}, "Request ", statusBadge(r.status)), h("div", { class: "card" }, dl));
  const attempts = r.trace ? JSON.parse(r.trace) : [];
  page.append(h("h2", { text: "Decision trace" }), h("table", { id: "attempts" },
    h("thead", {}, h("tr", {}, ["#", "deployment", "group (fallback)", "duration", "outcome", "hedge"].map((c) => h("th", { text: c })))),
    h("tbody", {}, attempts.map((a, i) => h("tr", {}, h("td", { text: String(i + 1) }), h("td", { text: a.deployment }),
      h("td", { text: a.group || "" }), h("td", { class: "num", text: fmt.ms(a.ms) }),
      h("td", {}, a.error ? h("span", { class: "badge bad", text: a.error }) : h("span", { class: "badge ok", text: "ok" })),
      h("td", { text: a.hedge ? "yes" : "" }))))));
  if (!attempts.length) page.append(h("p", { class: "muted", text: "No upstream attempt: the gateway answered itself." }));
  if (r.decision) {
    let decision = r.decision;
    try { decision = JSON.stringify(JSON.parse(r.decision), null, 2); } catch (_) { /* shown as it is */ }
    page.append(h("h2", { text: "Router decision" }), h("pre", { id: "decision", text: decision }));
  }
  for (const name of ["request_body", "response_body"]) {
    if (r[name]) page.append(h("h2", { text: name.replace("_", " ") }), h("pre", { text: r[name] }));
  }
}

async function spend(page) {
  const by = h("select", { id: "spend-by", onchange: (e) => { state.spendBy = e.target.value; render(); } },
    ["model", "deployment", "key", "team", "user", "day"].map((v) => option(v, `by ${v}`, state.spendBy)));
  const since = h("select", { id: "spend-since", onchange: (e) => { state.spendSince = e.target.value; render(); } },
    [["1d", "last 24 hours"], ["7d", "last 7 days"], ["30d", "last 30 days"], ["all", "all time"]]
      .map(([v, l]) => option(v, l, state.spendSince)));
  const plot = h("div", { class: "chart", id: "spend-chart" });
  page.append(h("div", { class: "toolbar" }, h("h1", { text: "Spend" }), h("span", { class: "spacer" }), by, since), plot);
  const params = new URLSearchParams({ group_by: state.spendBy });
  const days = { "1d": 1, "7d": 7, "30d": 30 }[state.spendSince];
  if (days) params.set("since", String(Math.floor(Date.now() / 1000) - days * 86400));
  const rows = (await api(`/admin/spend?${params}`)).data;
  if (state.spendBy === "day") rows.sort((a, b) => String(a.group).localeCompare(String(b.group)));
  else rows.sort((a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests);
  const labels = rows.map((r) => r.group || "(none)");
  Charts.bars(plot, labels, rows.map((r) => r.cost_usd), "cost (USD)");
  page.append(h("table", { id: "spend" }, h("thead", {}, h("tr", {}, [state.spendBy, "requests", "prompt tokens",
    "completion tokens", "cost"].map((c, i) => h("th", { class: i ? "num" : "", text: c })))),
  h("tbody", {}, rows.map((r, i) => h("tr", {}, h("td", { text: labels[i] }), h("td", { class: "num", text: String(r.requests) }),
    h("td", { class: "num", text: String(r.prompt_tokens) }), h("td", { class: "num", text: String(r.completion_tokens) }),
    h("td", { class: "num", text: fmt.usd(r.cost_usd) }))))));
}

async function deployments(page) {
  const body = h("tbody");
  const meta = h("p", { class: "muted" });
  page.append(h("h1", { text: "Deployments" }), meta, h("table", { id: "deployments" },
    h("thead", {}, h("tr", {}, ["group", "deployment", "provider / model", "breaker", "available", "in flight",
      "latency (avg)", "ttft (avg)", "failures in window", "cooldown"].map((c) => h("th", { text: c })))), body));
  async function refresh() {
    const s = await api("/admin/status");
    meta.textContent = `${s.status} · version ${s.version} · up ${Math.round(s.uptime_s)} s · log queue ${s.log_queue_depth}`;
    body.replaceChildren(...s.model_groups.flatMap((g) => g.deployments.map((d) => h("tr", { "data-deployment": d.id },
      h("td", { text: g.name }), h("td", { text: d.id }), h("td", { text: `${d.provider} / ${d.model}` }),
      h("td", {}, h("span", { class: `badge ${d.breaker}`, text: d.breaker.replace("_", "-") })),
      h("td", { text: d.available ? "yes" : "no" }), h("td", { class: "num", text: String(d.in_flight) }),
      h("td", { class: "num", text: fmt.ms(d.latency_ms) }), h("td", { class: "num", text: fmt.ms(d.ttft_ms) }),
      h("td", { class: "num", text: `${d.failures_in_window} / ${d.attempts_in_window}` }),
      h("td", { class: "num", text: d.cooldown_s ? `${d.cooldown_s.toFixed(1)} s` : "" })))));
  }
  await refresh();
  every(5000, refresh);
}

async function keys(page) {
  const created = h("div", { id: "created" });
  const number = (name, label) => h("label", {}, label, h("input", { name, type: "number", min: "1", step: "any", size: 8 }));
  const form = h("form", { class: "filters", id: "create-key" },
    h("label", {}, "alias", h("input", { name: "alias", size: 16 })),
    h("label", {}, "role", h("select", { name: "role" }, ["user", "viewer", "team_admin", "admin"].map((r) => option(r, r, "user")))),
    h("label", {}, "models (comma-separated, empty = all)", h("input", { name: "models", size: 24 })),
    number("rpm", "rpm"), number("tpm", "tpm"), number("budget_usd", "budget USD"),
    h("label", {}, "period", h("select", { name: "budget_period" },
      ["daily", "weekly", "monthly", "total"].map((p) => option(p, p, "monthly")))),
    h("button", { type: "submit" }, "Create key"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const body = { role: data.get("role"), budget_period: data.get("budget_period") };
    if (data.get("alias")) body.alias = data.get("alias");
    const models = String(data.get("models") || "").split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length) body.models = models;
    for (const name of ["rpm", "tpm"]) if (data.get(name)) body[name] = parseInt(data.get(name), 10);
    if (data.get("budget_usd")) body.budget_usd = parseFloat(data.get("budget_usd"));
    try {
      const key = await api("/admin/keys", { method: "POST", body });
      created.replaceChildren(h("div", { class: "card" }, h("strong", { text: `Key ${key.alias || key.id} created. ` }),
        "Copy it now: it is not shown again.", h("div", { class: "secret", id: "new-secret", text: key.key })));
      form.reset();
      await refresh();
    } catch (error) {
      created.replaceChildren(h("p", { class: "error", role: "alert", text: error.message }));
    }
  });
  const body = h("tbody");
  page.append(h("h1", { text: "Keys" }), h("div", { class: "card" }, h("h2", { text: "New key" }), form), created,
    h("table", { id: "keys" }, h("thead", {}, h("tr", {}, ["alias", "prefix", "role", "status", "team", "models",
      "rpm", "budget", "created", ""].map((c) => h("th", { text: c })))), body));
  async function revoke(key) {
    if (!window.confirm(`Revoke ${key.alias || key.prefix}? Requests with it fail at once.`)) return;
    await api(`/admin/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
    await refresh();
  }
  async function refresh() {
    const page1 = await api("/admin/keys?limit=200");
    body.replaceChildren(...page1.data.map((k) => h("tr", { "data-key-id": k.id, "data-alias": k.alias || "" },
      h("td", { text: k.alias || "" }), h("td", { class: "muted", text: k.prefix }), h("td", { text: k.role }),
      h("td", {}, h("span", { class: `badge ${k.status}`, text: k.status })), h("td", { text: k.team_id || "" }),
      h("td", { text: k.models ? k.models.join(", ") : "all" }), h("td", { class: "num", text: fmt.num(k.rpm) }),
      h("td", { class: "num", text: k.budget_usd ? `${fmt.usd(k.budget_usd)} / ${k.budget_period}` : "" }),
      h("td", { text: fmt.time(k.created_at) }),
      h("td", {}, k.status === "active" ? h("button", { class: "danger", onclick: () => revoke(k) }, "Revoke") : ""))));
    if (!page1.data.length) body.append(h("tr", {}, h("td", { colspan: 10, class: "muted", text: "No keys yet." })));
  }
  await refresh();
}

// --- routing -------------------------------------------------------------------------------------------------

const PAGES = { overview, requests, spend, deployments, routing, keys };  // routing: routing.js

async function render() {
  stopTimers();
  if (!sessionStorage.getItem(KEY)) { signOut(); return; }
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const current = PAGES[name] ? name : "overview";
  document.getElementById("login").hidden = true;
  document.getElementById("nav").hidden = false;
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.page === current);
  const old = document.getElementById("page");
  const page = h("section", { id: "page", "data-page": current });
  old.replaceWith(page);
  try {
    if (current === "requests" && rest.length) await requestDetail(page, decodeURIComponent(rest.join("/")));
    else await PAGES[current](page);
  } catch (error) {
    if (error.status === 403) failure(page, new Error(`${error.message} (this page needs a key with more rights)`));
    else failure(page, error);
  }
}

document.getElementById("login-form").addEventListener("submit", signIn);
document.getElementById("logout").addEventListener("click", () => signOut());
window.addEventListener("hashchange", render);
render();
