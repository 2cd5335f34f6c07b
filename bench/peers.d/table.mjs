// Reads the peers' JSON lines on stdin, prints a markdown table.
import { readFileSync } from "node:fs";
const rows = readFileSync(0, "utf8").split("\n").filter((l) => l.trim().startsWith("{")).map((l) => JSON.parse(l));
const cols = [
  ["store", "store"], ["version", "version"], ["jobs", "N"], ["concurrency", "C"],
  ["enqueue_single_jobs_per_s", "enqueue 1/call (jobs/s)"], ["enqueue_batch_jobs_per_s", "enqueue 1000/call (jobs/s)"],
  ["drain_jobs_per_s", "drain (jobs/s)"], ["latency_p50_ms", "p50 ms"], ["latency_p90_ms", "p90 ms"],
  ["latency_p99_ms", "p99 ms"], ["cpu_ms_per_1000_jobs", "CPU ms/1000 jobs"], ["peak_rss_mb", "peak RSS MB"],
];
const fmt = (v) => (v == null ? "–" : typeof v === "number" ? (Math.abs(v) >= 100 ? Math.round(v).toLocaleString("en-US") : String(v)) : String(v));
console.log("| " + cols.map((c) => c[1]).join(" | ") + " |");
console.log("|" + cols.map((_, i) => (i < 2 ? " --- " : " ---: ")).join("|") + "|");
for (const r of rows) console.log("| " + cols.map(([k]) => fmt(r[k])).join(" | ") + " |");
