// plainjob peer (SQLite through better-sqlite3; plainjob itself sets journal_mode=WAL and
// synchronous=NORMAL on the connection). PEER_SQLITE_FILE is the database file (created fresh).
import Database from "better-sqlite3";
import { better, defineQueue, defineWorker, JobStatus } from "plainjob";
import { rmSync } from "node:fs";
import { perSecond, env, nowMs, sleep, version, report, log, timeEnqueue, cpuDuring, waitFor } from "./common.mjs";

const N = env.jobs, C = env.concurrency;
const file = process.env.PEER_SQLITE_FILE ?? "plainjob.db";
for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
const silent = { error: (...a) => console.error("[plainjob]", ...a), warn() {}, info() {}, debug() {} };
const db = new Database(file);
const connection = better(db);
const queue = defineQueue({ connection, logger: silent });
log("journal_mode", db.pragma("journal_mode", { simple: true }), "synchronous", db.pragma("synchronous", { simple: true }));
const remaining = () =>
  queue.countJobs({ type: "noop", status: JobStatus.Pending }) + queue.countJobs({ type: "noop", status: JobStatus.Processing });

// (1) enqueue: one add() per job, then addMany() batches of 1,000.
const enqueueSingle = await timeEnqueue(env.single, 1, () => queue.add("noop", { i: 1 }));
db.exec("delete from plainjob_jobs");
const enqueueBatch = await timeEnqueue(N, 1000, (n) =>
  queue.addMany("noop", Array.from({ length: n }, (_, i) => ({ i }))));
log(`enqueued; ${remaining()} jobs pending`);

// (2) drain: C workers (defineWorker runs one job at a time each) in this process, one connection.
let done = 0, resolveDrained;
const seconds = perSecond();
const drained = new Promise((r) => (resolveDrained = r));
const workers = Array.from({ length: C }, () =>
  defineWorker("noop", async () => { seconds.tick(); if (++done === N) resolveDrained(); }, { queue, logger: silent }));
const { out: drainSeconds, cpuMs } = await cpuDuring(async () => {
  const t0 = nowMs();
  seconds.start();
  for (const w of workers) void w.start();
  await drained;
  await waitFor(async () => remaining() === 0, 120000, "the queue to empty");
  return (nowMs() - t0) / 1000;
});
await Promise.all(workers.map((w) => w.stop()));

// (3) latency: one idle worker with the default poll interval (1 s); jobs sent at random phases.
let latencyWaiter = null;
const lw = defineWorker("lat", async (job) => { latencyWaiter?.(nowMs() - JSON.parse(job.data).t); },
  { queue, logger: silent });
void lw.start();
const latencies = [];
await sleep(100);
for (let i = 0; i < env.slowLatencySamples; i++) {
  await sleep(Math.random() * 1000);
  const got = new Promise((r) => (latencyWaiter = r));
  queue.add("lat", { t: nowMs() });
  latencies.push(await got);
}
await lw.stop();
queue.close();

report({
  store: "plainjob",
  version: version("plainjob"),
  jobs: N, concurrency: C,
  enqueueSingle, enqueueBatch,
  drain: N / drainSeconds,
  drainSeconds: seconds.rates(),
  latencies,
  cpuMsPer1000: (cpuMs / N) * 1000,
  notes: `one process, ${C} defineWorker loops on one better-sqlite3 ${version("better-sqlite3")} connection ` +
    `(synchronous calls: jobs run one after another); WAL, synchronous=NORMAL; default pollIntervall 1 s; ` +
    `latency: ${latencies.length} samples at random phases of the poll; single enqueue = ${env.single} add calls`,
});
process.exit(0);
