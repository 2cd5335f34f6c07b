// errand's dashboard: one script, no dependencies. Every view is drawn from the JSON API
// (docs/api.md). Stored values (payloads, errors, names) are untrusted: they are only ever set
// as text (el() makes text nodes), never parsed as HTML.
"use strict";

const base = document.querySelector('meta[name="errand-base"]').content;
let session = null;  // GET /api/session: store, read_only, csrf
let refreshTimer = null;
const finished = ["completed", "cancelled", "discarded"];

// --- DOM helpers ---------------------------------------------------------------------------

// el("td", {class: "num"}, "text", child, ...): strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  return put(node, ...children);
}

// Appends children to `node`: nested lists flattened, null/undefined/false skipped, strings
// and numbers as text nodes.
function put(node, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function table(headers, rows) {
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map(h =>
      el("th", {class: /^[A-Z ]*$/.test(h) && ["READY", "SCHEDULED", "RUNNING", "COMPLETED",
        "CANCELLED", "DISCARDED", "ERRORS", "PRIORITY", "PID", "FIRED", "SKIPPED"]
        .includes(h) ? "num" : null}, h)))),
    el("tbody", {}, rows));
}

// A row's checkbox for the bulk actions (none in read-only mode), and the ids ticked in `main`.
function pickCell(id) {
  return el("td", {}, session.read_only ? null : el("input", {type: "checkbox", class: "pick", value: id, "aria-label": `select ${id}`}));
}
function ticked(main) { return [...main.querySelectorAll("input.pick:checked")].map(b => Number(b.value)); }

function stateCell(state) { return el("span", {class: "state " + state}, state); }
function num(n) { return el("td", {class: "num"}, n === null || n === undefined ? "-" : n); }
// A count the API took with a limit (count_limit, `errand web --count-limit`): at or above it,
// at least that many.
function atLeast(n, limit) { return limit > 0 && n >= limit; }
function countText(n, limit) { return atLeast(n, limit) ? `${n}+` : n; }
function countCell(n, limit) {
  return el("td", {class: "num", title: atLeast(n, limit) ? `at least ${n}: counts stop at ${limit}` : null},
    countText(n, limit));
}
// Says what "N+" means under a view whose counts reached their limit.
function countNote(limit, reached) {
  return reached ? el("p", {class: "muted"}, `N+: at least N; counts stop at ${limit} per queue and state, so that pages stay fast on big tables (errand web --count-limit).`) : null;
}
function text(value) { return el("td", {}, el("div", {class: "cell", title: value ?? ""}, value ?? "")); }

function when(iso) {
  if (!iso) return "-";
  const t = new Date(iso);
  const s = Math.round((Date.now() - t.getTime()) / 1000);
  const ago = Math.abs(s) < 60 ? `${Math.abs(s)} s` : Math.abs(s) < 3600 ? `${Math.round(Math.abs(s) / 60)} min`
    : `${Math.round(Math.abs(s) / 3600)} h`;
  return `${iso.replace("T", " ").replace(/\.\d+/, "")} (${s >= 0 ? ago + " ago" : "in " + ago})`;
}

// A line chart of the last hour, one point per minute: `series` are {label, cls (line-good,
// line-bad, line-accent, line-warn), values (a number or null per minute), total (its caption)}.
function chart(id, title, series, unit) {
  const ns = "http://www.w3.org/2000/svg", w = 600, h = 120, pad = 4;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const all = series.flatMap(s => s.values.filter(v => v !== null));
  const top = Math.max(...all, 0) || 1;
  const points = series[0].values.length;
  const x = i => pad + i * (w - 2 * pad) / Math.max(1, points - 1);
  const y = v => h - pad - v / top * (h - 2 * pad);
  for (const s of series) {
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("class", s.cls);
    line.setAttribute("points", s.values.map((v, i) => v === null ? null : `${x(i)},${y(v)}`)
      .filter(p => p !== null).join(" "));
    svg.append(line);
    // A minute between two without a value would be no line at all: a dot shows it.
    s.values.forEach((v, i) => {
      if (v === null || (s.values[i - 1] ?? null) !== null || (s.values[i + 1] ?? null) !== null) return;
      const dot = document.createElementNS(ns, "ellipse");
      dot.setAttribute("class", "dot " + s.cls);
      dot.setAttribute("cx", x(i));
      dot.setAttribute("cy", y(v));
      dot.setAttribute("rx", 4);
      dot.setAttribute("ry", 4);
      svg.append(dot);
    });
  }
  return el("figure", {class: "chart", id: `chart-${id}`},
    el("figcaption", {}, el("b", {}, title),
      series.map(s => [el("span", {class: "key " + s.cls}), `${s.label} ${s.total}`]),
      el("span", {class: "muted"}, ` (top of the scale: ${+top.toPrecision(3)} ${unit})`)),
    svg);
}

