// The report of errand bench: see bench_report.hpp.
#include "bench_report.hpp"

#include "format.hpp"

#include <fmt/format.h>
#include <errand/clock.hpp>
#include <errand/version.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace errand::cli {

namespace {

using ordered_json = nlohmann::ordered_json;  // keys in the order written

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

// The percentiles of one latency phase; all empty when it measured nothing.
struct Percentiles {
  std::optional<double> p50, p90, p99, max;
};

// Sorts `values` and takes their percentiles.
Percentiles percentiles_of(std::vector<double>& values) {
  Percentiles p;
  if (values.empty()) return p;
  std::sort(values.begin(), values.end());
  p.p50 = percentile(values, 0.50);
  p.p90 = percentile(values, 0.90);
  p.p99 = percentile(values, 0.99);
  p.max = values.back();
  return p;
}

// The drain's steadiness: its slowest, 10th-percentile and median whole second; all empty when
// the drain lasted less than a second or was skipped.
struct Steadiness {
  std::optional<double> slowest, p10, median;
};

Steadiness steadiness_of(std::vector<double> rates) {
  Steadiness s;
  if (rates.empty()) return s;
  std::sort(rates.begin(), rates.end());
  s.slowest = rates.front();
  s.p10 = percentile(rates, 0.10);
  s.median = percentile(rates, 0.50);
  return s;
}

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string utc_now() {
  return iso_utc(SystemClock{}.now());
}

ordered_json number_or_null(const std::optional<double>& v, int decimals = 1) {
  if (!v) return nullptr;
  const double scale = std::pow(10.0, decimals);
  return std::round(*v * scale) / scale;
}

// Each second's rate, rounded to whole jobs/s; null when there is none.
ordered_json seconds_json(const std::vector<double>& rates) {
  if (rates.empty()) return nullptr;
  ordered_json out = ordered_json::array();
  for (double r : rates)
    out.push_back(std::round(r));
  return out;
}

std::string cell(const std::optional<double>& v, std::string_view unit, int decimals = 1) {
  if (!v) return "skipped";
  return fmt::format("{:.{}f} {}", *v, decimals, unit);
}

}  // namespace

