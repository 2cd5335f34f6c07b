// The JSON of errand's records (web/json_views.hpp).
#include "web/json_views.hpp"

#include <errand/cron.hpp>
#include <errand/error.hpp>
#include <errand/lifecycle.hpp>
#include <errand/queues.hpp>

#include "core/activity.hpp"
#include "core/human_text.hpp"

#include <chrono>

namespace errand::views {

using detail::iso_utc;
using nlohmann::json;
using Seconds = std::chrono::duration<double>;

json optional_json(const std::optional<std::string>& value) {
  return value ? json(*value) : json(nullptr);
}

json optional_json(const std::optional<TimePoint>& value) {
  return value ? json(iso_utc(*value, true)) : json(nullptr);
}

json payload_json(const std::string& payload) {
  json parsed = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? json(payload) : parsed;
}

json counts_json(const JobCounts& c) {
  return {{"ready", c.ready},         {"scheduled", c.scheduled}, {"running", c.running},
          {"abandoned", c.abandoned}, {"failing", c.failing},     {"dead", c.dead},
          {"discarded", c.dead},      {"completed", c.completed}, {"cancelled", c.cancelled},
          {"count_limit", c.limit}};
}

namespace {

json attempts_json(const JobInfo& j) {
  json out = json::array();
  for (const Attempt& a : j.attempts) {
    out.push_back({{"attempt", a.attempt},
                   {"at", iso_utc(a.at, true)},
                   {"worker", a.worker},
                   {"error", a.error}});
  }
  return out;
}

std::string state_text(const ScheduleInfo& s) {
  if (s.retired()) return "retired";
  return s.paused ? "paused" : "active";
}

}  // namespace

json job_json(const JobInfo& j) {
  return {{"id", j.id},
          {"name", j.name},
          {"state", to_string(j.state)},
          {"priority", j.priority},
          {"queue", j.queue},
          {"partition_key", j.partition_key},
          {"error_count", j.error_count},
          {"snoozes", j.snoozes},
          {"run_at", iso_utc(j.run_at, true)},
          {"created_at", iso_utc(j.created_at, true)},
          {"context", j.context},
          {"locked_by", optional_json(j.locked_by)},
          {"locked_at", optional_json(j.locked_at)},
          {"last_error", optional_json(j.last_error)},
          {"last_failed_at", optional_json(j.last_failed_at)},
          {"attempts", attempts_json(j)},
          {"attempts_unreadable", optional_json(j.attempts_unreadable)},
          {"cancel_requested_at", optional_json(j.cancel_requested_at)},
          {"cancel_reason", optional_json(j.cancel_reason)},
          {"progress", optional_json(j.progress)},
          {"progress_message", optional_json(j.progress_message)},
          {"progress_at", optional_json(j.progress_at)},
          {"finished_at", optional_json(j.finished_at)},
          {"output", j.output ? payload_json(*j.output) : json(nullptr)},
          {"payload", payload_json(j.payload)}};
}

json dead_json(const DeadJob& d) {
  return {{"id", d.id},
          {"name", d.name},
          {"priority", d.priority},
          {"queue", d.queue},
          {"partition_key", d.partition_key},
          {"error_count", d.error_count},
          {"created_at", iso_utc(d.created_at, true)},
          {"failed_at", iso_utc(d.failed_at, true)},
          {"context", d.context},
          {"last_error", d.last_error},
          {"payload", payload_json(d.payload)}};
}

json queue_json(const QueueInfo& q) {
  const QueueLimits& l = q.limits;
  const auto rate = [&](auto field) { return l.rate ? json(field(*l.rate)) : json(nullptr); };
  return {{"name", q.name},
          {"paused", q.paused},
          {"ready", q.ready},
          {"scheduled", q.scheduled},
          {"running", q.running},
          {"completed", q.completed},
          {"cancelled", q.cancelled},
          {"discarded", q.discarded},
          {"global_limit", optional_json(l.global)},
          {"per_key_limit", optional_json(l.per_key)},
          {"rate_limit", rate([](const RateLimit& r) { return format_rate(r); })},
          {"rate_count", rate([](const RateLimit& r) { return r.limit; })},
          {"rate_period_s", rate([](const RateLimit& r) { return Seconds(r.period).count(); })},
          {"busiest_key_running", q.busiest_key_running},
          {"rate_tokens", optional_json(q.rate_tokens)},
          {"oldest_ready_age_s",
           q.oldest_ready_age ? json(Seconds(*q.oldest_ready_age).count()) : json(nullptr)},
          {"updated_at", iso_utc(q.updated_at, true)},
          {"count_limit", q.count_limit}};
}

json worker_json(const WorkerInfo& w, Duration lost_after) {
  return {{"id", w.id},
          {"host", w.host},
          {"pid", w.pid},
          {"queues", w.queues},
          {"state", w.silent_for > lost_after ? "lost" : "alive"},
          {"running", w.running},
          {"concurrency", w.concurrency},
          {"started_at", iso_utc(w.started_at, true)},
          {"heartbeat_at", iso_utc(w.heartbeat_at, true)},
          {"silent_for_s", Seconds(w.silent_for).count()}};
}

json activity_json(const std::vector<ActivityMinute>& minutes, TimePoint last) {
  const TimePoint first = last - std::chrono::minutes{kActivityMinutesShown - 1};
  std::vector<ActivityMinute> sums(kActivityMinutesShown);
  for (const ActivityMinute& m : minutes) {
    if (m.minute < first || m.minute > last) continue;
    const auto i = std::chrono::duration_cast<std::chrono::minutes>(m.minute - first).count();
    detail::add_activity(sums[static_cast<std::size_t>(i)], m);
  }
  json rows = json::array();
  for (std::size_t i = 0; i < sums.size(); ++i) {
    const ActivityMinute& m = sums[i];
    const bool waited = m.started > 0;
    rows.push_back(
        {{"minute", iso_utc(first + std::chrono::minutes{static_cast<std::int64_t>(i)}, false)},
         {"completed", m.completed},
         {"failed", m.failed},
         {"started", m.started},
         {"latency_avg_s", waited ? json(Seconds(m.latency_sum).count() / m.started) : json()},
         {"latency_max_s", waited ? json(Seconds(m.latency_max).count()) : json()}});
  }
  return rows;
}

NextFires next_fires(const ScheduleInfo& s) {
  NextFires next;
  try {
    const CronSpec spec = CronSpec::parse(s.spec, s.zone);
    TimePoint at = s.now;
    for (int i = 0; i < kNextFiresShown; ++i) {
      const std::optional<TimePoint> fire = spec.next_after(at);
      if (!fire) break;
      next.times.push_back(spec.format_local(*fire));
      at = *fire;
    }
  } catch (const CronError& e) {
    next.problem = detail::one_line(e.what());
  }
  return next;
}

json schedule_json(const ScheduleInfo& s) {
  const NextFires next = next_fires(s);
  return {{"name", s.name},
          {"spec", s.spec},
          {"zone", s.zone},
          {"job", s.job_name},
          {"payload", payload_json(s.payload)},
          {"queue", s.queue},
          {"priority", s.priority},
          {"missed_policy", to_string(s.missed.policy)},
          {"missed_grace_s", Seconds(s.missed.grace).count()},
          {"missed_window_s", Seconds(s.missed.window).count()},
          {"missed_cap", s.missed.cap},
          {"overlap", to_string(s.overlap)},
          {"state", state_text(s)},
          {"paused", s.paused},
          {"retired", s.retired()},
          {"last_tick", optional_json(s.last_tick)},
          {"last_job_id", optional_json(s.last_job_id)},
          {"fired", s.fired},
          {"skipped", s.skipped},
          {"next", next.times},
          {"spec_problem", next.problem.empty() ? json(nullptr) : json(next.problem)},
          {"created_at", iso_utc(s.created_at, true)},
          {"seen_at", iso_utc(s.seen_at, true)}};
}

}  // namespace errand::views