function pretty(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

// --- the API -------------------------------------------------------------------------------

async function api(path, body) {
  const init = {credentials: "same-origin", headers: {}};
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.headers["X-Errand-CSRF"] = session.csrf;
    init.body = JSON.stringify(body);
  }
  const response = await fetch(base + path, init);
  const data = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== undefined && v !== null && v !== false) q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

function banner(message, ok) {
  const box = document.getElementById("banner");
  box.replaceChildren();
  if (message) box.append(el("div", {class: ok ? "banner ok" : "banner", role: "status"}, message));
}

// An action button: hidden in read-only mode; runs `act`, shows its result, redraws.
function action(label, act, cls) {
  if (session.read_only) return null;
  return el("button", {class: cls || null, onclick: async (event) => {
    event.target.disabled = true;
    try {
      const message = await act();
      banner(message || "done", true);
    } catch (e) {
      banner(e.message);
    }
    event.target.disabled = false;
    route();
  }}, label);
}

// The overview's charts of GET /api/overview's `activity` (a minute each, oldest first).
function activityCharts(minutes) {
  const sum = key => minutes.reduce((n, m) => n + m[key], 0);
  const started = sum("started");
  const waited = minutes.reduce((n, m) => n + (m.latency_avg_s ?? 0) * m.started, 0);
  const longest = Math.max(0, ...minutes.map(m => m.latency_max_s ?? 0));
  const seconds = s => `${+s.toPrecision(3)} s`;
  return el("div", {class: "charts"},
    chart("throughput", "Jobs per minute", [
      {label: "completed", cls: "line-good", values: minutes.map(m => m.completed), total: sum("completed")},
      {label: "failed", cls: "line-bad", values: minutes.map(m => m.failed), total: sum("failed")}], "jobs"),
    chart("latency", "Wait from due to start", [
      {label: "average", cls: "line-accent", values: minutes.map(m => m.latency_avg_s),
        total: started ? seconds(waited / started) : "-"},
      {label: "longest", cls: "line-warn", values: minutes.map(m => m.latency_max_s),
        total: started ? seconds(longest) : "-"}], "s"));
}

// --- views ---------------------------------------------------------------------------------

// The overview's cards: /api/overview's counts.
const countKeys = ["ready", "scheduled", "running", "abandoned", "failing", "dead", "completed", "cancelled"];