void print_report(const Scratch& scratch, const BenchOptions& opts, Result& result) {
  const auto [p50, p90, p99, pmax] = percentiles_of(result.latencies_ms);
  const auto [l50, l90, l99, lmax] = percentiles_of(result.listen_latencies_ms);
  const auto [slowest, p10_second, median_second] = steadiness_of(result.drain_second_rates);
  const std::string listen_how =
      scratch.kind() == "postgres"
          ? "worker in another process (errand bench-worker), woken by LISTEN/NOTIFY; "
            "start time by CLOCK_MONOTONIC in both processes"
          : "not measured: SQLite does not signal other processes, they see new jobs at their "
            "next poll (poll_interval, 1 s by default)";
  const std::string wakeup =
      "in-process: enqueue and worker thread share the process, so the enqueue's in-process "
      "wake-up starts the worker (poll interval 1 s, unused)";
  const std::string drain_how = fmt::format(
      "wall time from sending 'go' to the {} worker process(es), all started with the store open, "
      "until Store::counts() shows no job ready, scheduled, running or abandoned (counted every "
      "5 ms once the workers report that N runs returned, through their pipes every 10 ms; "
      "before that only once a second); per second: the runs returned in each whole second "
      "from 'go' (the last partial second left out), their slowest, 10th-percentile (nearest "
      "rank) and median",
      opts.workers);
  const std::string cpu_how =
      "user+sys of the worker processes between 'go' and the empty queue (/proc/PID/stat); "
      "peak RSS: max VmHWM of the worker processes before stopping them";

  if (opts.json) {
    ordered_json line = {
        {"store", scratch.kind()},
        {"jobs", opts.jobs},
        {"workers", opts.workers},
        {"concurrency", opts.concurrency},
        {"prefetch", opts.prefetch},
        {"store_lanes", opts.store_lanes},
        {"retain_completed", opts.retain_completed},
        {"retained", opts.retained},
        {"global_limit",
         opts.global_limit > 0 ? ordered_json(opts.global_limit) : ordered_json(nullptr)},
        {"job_sleep_ms", opts.job_sleep_ms},
        {"enqueue_single_jobs",
         opts.skipped("enqueue") ? ordered_json(nullptr) : ordered_json(opts.enqueue_single)},
        {"enqueue_single_jobs_per_s", number_or_null(result.enqueue_single_per_s, 0)},
        {"enqueue_batch_size", batch_size},
        {"enqueue_batch_jobs_per_s", number_or_null(result.enqueue_batch_per_s, 0)},
        {"drain_jobs_per_s", number_or_null(result.drain_per_s, 0)},
        {"drain_s", number_or_null(result.drain_seconds, 3)},
        {"drain_slowest_second_jobs_per_s", number_or_null(slowest, 0)},
        {"drain_p10_second_jobs_per_s", number_or_null(p10_second, 0)},
        {"drain_median_second_jobs_per_s", number_or_null(median_second, 0)},
        {"drain_second_jobs_per_s", seconds_json(result.drain_second_rates)},
        {"latency_samples", result.latencies_ms.empty() ? ordered_json(nullptr)
                                                        : ordered_json(result.latencies_ms.size())},
        {"latency_p50_ms", number_or_null(p50, 3)},
        {"latency_p90_ms", number_or_null(p90, 3)},
        {"latency_p99_ms", number_or_null(p99, 3)},
        {"latency_max_ms", number_or_null(pmax, 3)},
        {"latency_listen_p50_ms", number_or_null(l50, 3)},
        {"latency_listen_p90_ms", number_or_null(l90, 3)},
        {"latency_listen_p99_ms", number_or_null(l99, 3)},
        {"latency_listen_max_ms", number_or_null(lmax, 3)},
        {"cpu_ms_per_1000_jobs", number_or_null(result.cpu_ms_per_1000, 1)},
        {"cpu_ms_per_1000_jobs_process_lifetime",
         number_or_null(result.cpu_ms_per_1000_lifetime, 1)},
        {"peak_rss_mb", number_or_null(result.peak_rss_mb, 1)},
        {"peak_rss_mb_rusage_children", number_or_null(result.peak_rss_mb_rusage, 1)},
        {"runs_started", result.runs_started},
        {"runs_succeeded", result.runs_succeeded},
        {"retried", result.retried},
        {"dead_lettered", result.dead},
        {"lock_lost", result.lock_lost},
        {"drain_measured", drain_how},
        {"latency_wakeup", wakeup},
        {"latency_listen_wakeup", listen_how},
        {"host", host_name()},
        {"cores", std::thread::hardware_concurrency()},
        {"errand_version", std::string(errand::version())},
        {"date", utc_now()},
    };
    fmt::print("{}\n", line.dump());
    return;
  }

  // Without --json: a markdown table, then how each figure was measured.
  fmt::print("errand {} bench — {} ({}), host {}, {} cores, {}\n\n", errand::version(),
             scratch.kind(), scratch.where(), host_name(), std::thread::hardware_concurrency(),
             utc_now());
  fmt::print("| measure | result | detail |\n| --- | ---: | --- |\n");
  const auto row = [](std::string_view measure, const std::string& value,
                      const std::string& detail) {
    fmt::print("| {} | {} | {} |\n", measure, value, detail);
  };
  row("enqueue, one job per call", cell(result.enqueue_single_per_s, "jobs/s", 0),
      fmt::format("{} jobs", opts.enqueue_single));
  row(fmt::format("enqueue, batches of {}", batch_size),
      cell(result.enqueue_batch_per_s, "jobs/s", 0), fmt::format("{} jobs", opts.jobs));
  row(fmt::format("drain, {} x {}", opts.workers, opts.concurrency),
      cell(result.drain_per_s, "jobs/s", 0),
      fmt::format("{} {} in {}{}", opts.jobs,
                  opts.job_sleep_ms > 0 ? fmt::format("jobs of {} ms", opts.job_sleep_ms)
                                        : std::string("no-op jobs"),
                  cell(result.drain_seconds, "s", 2),
                  opts.global_limit > 0 ? fmt::format(", global limit {}", opts.global_limit)
                                        : std::string()));
  row("drain, slowest / p10 / median second",
      fmt::format("{} / {} / {}", cell(slowest, "jobs/s", 0), cell(p10_second, "jobs/s", 0),
                  cell(median_second, "jobs/s", 0)),
      fmt::format("{} whole seconds", result.drain_second_rates.size()));
  row("worker CPU per 1,000 jobs", cell(result.cpu_ms_per_1000, "ms", 1), "");
  row("worker peak RSS", cell(result.peak_rss_mb, "MiB", 1), "");
  row("latency p50 / p90 / p99",
      fmt::format("{} / {} / {}", cell(p50, "ms", 2), cell(p90, "ms", 2), cell(p99, "ms", 2)),
      fmt::format("{} samples, max {}", result.latencies_ms.size(), cell(pmax, "ms", 2)));
  if (!result.listen_latencies_ms.empty()) {
    row("latency p50 / p90 / p99, LISTEN",
        fmt::format("{} / {} / {}", cell(l50, "ms", 2), cell(l90, "ms", 2), cell(l99, "ms", 2)),
        fmt::format("{} samples, max {}", result.listen_latencies_ms.size(), cell(lmax, "ms", 2)));
  }
  fmt::print("\n");
  if (result.drain_per_s) {
    fmt::print("Runs: {} started, {} succeeded, {} retried, {} dead-lettered, {} lock lost.\n",
               result.runs_started, result.runs_succeeded, result.retried, result.dead,
               result.lock_lost);
    fmt::print("Drain: {}.\nCPU: {}.\n", drain_how, cpu_how);
  }
  if (!result.latencies_ms.empty()) fmt::print("Latency: {}.\n", wakeup);
  if (!result.listen_latencies_ms.empty()) fmt::print("Latency, LISTEN: {}.\n", listen_how);
}

}  // namespace errand::cli
