// graphile-worker peer: PEER_VARIANT=defaults | tuned (localQueue.size 500, batch delays 0).
import { run, makeWorkerUtils, Logger } from "graphile-worker";
import { perSecond, env, nowMs, sleep, version, report, log, timeEnqueue, cpuDuring, waitFor } from "./common.mjs";

const tuned = process.env.PEER_VARIANT === "tuned";
const N = env.jobs, C = env.concurrency;
const logger = new Logger(() => (level, message) => {
  if (level === "error") console.error("[graphile-worker]", message);
});
const connectionString = env.url;

const utils = await makeWorkerUtils({ connectionString, logger });
await utils.migrate();
const clear = () => utils.withPgClient((c) => c.query("delete from graphile_worker._private_jobs"));
const remaining = async () =>
  Number((await utils.withPgClient((c) => c.query("select count(*) n from graphile_worker._private_jobs"))).rows[0].n);

// (1) enqueue: one job per addJob call (awaited one after the other), then addJobs batches of 1,000.
await clear();
const enqueueSingle = await timeEnqueue(env.single, 1, () => utils.addJob("noop", { i: 1 }));
await clear();
const enqueueBatch = await timeEnqueue(N, 1000, (n) =>
  utils.addJobs(Array.from({ length: n }, (_, i) => ({ identifier: "noop", payload: { i } }))));
log(`enqueued; ${await remaining()} jobs queued`);

// (2) drain N queued no-op jobs with one worker pool of concurrency C.
let done = 0, resolveDrained;
const seconds = perSecond();
const drained = new Promise((r) => (resolveDrained = r));
let latencyWaiter = null;
const worker = {
  concurrentJobs: C,
  // The docs' advice for concurrency > 8: maxPoolSize = max(10, concurrentJobs + 2).
  maxPoolSize: Math.max(10, C + 2),
  ...(tuned ? { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } : {}),
};
const { out: drainSeconds, cpuMs } = await cpuDuring(async () => {
  const t0 = nowMs();
  seconds.start();
  globalThis.runner = await run({
    connectionString, logger, noHandleSignals: true, concurrency: C,
    preset: { worker },
    taskList: {
      noop: async () => { seconds.tick(); if (++done === N) resolveDrained(); },
      lat: async (payload) => { latencyWaiter?.(nowMs() - payload.t); },
    },
  });
  await drained;
  await waitFor(async () => (await remaining()) === 0, 120000, "the jobs table to empty");
  return (nowMs() - t0) / 1000;
});
const runner = globalThis.runner;

// (3) latency, one job at a time on the now idle pool.
const latencies = [];
await sleep(200);
for (let i = 0; i < env.latencySamples; i++) {
  const got = new Promise((r) => (latencyWaiter = r));
  await utils.addJob("lat", { t: nowMs() });
  latencies.push(await got);
  await sleep(5);
}
await runner.stop();
await utils.release();

report({
  store: tuned ? "graphile-worker-tuned" : "graphile-worker",
  version: version("graphile-worker"),
  jobs: N, concurrency: C,
  enqueueSingle, enqueueBatch,
  drain: N / drainSeconds,
  drainSeconds: seconds.rates(),
  latencies,
  cpuMsPer1000: (cpuMs / N) * 1000,
  notes: `one process, run() concurrency ${C}, maxPoolSize ${worker.maxPoolSize}` +
    (tuned ? ", localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0" : ", other options default") +
    `; single enqueue = ${env.single} sequential addJob calls`,
});
process.exit(0);