const views = {
  async overview(main) {
    const o = await api("/api/overview");
    const c = o.counts;
    put(main, el("h1", {}, "Overview"),
      el("div", {class: "cards", id: "counts"}, countKeys.map(k =>
        el("a", {class: "card", href: `#/jobs?state=${k === "dead" ? "discarded" : k === "failing" ? "" : k}`, dataset: {state: k}},
          el("div", {class: "n"}, countText(c[k], c.count_limit)), el("div", {class: "l"}, k)))),
      countNote(c.count_limit, countKeys.some(k => atLeast(c[k], c.count_limit)) ||
        o.queues.some(q => queueReachedLimit(q))),
      el("h2", {}, "The last hour"),
      activityCharts(o.activity),
      el("h2", {}, "Queues"),
      queueTable(o.queues, false),
      el("h2", {}, "Workers"),
      el("p", {}, el("a", {href: "#/workers"}, `${o.workers.alive} alive`), `, ${o.workers.lost} lost`),
      el("p", {class: "muted"}, `As of ${when(o.now)}; refreshes every 5 s.`));
    refreshTimer = setTimeout(route, 5000);
  },

  async jobs(main, params) {
    // The page's address carries the API's parameters as they are (payload.FIELD=VALUE too).
    const keys = ["state", "type", "queue", "failing", "priority_min", "priority_max", "created_from",
      "created_before", "sort", "after", "limit"];
    const filter = {};
    for (const [k, v] of params) if (keys.includes(k) || k.startsWith("payload.")) filter[k] = v;
    const payload = Object.keys(filter).find(k => k.startsWith("payload.")) || "";
    // What the API lists first without a sort: a payload search, newest.
    const newestByDefault = !!payload;
    const data = await api("/api/jobs" + qs(filter));
    const form = el("form", {class: "filters", onsubmit: (e) => {
      e.preventDefault();
      const f = new FormData(e.target);
      const next = {};
      for (const k of ["state", "type", "queue", "priority_min", "priority_max", "created_from", "created_before", "sort"])
        next[k] = f.get(k).trim();
      next.failing = f.get("failing") ? "true" : "";
      const field = f.get("payload_field").trim();
      if (field) next["payload." + field] = f.get("payload_value");
      location.hash = "#/jobs" + qs(next);
    }},
      el("label", {}, "State", el("select", {name: "state"}, ["", "ready", "scheduled", "running", "abandoned",
        "completed", "cancelled", "discarded"].map(s => el("option", {value: s, selected: s === (filter.state || "")}, s || "any")))),
      el("label", {}, "Type", el("input", {name: "type", value: filter.type || ""})),
      el("label", {}, "Queue", el("input", {name: "queue", value: filter.queue || ""})),
      el("label", {}, "Priority from", el("input", {name: "priority_min", class: "short", inputmode: "numeric", value: filter.priority_min || ""})),
      el("label", {}, "to", el("input", {name: "priority_max", class: "short", inputmode: "numeric", value: filter.priority_max || ""})),
      el("label", {}, "Enqueued from", el("input", {name: "created_from", placeholder: "2026-12-01T00:00:00Z", value: filter.created_from || ""})),
      el("label", {}, "before", el("input", {name: "created_before", placeholder: "2026-12-02", value: filter.created_before || ""})),
      el("label", {}, "Payload field", el("input", {name: "payload_field", placeholder: "customer_id", value: payload.slice(8)})),
      el("label", {}, "equals", el("input", {name: "payload_value", placeholder: "42", value: payload ? filter[payload] : ""})),
      el("label", {}, "Sort", el("select", {name: "sort"}, [
        ["", newestByDefault ? "newest first (the default with a payload field)" : "claim order"],
        ...(newestByDefault ? [["natural", "claim order"]] : []), ["newest", "newest first"], ["oldest", "oldest first"]].map(([v, l]) => el("option", {value: v, selected: v === (filter.sort || "")}, l)))),
      el("label", {class: "inline"}, el("input", {type: "checkbox", name: "failing", checked: filter.failing === "true"}), "failing only"),
      el("button", {type: "submit"}, "Filter"));
    const page = (after) => "#/jobs" + qs({...filter, after});
    // Bulk actions: on the ticked rows, or (with "all matching") on every job the filter selects,
    // 500 a call, each call going on from the last one's `next` (docs/api.md).
    const selection = Object.fromEntries(Object.entries(filter).filter(([k]) => !["sort", "after", "limit"].includes(k)));
    const tally = (total) => Object.entries(total).map(([k, n]) => `${n} ${k}`).join(", ") || "no job matched";
    const bulk = (verb) => async () => {
      const everything = main.querySelector("#all-matching").checked;
      let body = everything ? {all: true, filter: selection} : {ids: ticked(main)};
      if (!everything && !body.ids.length) throw new Error("Tick some jobs first, or “all matching the filter”.");
      const total = {};
      for (;;) {
        const r = await api(`/api/jobs/${verb}`, body);
        for (const [k, n] of Object.entries(r.counts)) total[k] = (total[k] || 0) + n;
        if (!everything || !r.next) break;
        banner(`${verb}: ${tally(total)} so far…`, true);
        body = {...body, after: r.next};
      }
      return `${verb}: ${tally(total)}`;
    };
    put(main, el("h1", {}, "Jobs"), form,
      session.read_only ? null : el("div", {class: "actions"},
        action("Retry", bulk("retry")), action("Cancel", bulk("cancel"), "danger"),
        action("Delete", bulk("delete"), "danger"),
        el("label", {class: "inline"}, el("input", {type: "checkbox", id: "all-matching"}),
          "all jobs matching the filter, not only the ticked ones")),
      table(["", "ID", "TYPE", "QUEUE", "STATE", "PRIORITY", "ERRORS", "ENQUEUED", "RUN AT", "LAST ERROR"],
        data.jobs.map(j => el("tr", {dataset: {id: j.id}},
          pickCell(j.id),
          el("td", {}, el("a", {href: `#/jobs/${j.id}`}, j.id)), text(j.name), text(j.queue),
          el("td", {}, stateCell(j.state)), num(j.priority), num(j.error_count), text(when(j.created_at)),
          text(when(j.run_at)), text(j.last_error)))),
      el("p", {class: "muted", id: "jobs-summary"}, `${data.jobs.length} job(s) on this page (at most ${data.limit}).`,
        data.scanned !== undefined ? ` The payload condition was checked on ${data.scanned} job(s) read${data.scan_limited
          ? " (the most one page reads: 10,000 jobs, or what it reads in 50 ms); the next page goes on from there" : ""}.` : ""),
      el("p", {class: "pager"},
        filter.after ? el("a", {href: page(""), id: "first-page"}, "« First page") : null, " ",
        data.next ? el("a", {href: page(data.next), id: "next-page"}, "Next page »") : null));
  },

  async job(main, params, id) {
    const j = await api(`/api/jobs/${encodeURIComponent(id)}`);
    const fields = [["id", j.id], ["type", j.name], ["state", stateCell(j.state)], ["queue", j.queue],
      ["partition key", j.partition_key], ["priority", j.priority], ["errors", j.error_count],
      ["snoozes", j.snoozes], ["run at", when(j.run_at)], ["created at", when(j.created_at)],
      ["locked by", j.locked_by], ["locked at", j.locked_at && when(j.locked_at)],
      ["finished at", j.finished_at && when(j.finished_at)],
      ["progress", j.progress === null ? null : `${Math.round(j.progress * 100)}% ${j.progress_message || ""}`],
      ["cancel requested", j.cancel_requested_at ? `${when(j.cancel_requested_at)}: ${j.cancel_reason || ""}` : null],
      ["context", j.context], ["last error", j.last_error]];
    put(main, el("h1", {}, `Job ${j.id}`),
      el("div", {class: "actions"}, finished.includes(j.state)
        ? action("Retry", async () => { await api(`/api/jobs/${j.id}/retry`, {}); return `job ${j.id} retried`; })
        : action("Cancel", async () => { const r = await api(`/api/jobs/${j.id}/cancel`, {}); return `job ${j.id}: ${r.result}`; }, "danger"),
        ["running", "abandoned"].includes(j.state) ? null
          : action("Delete", async () => { await api(`/api/jobs/${j.id}/delete`, {}); return `job ${j.id} deleted`; }, "danger")),
      el("dl", {class: "fields"}, fields.filter(([, v]) => v !== null && v !== undefined && v !== "")
        .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("h2", {}, "Payload"), el("pre", {id: "payload"}, pretty(j.payload)),
      j.output !== null ? [el("h2", {}, "Output"), el("pre", {}, pretty(j.output))] : null,
      el("h2", {}, "Attempts"),
      j.attempts.length ? table(["#", "AT", "WORKER", "ERROR"], j.attempts.map(a => el("tr", {},
        num(a.attempt), text(when(a.at)), text(a.worker), el("td", {}, el("pre", {}, a.error)))))
        : el("p", {class: "muted"}, j.attempts_unreadable || "No failed attempts."));
  },

  async dead(main, params) {
    const type = params.get("type") || "";
    const data = await api("/api/dead" + qs({type, limit: params.get("limit") || 50}));
    const form = el("form", {class: "filters", onsubmit: (e) => {
      e.preventDefault();
      location.hash = "#/dead" + qs({type: new FormData(e.target).get("type")});
    }}, el("label", {}, "Type", el("input", {name: "type", value: type})), el("button", {type: "submit"}, "Filter"));
    put(main, el("h1", {}, "Dead-letter queue"), form,
      el("div", {class: "actions"},
        action("Retry selected", async () => { const r = await api("/api/dead/retry", {ids: ticked(main)}); return `${r.count} job(s) retried`; }),
        action("Purge selected", async () => { const r = await api("/api/dead/purge", {ids: ticked(main)}); return `${r.count} job(s) purged`; }, "danger"),
        type ? action(`Retry every dead ${type}`, async () => { const r = await api("/api/dead/retry", {type}); return `${r.count} job(s) retried`; }, "secondary")
          : action("Retry every dead job", async () => { const r = await api("/api/dead/retry", {all: true}); return `${r.count} job(s) retried`; }, "secondary"),
        type ? action(`Purge every dead ${type}`, async () => { const r = await api("/api/dead/purge", {type}); return `${r.count} job(s) purged`; }, "danger")
          : null),
      table(["", "ID", "TYPE", "QUEUE", "ERRORS", "FAILED AT", "LAST ERROR"], data.dead.map(d => el("tr", {dataset: {id: d.id}},
        pickCell(d.id),
        el("td", {}, el("a", {href: `#/jobs/${d.id}`}, d.id)), text(d.name), text(d.queue), num(d.error_count),
        text(when(d.failed_at)), text(d.last_error)))),
      el("p", {class: "muted"}, `${data.dead.length} dead job(s) shown (at most ${data.limit}).`));
  },

  async queues(main) {
    const data = await api("/api/queues");
    put(main, el("h1", {}, "Queues"), queueTable(data.queues, true),
      countNote(data.queues.length ? data.queues[0].count_limit : 0, data.queues.some(q => queueReachedLimit(q))));
  },

  async schedules(main) {
    const data = await api("/api/schedules");
    put(main, el("h1", {}, "Recurring jobs"),
      table(["NAME", "SPEC", "JOB", "STATE", "LAST TICK", "NEXT", "FIRED", "SKIPPED", ""], data.schedules.map(s =>
        el("tr", {dataset: {name: s.name}}, text(s.name), text(`${s.spec} (${s.zone})`), text(s.job),
          el("td", {}, stateCell(s.state)), text(s.last_tick ? when(s.last_tick) : "none yet"),
          el("td", {}, s.spec_problem ? el("span", {class: "error"}, s.spec_problem) : s.next.slice(0, 3).map(t => el("div", {}, t))),
          num(s.fired), num(s.skipped),
          el("td", {}, el("div", {class: "actions"},
            s.paused ? action("Resume", () => api(`/api/schedules/${encodeURIComponent(s.name)}/resume`, {}).then(() => `${s.name} resumed`))
                     : action("Pause", () => api(`/api/schedules/${encodeURIComponent(s.name)}/pause`, {}).then(() => `${s.name} paused`), "secondary"),
            action("Trigger", () => api(`/api/schedules/${encodeURIComponent(s.name)}/trigger`, {}).then(r => `${s.name}: job ${r.job_id} enqueued`))))))));
  },

  async workers(main) {
    const data = await api("/api/workers");
    put(main, el("h1", {}, "Workers"),
      table(["ID", "HOST", "PID", "QUEUES", "STATE", "RUNNING", "STARTED", "LAST HEARTBEAT"], data.workers.map(w =>
        el("tr", {}, text(w.id), text(w.host), num(w.pid),
          w.queues.length ? text(w.queues.join(", ")) : el("td", {class: "muted"}, "every queue"),
          el("td", {}, stateCell(w.state)),
          el("td", {class: "num"}, `${w.running}/${w.concurrency}`), text(when(w.started_at)), text(when(w.heartbeat_at))))),
      data.workers.length ? null : el("p", {class: "muted"}, "No workers registered."));
    refreshTimer = setTimeout(route, 5000);
  },
};

function queueReachedLimit(q) {
  return [q.ready, q.scheduled, q.completed, q.discarded].some(n => atLeast(n, q.count_limit));
}

function queueTable(queues, withActions) {
  return table(["QUEUE", "STATE", "READY", "SCHEDULED", "RUNNING", "COMPLETED", "DISCARDED", "LIMITS", "OLDEST READY", withActions ? "" : null].filter(h => h !== null),
    queues.map(q => el("tr", {dataset: {queue: q.name}},
      el("td", {}, el("a", {href: `#/jobs?queue=${encodeURIComponent(q.name)}`}, q.name)),
      el("td", {}, stateCell(q.paused ? "paused" : "active")),
      countCell(q.ready, q.count_limit), countCell(q.scheduled, q.count_limit), num(q.running),
      countCell(q.completed, q.count_limit), countCell(q.discarded, q.count_limit),
      text([q.global_limit && `global ${q.running}/${q.global_limit}`, q.per_key_limit && `per key ${q.busiest_key_running}/${q.per_key_limit}`,
        q.rate_limit && `rate ${q.rate_limit}`].filter(Boolean).join(", ") || "none"),
      text(q.oldest_ready_age_s === null ? "-" : `${q.oldest_ready_age_s.toFixed(1)} s`),
      withActions ? el("td", {}, el("div", {class: "actions"},
        q.paused ? action("Resume", () => api(`/api/queues/${encodeURIComponent(q.name)}/resume`, {}).then(() => `${q.name} resumed`))
                 : action("Pause", () => api(`/api/queues/${encodeURIComponent(q.name)}/pause`, {}).then(() => `${q.name} paused`), "secondary"),
        session.read_only ? null : limitsForm(q))) : null)));
}

function limitsForm(q) {
  return el("form", {class: "filters", onsubmit: async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const value = (name) => f.get(name) === "" ? null : Number(f.get(name));
    try {
      await api(`/api/queues/${encodeURIComponent(q.name)}/limits`, {clear: true, global: value("global"),
        per_key: value("per_key"), rate: f.get("rate") === "" ? null : f.get("rate")});
      banner(`${q.name}: limits set`, true);
    } catch (err) { banner(err.message); }
    route();
  }},
    el("label", {}, "Global", el("input", {name: "global", size: 4, value: q.global_limit ?? ""})),
    el("label", {}, "Per key", el("input", {name: "per_key", size: 4, value: q.per_key_limit ?? ""})),
    el("label", {}, "Rate", el("input", {name: "rate", size: 7, placeholder: "10/s", value: q.rate_limit ?? ""})),
    el("button", {type: "submit", class: "secondary"}, "Set limits"));
}

