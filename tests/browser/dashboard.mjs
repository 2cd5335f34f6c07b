// The dashboard in a real browser (Debian's chromium driven by playwright-core), against a real
// `errand web` on one store: every page loads without errors; filters; a job's page; bulk cancel,
// retry and delete on the jobs page (ticked rows, all matching the filter); bulk retry from the
// dead-letter queue; pausing a queue stops its workers; cancelling a running job;
// untrusted payloads render as text; a POST without the CSRF token is refused; read-only shows
// no action and refuses POSTs; counts over --count-limit show N+; a reachable address without a
// token refuses to start.
//
//   node tests/browser/dashboard.mjs --errand PATH --fixture PATH --db URL [--screenshots DIR]
//
// scripts/test's browser stage runs it once per store. Exits 1 at the first failed check.
import {spawn, spawnSync} from "node:child_process";
import assert from "node:assert/strict";
import {createRequire} from "node:module";
import path from "node:path";

const require = createRequire(path.resolve(process.env.ERRAND_BROWSER_NODE_DIR || ".", "x.js"));
const {chromium} = require("playwright-core");

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
  a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs, []));
for (const needed of ["errand", "fixture", "db"])
  if (!args[needed]) { console.error(`usage: missing --${needed}`); process.exit(64); }

const children = [];
// For a failure's report: the browser and its page, what each `errand web` wrote to stderr.
let browser = null;
let page = null;
const problems = [];
const webLogs = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let checks = 0;
function ok(what) { checks++; console.log(`ok ${checks} - ${what}`); }

// Runs the fixture to its end.
function fixture(...rest) {
  const r = spawnSync(args.fixture, rest, {encoding: "utf8", timeout: 120000});
  assert.equal(r.status, 0, `errand_browser_fixture ${rest.join(" ")}: ${r.stderr}`);
  return r.stdout.trim().split("\n").filter(Boolean);
}

// Starts `errand web`; resolves with its URL once it prints it.
function startWeb(...extra) {
  const child = spawn(args.errand, ["--db", args.db, "web", "--listen", "127.0.0.1:0", ...extra],
    {stdio: ["ignore", "pipe", "pipe"]});
  children.push(child);
  let err = "";
  const log = {args: extra.join(" ") || "(default)", text: ""};
  webLogs.push(log);
  child.stderr.on("data", (d) => { err += d; log.text = (log.text + d).slice(-4000); });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/at (http:\/\/[^\s/]+)\//);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`errand web exited with ${code}: ${err}`)));
    setTimeout(() => reject(new Error("errand web did not start within 30 s")), 30000);
  });
}

async function api(base, p) {
  const r = await fetch(base + p);
  assert.equal(r.status, 200, `GET ${p}: ${r.status}`);
  return r.json();
}

