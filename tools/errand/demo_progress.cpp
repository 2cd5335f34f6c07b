#include "demo_progress.hpp"

#include "format.hpp"

#include <fmt/format.h>

namespace errand::cli::demo {

using namespace std::chrono_literals;
using Color = Console::Color;

Progress::Progress(Console& console, const std::vector<JobId>& ids)
    : console_(console), waiting_(ids.begin(), ids.end()) {
  totals_.enqueued = ids.size();
}

void Progress::on_event(const WorkerEvent& event) {
  using Kind = WorkerEvent::Kind;
  const ClaimedJob& job = event.job;
  const auto now = std::chrono::steady_clock::now();
  const int attempt = job.error_count + 1;
  const std::string who = fmt::format("#{} {}", job.id, job.name);
  const std::string error = one_line(event.error);

  std::lock_guard lock(mu_);
  std::string text;
  switch (event.kind) {
    case Kind::started:
      ++totals_.runs;
      started_at_[job.id] = now;
      retrying_.erase(job.id);
      text = fmt::format("{} {} attempt {}, priority {}{}", label("start", Color::cyan), who,
                         attempt, job.priority,
                         job.context.empty() ? "" : fmt::format(", \"{}\"", job.context));
      break;
    case Kind::succeeded:
      ++totals_.succeeded;
      text = fmt::format("{} {} in {}", label("done", Color::green), who, run_time(job.id, now));
      finished(job.id);
      break;
    case Kind::retry_scheduled:
      ++totals_.retries;
      retrying_.insert(job.id);
      started_at_.erase(job.id);
      text =
          fmt::format("{} {} attempt {} failed: {}; next try in {}", label("retry", Color::yellow),
                      who, attempt, error, human_duration(event.retry_delay));
      break;
    case Kind::dead_lettered:
      totals_.dead.push_back({job.id, job.name, error});
      text = fmt::format("{} {} attempt {} failed: {}; moved to the dead-letter queue",
                         label("dead", Color::red), who, attempt, error);
      finished(job.id);
      break;
    case Kind::released:
      totals_.released.push_back({job.id, job.name, {}});
      text = fmt::format("{} {} unlocked after {} without charging an attempt; it stays queued",
                         label("release", Color::yellow), who, run_time(job.id, now));
      started_at_.erase(job.id);
      break;
    case Kind::lock_lost:
      ++totals_.lock_lost;
      text = fmt::format("{} {} another worker holds it now; this run's outcome was dropped",
                         label("lost", Color::red), who);
      started_at_.erase(job.id);
      break;
    case Kind::snoozed:
      text = fmt::format("{} {} snoozed; runs again in {} (no attempt charged)",
                         label("snooze", Color::yellow), who, human_duration(event.retry_delay));
      started_at_.erase(job.id);
      break;
    case Kind::cancelled:
      text = fmt::format("{} {} was cancelled", label("cancel", Color::yellow), who);
      finished(job.id);
      break;
  }
  console_.line(text, status_locked());
  if (waiting_.empty()) cv_.notify_all();
}

bool Progress::wait(std::stop_token stop) {
  std::unique_lock lock(mu_);
  while (!waiting_.empty() && !aborted_ && !stop.stop_requested()) {
    cv_.wait_for(lock, stop, 200ms, [this] { return waiting_.empty() || aborted_; });
    console_.status(status_locked());
  }
  return waiting_.empty();
}

void Progress::abort() {
  std::lock_guard lock(mu_);
  aborted_ = true;
  cv_.notify_all();
}

Totals Progress::totals() const {
  std::lock_guard lock(mu_);
  Totals totals = totals_;
  totals.unfinished = waiting_.size();
  return totals;
}

std::string Progress::label(std::string_view text, Color color) const {
  return console_.paint(fmt::format("{:<7}", text), color);
}

std::string Progress::run_time(JobId id, std::chrono::steady_clock::time_point now) const {
  auto it = started_at_.find(id);
  if (it == started_at_.end()) return "?";
  return human_duration(std::chrono::duration_cast<Duration>(now - it->second));
}

void Progress::finished(JobId id) {
  started_at_.erase(id);
  retrying_.erase(id);
  waiting_.erase(id);
}

std::string Progress::status_locked() const {
  return fmt::format("running {} | done {} | retrying {} | dead {} | left {} of {}",
                     started_at_.size(), totals_.succeeded, retrying_.size(), totals_.dead.size(),
                     waiting_.size(), totals_.enqueued);
}

}  // namespace errand::cli::demo