// --- routing -------------------------------------------------------------------------------

// Draws the view the address names. Calls overlap (an action redraws as the user navigates on):
// only the latest one draws, so an earlier, slower one never replaces a newer page.
let routeGeneration = 0;
async function route() {
  const generation = ++routeGeneration;
  clearTimeout(refreshTimer);
  const hash = location.hash.replace(/^#\/?/, "") || "overview";
  const [path, query] = hash.split("?");
  const parts = path.split("/");
  const params = new URLSearchParams(query || "");
  let view = parts[0];
  let id = null;
  if (view === "jobs" && parts[1]) { view = "job"; id = parts[1]; }
  for (const link of document.querySelectorAll("header nav a"))
    link.classList.toggle("active", link.dataset.view === (view === "job" ? "jobs" : view));
  const main = el("main", {id: "view", dataset: {route: hash}});
  try {
    if (!Object.hasOwn(views, view)) throw new Error("no such page");
    await views[view](main, params, id);
  } catch (e) {
    main.replaceChildren(el("div", {class: "banner"}, e.message));
  }
  if (generation !== routeGeneration) return;
  document.getElementById("view").replaceWith(main);
}

async function start() {
  const app = document.getElementById("app");
  try {
    session = await api("/api/session");
  } catch (e) {
    app.replaceChildren(el("div", {class: "banner"}, e.message));
    return;
  }
  const link = (view, label) => el("a", {href: `#/${view}`, dataset: {view}}, label);
  app.replaceChildren(
    el("header", {},
      el("span", {class: "brand"}, "errand"),
      el("nav", {}, link("overview", "Overview"), link("jobs", "Jobs"), link("dead", "Dead"),
        link("queues", "Queues"), link("schedules", "Recurring"), link("workers", "Workers")),
      session.read_only ? el("span", {class: "badge ro", id: "read-only"}, "read-only") : null,
      el("span", {class: "store"}, session.store)),
    el("div", {id: "banner"}),
    el("main", {id: "view"}));
  window.addEventListener("hashchange", () => { banner(""); route(); });
  route();
}

start();