// Polls `check` (async, true when done) every 200 ms for up to `seconds`.
async function until(what, check, seconds = 30) {
  for (let i = 0; i < seconds * 5; i++) {
    if (await check()) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting until ${what}`);
}

async function main() {
  fixture("seed", args.db);
  const base = await startWeb();
  browser = await chromium.launch({executablePath: process.env.ERRAND_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"]});
  page = await browser.newPage({viewport: {width: 1280, height: 860}});
  page.on("dialog", (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss(); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  // Opens a view and waits until that view (not the one before it) shows `selector`.
  const go = async (hash, selector, at = base) => {
    await page.goto(`${at}/#/${hash}`);
    await page.waitForSelector(`main[data-route="${hash}"] ${selector}`);
  };
  const shot = async (name) => {
    if (args.screenshots) await page.screenshot({path: path.join(args.screenshots, `dashboard-${name}.png`)});
  };

  // Every page loads.
  await go("overview", "#counts");
  assert.equal(await page.textContent('[data-state="ready"] .n'), "2");
  await shot("overview");
  for (const [view, selector] of [["jobs", "table"], ["dead", "table"], ["queues", "table"],
    ["schedules", "table"], ["workers", "h1"]]) {
    await go(view, selector);
    await shot(view);
  }
  ok("every page loads");

  // Filter jobs by state and type.
  await go("jobs", "form.filters");
  await page.selectOption('select[name="state"]', "discarded");
  await page.fill('input[name="type"]', "Doomed");
  await page.click('form.filters button[type="submit"]');
  await page.waitForSelector('main[data-route*="state=discarded"] tbody tr');
  assert.equal(await page.locator("tbody tr").count(), 3);
  await page.fill('input[name="type"]', "Note");
  await page.selectOption('select[name="state"]', "ready");
  await page.click('form.filters button[type="submit"]');
  await page.waitForSelector('main[data-route*="type=Note"] tbody tr');
  assert.equal(await page.locator("tbody tr").count(), 2);
  ok("jobs filter by state and type");

  // Filter by a payload field: the two Notes for customer 42 (one ready, one scheduled).
  await page.selectOption('select[name="state"]', "");
  await page.fill('input[name="payload_field"]', "customer_id");
  await page.fill('input[name="payload_value"]', "42");
  await page.click('form.filters button[type="submit"]');
  await page.waitForSelector('main[data-route*="payload.customer_id=42"] tbody tr');
  assert.equal(await page.locator("tbody tr").count(), 2);
  assert.match(await page.textContent("#jobs-summary"), /payload condition was checked/);
  await page.selectOption('select[name="state"]', "ready");
  await page.click('form.filters button[type="submit"]');
  await page.waitForSelector('main[data-route*="state=ready"][data-route*="payload.customer_id=42"] tbody tr');
  assert.equal(await page.locator("tbody tr").count(), 1);
  ok("jobs filter by a payload field");

  // Keyset pages: one Note per page, each page a different one, then no next page.
  await go("jobs?type=Note&state=ready&limit=1", "tbody tr");
  const firstId = await page.getAttribute("tbody tr", "data-id");
  await page.click("#next-page");
  await page.waitForSelector('main[data-route*="after="] tbody tr');
  const secondId = await page.getAttribute("tbody tr", "data-id");
  assert.notEqual(firstId, secondId);
  const secondRoute = await page.getAttribute("main", "data-route");
  await page.click("#next-page");
  await page.waitForFunction((r) => document.querySelector("main").dataset.route !== r, secondRoute);
  await page.waitForSelector("#jobs-summary");
  assert.equal(await page.locator("tbody tr").count(), 0);
  assert.equal(await page.locator("#next-page").count(), 0);
  ok("jobs page on with the keyset cursor");

  // A job's page shows untrusted payloads as text.
  const notes = (await api(base, "/api/jobs?type=Note&state=ready")).jobs;
  for (const note of notes) {
    await go(`jobs/${note.id}`, "#payload");
    const shown = await page.textContent("#payload");
    assert.ok(shown.includes(note.payload.text), `payload shown as text: ${shown}`);
    assert.equal(await page.locator("img").count(), 0, "no injected element");
    assert.equal(await page.locator("#view script").count(), 0, "no injected script");
  }
  await shot("job");
  ok("a job's page shows every field; <script> and onerror payloads render as text");

  // Bulk actions on the Jobs page: on the ticked rows, and on all jobs matching the filter.
  const quick = fixture("enqueue", args.db, "Note", "3").map(Number);
  const stateOf = async (id) => {
    const r = await fetch(`${base}/api/jobs/${id}`);
    return r.status === 404 ? "gone" : (await r.json()).state;
  };
  const bulk = async (hash, rows, tick, button, expected) => {
    await go("queues", "table");  // away first: the same address again would not redraw
    await go(hash, "tbody tr");
    assert.equal(await page.locator("tbody tr").count(), rows, `${hash}: rows`);
    if (tick === "all") await page.check("#all-matching");
    else await page.check(`input.pick[value="${tick}"]`);
    await page.click(`main .actions button:has-text("${button}")`);
    await page.waitForSelector(".banner.ok");
    assert.equal(await page.textContent(".banner.ok"), expected);
  };
  await bulk("jobs?type=Note&payload.text=quick", 3, quick[0], "Cancel", "cancel: 1 cancelled");
  assert.equal(await stateOf(quick[0]), "cancelled");
  await bulk("jobs?type=Note&payload.text=quick", 2, "all", "Delete", "delete: 2 deleted");
  assert.deepEqual([await stateOf(quick[1]), await stateOf(quick[2])], ["gone", "gone"]);
  await bulk("jobs?state=cancelled&type=Note", 1, "all", "Retry", "retry: 1 retried");
  assert.equal(await stateOf(quick[0]), "ready");
  await bulk("jobs?type=Note&payload.text=quick", 1, quick[0], "Delete", "delete: 1 deleted");
  assert.equal(await stateOf(quick[0]), "gone");
  ok("bulk cancel, retry and delete of ticked jobs and of all jobs matching the filter");

  // Bulk retry from the dead-letter queue: the jobs move back to ready.
  await go("dead", "input.pick");
  for (const box of await page.locator("input.pick").all()) await box.check();
  await page.click('button:has-text("Retry selected")');
  await page.waitForSelector(".banner.ok");
  assert.match(await page.textContent(".banner.ok"), /3 job\(s\) retried/);
  assert.equal((await api(base, "/api/dead")).dead.length, 0);
  assert.equal((await api(base, "/api/jobs?type=Doomed&state=ready")).jobs.length, 3);
  ok("bulk retry from the dead-letter queue moves the jobs back");

  // Pause the queue from the page: a worker started now runs nothing; resume: it runs them.
  await go("queues", 'tr[data-queue="default"]');
  await page.click('tr[data-queue="default"] button:has-text("Pause")');
  await page.waitForSelector('tr[data-queue="default"] button:has-text("Resume")');
  const worker = spawn(args.fixture, ["work", args.db], {stdio: "ignore"});
  children.push(worker);
  await until("the worker registers", async () => (await api(base, "/api/workers")).workers.length === 1);
  await sleep(1500);
  const defaultQueue = async () => (await api(base, "/api/queues")).queues.find((q) => q.name === "default");
  assert.equal((await defaultQueue()).ready, 2, "a paused queue's jobs stay ready");
  await until("the worker runs the other queue's jobs meanwhile", async () =>
    (await api(base, "/api/dead")).dead.length === 3);
  assert.equal((await defaultQueue()).ready, 2, "a paused queue's jobs stay ready");
  await page.click('tr[data-queue="default"] button:has-text("Resume")');
  await until("the worker runs the queue once resumed", async () => (await defaultQueue()).ready === 0);
  ok("pausing a queue stops its workers; resuming lets them run");

  // Cancel a running job from its page.
  const [sleeper] = fixture("enqueue", args.db, "Sleeper", "1");
  await until("the Sleeper runs", async () => (await api(base, `/api/jobs/${sleeper}`)).state === "running");
  await go(`jobs/${sleeper}`, "#payload");
  await page.click('button:has-text("Cancel")');
  await page.waitForSelector(".banner.ok");
  assert.match(await page.textContent(".banner.ok"), /requested/);
  await until("the running job ends cancelled", async () =>
    (await api(base, `/api/jobs/${sleeper}`)).state === "cancelled");
  ok("cancelling a running job from its page");

  // The overview charts the last hour: the worker's runs reach it with its heartbeats (5 s).
  const completedInTheLastHour = async () =>
    (await api(base, "/api/overview")).activity.reduce((n, m) => n + m.completed, 0);
  await until("the overview's chart shows the worker's runs", async () => {
    await go("overview", "#chart-throughput");
    const completed = await completedInTheLastHour();
    const caption = await page.textContent("#chart-throughput figcaption");
    return completed > 0 && Number(caption.match(/completed (\d+)/)?.[1]) === completed;
  });
  const points = await page.$$eval("#chart-throughput polyline", (lines) =>
    lines.map((l) => l.getAttribute("points").trim().split(/\s+/).length));
  assert.deepEqual(points, [60, 60], "a point per minute for completed and for failed");
  assert.match(await page.textContent("#chart-latency figcaption"), /average \d/);
  await shot("overview");
  ok("the overview charts the last hour's completed and failed runs and their waits");

  // This `errand web` runs no worker: its /metrics has the worker process's counts from the
  // store's totals (errand_cluster_*), which workers add to with their heartbeats. They agree
  // with the chart's minutes (written by the same heartbeats), the cancelled Sleeper is there,
  // and promtool accepts the scrape, taken while the worker runs.
  const clusterSum = (text, family, match = "") => text.split("\n")
    .filter((l) => l.startsWith(`errand_cluster_${family}{`) && l.includes(match))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
  let scrape = "";
  await until("/metrics has the worker's runs", async () => {
    scrape = await (await fetch(`${base}/metrics`)).text();
    const completed = clusterSum(scrape, "jobs_completed_total");
    return completed > 0 && completed === await completedInTheLastHour() &&
      clusterSum(scrape, "jobs_cancelled_total", 'job_type="Sleeper"') === 1;
  });
  assert.ok(clusterSum(scrape, "jobs_started_total") >= clusterSum(scrape, "jobs_completed_total") + 1);
  assert.ok(!scrape.includes("errand_cluster_jobs_enqueued_total"), "no cluster enqueue counter");
  const promtool = spawnSync("promtool", ["check", "metrics"], {input: scrape, encoding: "utf8", timeout: 30000});
  assert.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);
  ok("a standalone errand web's /metrics has the workers' totals; promtool accepts it");

  // The Workers page shows the running worker and the queues it serves (every queue here).
  await go("workers", "table tbody tr");
  const [registered] = (await api(base, "/api/workers")).workers;
  assert.deepEqual(registered.queues, []);
  const workerRow = await page.textContent("table tbody tr");
  assert.ok(workerRow.includes(registered.id) && workerRow.includes("every queue"), workerRow);
  await shot("workers");
  ok("the workers page shows each worker with the queues it serves");

  assert.deepEqual(problems, [], "no dialog, page error or console error");
  ok("no dialog, page error or console error on any page");

  // A POST without the CSRF token is refused (the browser logs the deliberate 403s).
  const status = await page.evaluate(async () =>
    (await fetch("api/queues/default/pause", {method: "POST", body: "{}"})).status);
  assert.equal(status, 403);
  assert.equal((await api(base, "/api/queues")).queues.find((q) => q.name === "default").paused, false);
  ok("a POST without the CSRF token is refused");

  // Read-only: no action shown, POSTs refused.
  const readOnly = await startWeb("--read-only");
  await go("dead", "table", readOnly);
  await page.waitForSelector("#read-only");
  await go("queues", 'tr[data-queue="default"]', readOnly);
  assert.equal(await page.locator("main button").count(), 0, "no buttons in read-only mode");
  const refused = await page.evaluate(async () => {
    const s = await (await fetch("api/session")).json();
    return (await fetch("api/queues/default/pause",
      {method: "POST", body: "{}", headers: {"X-Errand-CSRF": s.csrf}})).status;
  });
  assert.equal(refused, 403);
  ok("read-only mode shows no action and refuses POSTs");

  // Counts with a limit show "N+" and say what it means; a negative limit is refused.
  const limited = await startWeb("--read-only", "--count-limit", "1");
  const exact = (await api(base, "/api/overview")).counts;
  const capped = (await api(limited, "/api/overview")).counts;
  assert.equal(exact.count_limit, 10000);
  assert.equal(capped.count_limit, 1);
  const reached = ["ready", "scheduled", "dead", "completed", "cancelled"].find((k) => exact[k] >= 1);
  assert.ok(reached, `some state has jobs: ${JSON.stringify(exact)}`);
  await go("overview", "#counts", limited);
  assert.equal(await page.textContent(`[data-state="${reached}"] .n`), `${capped[reached]}+`);
  assert.match(await page.textContent("main"), /N\+: at least N; counts stop at 1 per queue and state/);
  const badLimit = spawnSync(args.errand, ["--db", args.db, "web", "--count-limit", "-1"],
    {encoding: "utf8", timeout: 30000});
  assert.notEqual(badLimit.status, 0);
  assert.match(badLimit.stderr, /count-limit/);
  ok("counts over --count-limit show N+ with a note; a negative limit is refused");

  // A reachable address without a token refuses to start.
  const open = spawnSync(args.errand, ["--db", args.db, "web", "--listen", "0.0.0.0:0"],
    {encoding: "utf8", timeout: 30000});
  assert.notEqual(open.status, 0);
  assert.match(open.stderr, /refusing to listen on 0\.0\.0\.0:0/);
  ok("a non-loopback bind without a token refuses to start");

  assert.deepEqual(problems.filter((p) => !/status of 403/.test(p)), [], "nothing but the 403s");
  await browser.close();
}

try {
  await main();
  console.log(`all ${checks} checks passed`);
} catch (e) {
  console.error(`FAIL: ${e.stack || e}`);
  process.exitCode = 1;
  // What the page showed and what the servers said, to tell a slow answer from an error.
  const shown = page ? await page.textContent("main", {timeout: 5000}).catch((x) => `(${x.message})`) : "";
  console.error(`the page's main: ${shown}`);
  console.error(`page problems: ${JSON.stringify(problems)}`);
  for (const log of webLogs) console.error(`errand web ${log.args} stderr (last 4000 bytes):\n${log.text}`);
} finally {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  // A failure leaves the browser open: close it (bounded), so that node exits now.
  if (browser) await Promise.race([browser.close().catch(() => {}), sleep(10000)]);
}
process.exit(process.exitCode ?? 0);
