// Shared helpers for the bench/peers workload scripts (copied next to node_modules at run time).
import { readFileSync } from "node:fs";

export const env = {
  url: process.env.PEER_PG_URL,
  jobs: Number(process.env.PEER_JOBS ?? 20000),
  concurrency: Number(process.env.PEER_CONCURRENCY ?? 16),
  single: Number(process.env.PEER_SINGLE_JOBS ?? 5000),
  latencySamples: Number(process.env.PEER_LATENCY_SAMPLES ?? 200),
  slowLatencySamples: Number(process.env.PEER_SLOW_LATENCY_SAMPLES ?? 30),
  dir: process.env.PEER_DIR ?? ".",
};

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across the process. */
export const nowMs = () => performance.timeOrigin + performance.now();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function version(pkg) {
  const path = new URL(`./node_modules/${pkg}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(path, "utf8")).version;
}

export function percentile(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/**
 * The drain's steadiness from its per-second rates (jobs/s of each whole second from the start;
 * the last, partial second left out), as errand bench computes it: the slowest second, the 10th
 * percentile (nearest rank) and the median. Nulls when the drain lasted under a second.
 */
export function steadiness(rates) {
  const sorted = rates.slice().sort((a, b) => a - b);
  return {
    drain_second_jobs_per_s: rates,
    drain_slowest_second_jobs_per_s: sorted.length ? sorted[0] : null,
    drain_p10_second_jobs_per_s: percentile(sorted, 10),
    drain_median_second_jobs_per_s: percentile(sorted, 50),
  };
}

/** Counts events (jobs run) in each whole second from start(); rates() lists the whole seconds. */
export function perSecond() {
  let t0 = nowMs(), last = t0;
  const counts = [];
  return {
    start() { t0 = last = nowMs(); counts.length = 0; },
    tick(n = 1) {
      last = nowMs();
      const s = Math.floor((last - t0) / 1000);
      counts[s] = (counts[s] ?? 0) + n;
    },
    rates() { return Array.from({ length: Math.floor((last - t0) / 1000) }, (_, i) => counts[i] ?? 0); },
  };
}

const r1 = (x) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 10) / 10);
const r3 = (x) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000);

/** Prints the one JSON result line (stdout). Everything else goes to stderr. */
export function report(r) {
  const lat = (r.latencies ?? []).slice().sort((a, b) => a - b);
  const line = {
    store: r.store,
    version: r.version,
    jobs: r.jobs,
    workers: r.workers ?? 1,
    concurrency: r.concurrency,
    enqueue_single_jobs_per_s: r1(r.enqueueSingle),
    enqueue_batch_jobs_per_s: r1(r.enqueueBatch),
    drain_jobs_per_s: r1(r.drain),
    ...steadiness(r.drainSeconds ?? []),
    latency_p50_ms: r3(percentile(lat, 50)),
    latency_p90_ms: r3(percentile(lat, 90)),
    latency_p99_ms: r3(percentile(lat, 99)),
    latency_samples: lat.length,
    cpu_ms_per_1000_jobs: r1(r.cpuMsPer1000),
    peak_rss_mb: r1(process.resourceUsage().maxRSS / 1024),
    notes: r.notes,
  };
  process.stdout.write(JSON.stringify(line) + "\n");
}

export const log = (...a) => console.error(`[${process.env.PEER_NAME ?? "peer"}]`, ...a);

/** Times `count` jobs added `per` at a time through `add(n, offset)`; returns jobs/s. */
export async function timeEnqueue(count, per, add) {
  const t0 = nowMs();
  for (let done = 0; done < count; done += per) await add(Math.min(per, count - done), done);
  return count / ((nowMs() - t0) / 1000);
}

/** CPU (user+system) ms used by this process while `fn` runs. */
export async function cpuDuring(fn) {
  const c0 = process.cpuUsage();
  const out = await fn();
  const c = process.cpuUsage(c0);
  return { out, cpuMs: (c.user + c.system) / 1000 };
}

export async function waitFor(pred, timeoutMs, what) {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}
