// errand bench: see bench.hpp. The command wiring: the options of `errand bench` and of the hidden
// `errand bench-worker` (bench_options.hpp), and run_bench, which runs the phases
// (bench_phases.hpp) each in a store of its own (a fresh SQLite file or a fresh PostgreSQL
// schema, see bench_scratch.hpp) and prints the report (bench_report.hpp). The stores are removed
// at the end, or when the run is interrupted (bench_interrupt.hpp), unless --keep.
#include "bench.hpp"
#include "numbers.hpp"

#include "bench_interrupt.hpp"
#include "bench_options.hpp"
#include "bench_phases.hpp"
#include "bench_report.hpp"
#include "bench_retained.hpp"
#include "bench_scratch.hpp"
#include "bench_workers.hpp"

#include <signal.h>

#include <memory>
#include <string>
#include <vector>

namespace errand::cli {

namespace {

int run_bench(const Globals& globals, const BenchOptions& opts) {
  ::signal(SIGPIPE, SIG_IGN);  // a worker process that died must not kill us
  // Declared in this order so that an interruption (destroyed first) outlives nothing it uses.
  ChildSet workers;
  Scratch scratch(globals.db_url_or("sqlite:errand-bench.db"), opts.keep);
  Interruption interruption(scratch, workers);
  Result result;

  if (!opts.skipped("enqueue")) result.enqueue_single_per_s = enqueue_single(scratch, opts);
  if (!opts.skipped("enqueue") || !opts.skipped("drain")) {
    const auto [url, store] = scratch.create("drain");
    fill_completed(url, opts.retained);
    // Timed as the enqueue-in-batches figure; the same jobs are then drained.
    result.enqueue_batch_per_s = enqueue_batches(*store, opts);
    if (opts.global_limit > 0) {
      QueueUpdate limit;
      limit.global = static_cast<std::int32_t>(opts.global_limit);
      store->update_queue(kDefaultQueue, limit, /*create=*/true);
    }
    if (!opts.skipped("drain")) drain(*store, url, opts, workers, result);
  }
  if (!opts.skipped("latency")) latency(scratch, opts, result);
  if (!opts.skipped("listen") && scratch.kind() == "postgres") {
    latency_listen(scratch, opts, workers, result);
  }
  print_report(scratch, opts, result);
  return 0;
}

}  // namespace

void add_bench(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto opts = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand(
      "bench",
      "Measure enqueue and drain throughput, enqueue-to-run latency, and worker CPU and memory, "
      "in fresh stores beside --db (SQLite files, or PostgreSQL schemas bench_*) removed after");
  // Numbers through numbers.hpp: plain decimal digits within these bounds.
  constexpr Bounds kJobs{1, 100'000'000, "jobs", ""};
  constexpr Bounds kWorkers{1, 256, "", ""};
  constexpr Bounds kConcurrency{1, 4096, "", ""};
  constexpr Bounds kPrefetch{0, 100'000, "", ""};
  constexpr Bounds kStoreLanes{1, 64, "", ""};
  constexpr Bounds kSingles{1, 10'000'000, "jobs", ""};
  constexpr Bounds kRetained{0, 100'000'000, "jobs", ""};
  constexpr Bounds kSamples{1, 1'000'000, "", ""};
  add_number(*cmd, "--jobs", opts->jobs, kJobs, "no-op jobs queued (in batches) and then drained");
  add_number(*cmd, "--workers", opts->workers, kWorkers, "worker processes for the drain");
  add_number(*cmd, "--concurrency", opts->concurrency, kConcurrency,
             "jobs run at once by each worker");
  add_number(*cmd, "--prefetch", opts->prefetch, kPrefetch,
             "jobs each worker claims beyond its free slots (WorkerOptions::prefetch)");
  add_number(*cmd, "--store-lanes", opts->store_lanes, kStoreLanes,
             "settle-and-claim round trips each worker keeps in flight "
             "(WorkerOptions::store_lanes)");
  add_number(*cmd, "--enqueue-single", opts->enqueue_single, kSingles,
             "jobs enqueued one per call");
  add_number(*cmd, "--latency-samples", opts->latency_samples, kSamples,
             "jobs enqueued one at a time on an idle worker");
  cmd->add_option("--skip", opts->skip,
                  "phases to skip: enqueue, drain, latency, listen (PostgreSQL: latency with the "
                  "worker in another process)")
      ->delimiter(',')
      ->check(CLI::IsMember(std::vector<std::string>{"enqueue", "drain", "latency", "listen"}));
  cmd->add_flag("--json", opts->json, "print one JSON object");
  cmd->add_flag("--keep", opts->keep, "keep the benchmark's SQLite files / PostgreSQL schemas");
  cmd->add_flag("--retain-completed", opts->retain_completed,
                "the drain's workers keep completed jobs (retention of a week) instead of "
                "deleting them");
  add_number(*cmd, "--retained", opts->retained, kRetained,
             "completed jobs written into the drain's store before it starts (finished an hour "
             "ago), to measure a drain beside them");
  constexpr Bounds kGlobalLimit{0, 1'000'000, "", ""};
  constexpr Bounds kSleep{0, 60'000, "ms", ""};
  add_number(*cmd, "--global-limit", opts->global_limit, kGlobalLimit,
             "the drain's queue has this global limit: jobs running at once across its workers "
             "(0: none)");
  add_number(*cmd, "--job-sleep-ms", opts->job_sleep_ms, kSleep,
             "each job of the drain sleeps this long (jobs that wait on something)");
  cmd->add_flag("--unique", opts->unique,
                "both enqueue phases give each job a uniqueness key (by its whole payload; all "
                "distinct, so every job is inserted)");
  commands.push_back({cmd, [&globals, opts] { return run_bench(globals, *opts); }});

  auto worker_opts = std::make_shared<WorkerProcessOptions>();
  auto* worker_cmd = app.add_subcommand("bench-worker", "worker process of errand bench");
  worker_cmd->group("");  // hidden
  add_number(*worker_cmd, "--concurrency", worker_opts->concurrency, kConcurrency, "");
  add_number(*worker_cmd, "--prefetch", worker_opts->prefetch, kPrefetch, "");
  add_number(*worker_cmd, "--store-lanes", worker_opts->store_lanes, kStoreLanes, "");
  worker_cmd->add_flag("--report-starts", worker_opts->report_starts);
  worker_cmd->add_flag("--report-progress", worker_opts->report_progress);
  worker_cmd->add_flag("--retain-completed", worker_opts->retain_completed);
  add_number(*worker_cmd, "--job-sleep-ms", worker_opts->job_sleep_ms, kSleep, "");
  commands.push_back(
      {worker_cmd, [&globals, worker_opts] { return run_bench_worker(globals, *worker_opts); }});
}

}  // namespace errand::cli
