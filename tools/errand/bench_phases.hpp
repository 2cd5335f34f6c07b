// The measured phases of `errand bench`. Each writes what it measured into a Result and prints
// its progress on stderr ("bench: ..."); each throws std::runtime_error when a worker misbehaves
// (fails to start, ends early, does not answer in time), after stopping and reaping its workers.
#pragma once

#include "bench_interrupt.hpp"
#include "bench_options.hpp"
#include "bench_scratch.hpp"

#include <errand/store.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace errand::cli {

// What the phases measured; a figure stays empty when its phase was skipped.
struct Result {
  std::optional<double> enqueue_single_per_s;
  std::optional<double> enqueue_batch_per_s;
  std::optional<double> drain_per_s;
  std::optional<double> drain_seconds;
  // The drain's rate in each whole second from 'go' (runs returned in it, per second of the
  // interval actually measured); the last partial second is left out.
  std::vector<double> drain_second_rates;
  std::optional<double> cpu_ms_per_1000;
  std::optional<double> cpu_ms_per_1000_lifetime;
  std::optional<double> peak_rss_mb;
  std::optional<double> peak_rss_mb_rusage;
  std::int64_t runs_succeeded = 0;
  std::int64_t runs_started = 0;
  std::int64_t retried = 0;
  std::int64_t dead = 0;
  std::int64_t lock_lost = 0;
  std::vector<double> latencies_ms;
  std::vector<double> listen_latencies_ms;  // worker in another process (PostgreSQL LISTEN)
};

// Enqueues --enqueue-single jobs one per call into a store of its own ("single"); jobs/s.
double enqueue_single(Scratch& scratch, const BenchOptions& opts);

// Enqueues --jobs no-op jobs into `store` in batches of batch_size; jobs/s.
double enqueue_batches(Store& store, const BenchOptions& opts);

// Drains `store` (at `url`, holding --jobs jobs) with --workers bench-worker processes: the wall
// time, jobs/s, the workers' CPU and peak memory, and their run counts.
void drain(Store& store, const std::string& url, const BenchOptions& opts, ChildSet& workers,
           Result& result);

// Enqueue-to-start latency with the worker a thread of this process (store "latency").
void latency(Scratch& scratch, const BenchOptions& opts, Result& result);

// Enqueue-to-start latency with the worker in another process, woken by PostgreSQL's
// LISTEN/NOTIFY (store "listen").
void latency_listen(Scratch& scratch, const BenchOptions& opts, ChildSet& workers, Result& result);

}  // namespace errand::cli
