// pg-boss peer: PEER_VARIANT=defaults | tuned.
//   defaults: work() with localConcurrency C and batchSize 100, the default polling (2 s between
//             fetches of a worker), no LISTEN/NOTIFY (pg-boss's defaults).
//   tuned:    + burstWhenBatchFull (fetch again at once while batches come back full),
//             pollingIntervalSeconds 0.5 (the minimum), useListenNotify + a notify queue.
import { PgBoss } from "pg-boss";
import pg from "pg";
import { perSecond, env, nowMs, sleep, version, report, log, timeEnqueue, cpuDuring, waitFor } from "./common.mjs";

const tuned = process.env.PEER_VARIANT === "tuned";
const N = env.jobs, C = env.concurrency, BATCH = 100;
const boss = new PgBoss({
  connectionString: env.url,
  max: C + 4, // pool of 10 by default; each of the C workers holds a connection while fetching
  ...(tuned ? { useListenNotify: true } : {}),
});
boss.on("error", (e) => console.error("[pg-boss] error", e.message));
await boss.start();
const q = "noop", ql = "lat";
await boss.createQueue(q, tuned ? { notify: true } : {});
await boss.createQueue(ql, tuned ? { notify: true } : {});
const sql = new pg.Pool({ connectionString: env.url, max: 2 });
const remaining = async () =>
  Number((await sql.query(
    "select count(*) n from pgboss.job where name = $1 and state < 'completed'", [q])).rows[0].n);

// (1) enqueue: one send() per job (awaited one after the other), then insert() batches of 1,000.
const enqueueSingle = await timeEnqueue(env.single, 1, () => boss.send(q, { i: 1 }));
await boss.deleteQueuedJobs(q);
const enqueueBatch = await timeEnqueue(N, 1000, (n) =>
  boss.insert(q, Array.from({ length: n }, (_, i) => ({ data: { i } }))));
log(`enqueued; ${await remaining()} jobs queued`);

// (2) drain.
const workOpts = {
  localConcurrency: C, batchSize: BATCH,
  ...(tuned ? { burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 } : {}),
};
let done = 0, resolveDrained;
const seconds = perSecond();
const drained = new Promise((r) => (resolveDrained = r));
const { out: drainSeconds, cpuMs } = await cpuDuring(async () => {
  const t0 = nowMs();
  seconds.start();
  await boss.work(q, workOpts, async (jobs) => {
    done += jobs.length;
    seconds.tick(jobs.length);
    if (done >= N) resolveDrained();
  });
  await drained;
  await waitFor(async () => (await remaining()) === 0, 600000, "the queue to empty");
  return (nowMs() - t0) / 1000;
});
await boss.offWork(q);

// (3) latency, one job at a time, an idle worker (batchSize 1, the same polling options).
let latencyWaiter = null;
await boss.work(ql, { ...workOpts, localConcurrency: 1, batchSize: 1 }, async ([job]) => {
  latencyWaiter?.(nowMs() - job.data.t);
});
const samples = tuned ? env.latencySamples : env.slowLatencySamples;
const latencies = [];
await sleep(300);
for (let i = 0; i < samples; i++) {
  const got = new Promise((r) => (latencyWaiter = r));
  await boss.send(ql, { t: nowMs() });
  latencies.push(await got);
  // Arrive at a random phase of the worker's poll cycle (2 s by default), not right after a fetch.
  await sleep(tuned ? 5 + Math.random() * 20 : Math.random() * 2000);
}
await boss.stop({ graceful: true, timeout: 5000 }).catch(() => {});
await sql.end();

report({
  store: tuned ? "pg-boss-tuned" : "pg-boss",
  version: version("pg-boss"),
  jobs: N, concurrency: C,
  enqueueSingle, enqueueBatch,
  drain: N / drainSeconds,
  drainSeconds: seconds.rates(),
  latencies,
  cpuMsPer1000: (cpuMs / N) * 1000,
  notes: `one process, work() localConcurrency ${C} batchSize ${BATCH}, pool max ${C + 4}` +
    (tuned ? ", burstWhenBatchFull, pollingIntervalSeconds 0.5, useListenNotify + notify queues"
      : ", default polling (2 s), no LISTEN/NOTIFY") +
    `; latency: batchSize 1, ${samples} samples${tuned ? "" : " sent at random phases of the poll"}` +
    `; single enqueue = ${env.single} sequential send calls`,
});
process.exit(0);
