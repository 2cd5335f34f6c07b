// errand::prometheus_text: the Prometheus text exposition format (version 0.0.4) of a
// MetricsSnapshot and StoreGauges. Every family has HELP and TYPE lines even without samples;
// label values are untrusted text (queue and job type names come from the store).
#include <errand/metrics.hpp>

#include "core/text.hpp"

#include <fmt/format.h>

#include <chrono>
#include <iterator>

namespace errand {

namespace {

// A label value: valid UTF-8 (at most 1 KiB), with \, " and newlines escaped.
std::string label_value(std::string_view text) {
  const std::string clean = detail::to_clean_utf8(text, 1024);
  std::string out;
  out.reserve(clean.size());
  for (const char c : clean) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// A sample value: integers as integers, other numbers in the shortest form that reads back.
std::string number(double value) {
  return fmt::format("{}", value);
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

struct CounterFamily {
  JobCounter which;
  std::string_view name;
  std::string_view help;
};

constexpr CounterFamily kCounterFamilies[] = {
    {JobCounter::enqueued, "errand_jobs_enqueued_total", "Jobs inserted by enqueues."},
    {JobCounter::unique_conflicts, "errand_unique_conflicts_total",
     "Enqueues of a unique job whose key another job held (duplicate or replaced)."},
    {JobCounter::started, "errand_jobs_started_total", "Runs begun."},
    {JobCounter::completed, "errand_jobs_completed_total", "Runs recorded as completed."},
    {JobCounter::failed, "errand_jobs_failed_total",
     "Failed attempts recorded (retried or dead-lettered)."},
    {JobCounter::retried, "errand_jobs_retried_total",
     "Failed attempts whose job runs again after its backoff."},
    {JobCounter::dead_lettered, "errand_jobs_dead_lettered_total",
     "Jobs moved to the dead-letter queue."},
    {JobCounter::cancelled, "errand_jobs_cancelled_total", "Runs that ended cancelled."},
    {JobCounter::snoozed, "errand_jobs_snoozed_total", "Runs that snoozed."},
};

struct HistogramFamily {
  JobHistogram which;
  std::string_view name;
  std::string_view help;
};

constexpr HistogramFamily kHistogramFamilies[] = {
    {JobHistogram::run_duration, "errand_job_run_duration_seconds",
     "Run time, from a run's start to its end."},
    {JobHistogram::queue_latency, "errand_job_queue_latency_seconds",
     "From a job's run_at (its enqueue, for a job to run at once) to the start of its run."},
};

void histogram(std::string& out, std::string_view name, std::string_view labels,
               const HistogramValues& values) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < values.buckets.size(); ++i) {
    cumulative += values.buckets[i];
    const std::string le = i < kHistogramBounds.size() ? number(kHistogramBounds[i]) : "+Inf";
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, le,
                   cumulative);
  }
  fmt::format_to(std::back_inserter(out), "{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name, labels,
                 number(values.sum), name, labels, values.count);
}

void gauges_text(std::string& out, const StoreGauges& gauges) {
  family(out, "errand_queue_jobs", "gauge", "Jobs in the store by queue and state.");
  for (const QueueInfo& queue : gauges.queues) {
    const std::string q = label_value(queue.name);
    const std::pair<std::string_view, std::int64_t> states[] = {
        {"scheduled", queue.scheduled}, {"ready", queue.ready},
        {"running", queue.running},     {"completed", queue.completed},
        {"cancelled", queue.cancelled}, {"discarded", queue.discarded}};
    for (const auto& [state, count] : states)
      fmt::format_to(std::back_inserter(out), "errand_queue_jobs{{queue=\"{}\",state=\"{}\"}} {}\n",
                     q, state, count);
  }
  family(out, "errand_queue_jobs_count_limit", "gauge",
         "Where errand_queue_jobs counts stop (a value at or above it: at least that many); 0: "
         "exact.");
  fmt::format_to(std::back_inserter(out), "errand_queue_jobs_count_limit {}\n", gauges.count_limit);
  family(out, "errand_queue_oldest_ready_age_seconds", "gauge",
         "How long the oldest ready job of a queue has been due (0: none ready).");
  for (const QueueInfo& queue : gauges.queues) {
    const double age =
        queue.oldest_ready_age ? std::chrono::duration<double>(*queue.oldest_ready_age).count() : 0;
    fmt::format_to(std::back_inserter(out),
                   "errand_queue_oldest_ready_age_seconds{{queue=\"{}\"}} {}\n",
                   label_value(queue.name), number(age));
  }
  family(out, "errand_queue_paused", "gauge", "1 when a queue is paused.");
  for (const QueueInfo& queue : gauges.queues)
    fmt::format_to(std::back_inserter(out), "errand_queue_paused{{queue=\"{}\"}} {}\n",
                   label_value(queue.name), queue.paused ? 1 : 0);
  family(out, "errand_workers", "gauge",
         "Registered workers: alive, or lost (silent longer than the rescue time).");
  fmt::format_to(std::back_inserter(out), "errand_workers{{state=\"alive\"}} {}\n",
                 gauges.workers_alive);
  fmt::format_to(std::back_inserter(out), "errand_workers{{state=\"lost\"}} {}\n",
                 gauges.workers_lost);
}

// Whose counts a snapshot holds: this process's registry, or the store's totals (every worker's).
struct Scope {
  std::string_view prefix;  // replaces "errand_" in the family names
  std::string_view whose;   // appended to the help texts
  bool enqueues;            // has the enqueue counters
};
constexpr Scope kProcess{"errand_", "", true};
constexpr Scope kCluster{"errand_cluster_", " Summed over every worker of the store.", false};

// The counters, histograms and ticks of `metrics`.
void job_families(std::string& out, const MetricsSnapshot& metrics, const Scope& scope) {
  const auto name_of = [&](std::string_view name) {
    return fmt::format("{}{}", scope.prefix, name.substr(std::string_view("errand_").size()));
  };
  const auto help_of = [&](std::string_view help) {
    return fmt::format("{}{}", help, scope.whose);
  };
  std::vector<std::string> labels;
  labels.reserve(metrics.jobs.size());
  for (const JobSeriesValues& series : metrics.jobs)
    labels.push_back(fmt::format("queue=\"{}\",job_type=\"{}\"", label_value(series.queue),
                                 label_value(series.job_type)));
  for (const CounterFamily& counter : kCounterFamilies) {
    if (!scope.enqueues &&
        (counter.which == JobCounter::enqueued || counter.which == JobCounter::unique_conflicts))
      continue;
    const std::string name = name_of(counter.name);
    family(out, name, "counter", help_of(counter.help));
    for (std::size_t i = 0; i < metrics.jobs.size(); ++i)
      fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels[i],
                     metrics.jobs[i].counter(counter.which));
  }
  for (const HistogramFamily& h : kHistogramFamilies) {
    const std::string name = name_of(h.name);
    family(out, name, "histogram", help_of(h.help));
    for (std::size_t i = 0; i < metrics.jobs.size(); ++i)
      histogram(out, name, labels[i],
                metrics.jobs[i].histograms[static_cast<std::size_t>(h.which)]);
  }
  const std::string ticks_name = name_of("errand_cron_ticks_total");
  family(out, ticks_name, "counter",
         help_of("Schedule ticks handled by workers: fired (a job enqueued) or skipped."));
  for (const TickSeriesValues& ticks : metrics.ticks) {
    const std::string schedule = label_value(ticks.schedule);
    fmt::format_to(std::back_inserter(out),
                   "{0}{{schedule=\"{1}\",outcome=\"fired\"}} {2}\n"
                   "{0}{{schedule=\"{1}\",outcome=\"skipped\"}} {3}\n",
                   ticks_name, schedule, ticks.fired, ticks.skipped);
  }
}

}  // namespace

std::string prometheus_text(const MetricsSnapshot& metrics, const StoreGauges* gauges,
                            const MetricsSnapshot* cluster) {
  std::string out;
  job_families(out, metrics, kProcess);
  if (gauges) gauges_text(out, *gauges);
  if (cluster) job_families(out, *cluster, kCluster);
  return out;
}

}  // namespace errand
