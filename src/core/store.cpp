#include <errand/error.hpp>
#include <errand/store.hpp>

#include "core/job_filter_sql.hpp"

#include <fmt/format.h>

#include <array>
#include <utility>

namespace errand {

namespace {
constexpr std::array<std::pair<JobState, std::string_view>, 7> kStateNames{{
    {JobState::ready, "ready"},
    {JobState::scheduled, "scheduled"},
    {JobState::running, "running"},
    {JobState::abandoned, "abandoned"},
    {JobState::completed, "completed"},
    {JobState::cancelled, "cancelled"},
    {JobState::discarded, "discarded"},
}};
}  // namespace

JobCursor cursor_of(const JobInfo& job, const JobFilter& filter) {
  const bool finished = detail::lists_finished(filter);
  JobCursor cursor{.id = job.id, .priority = job.priority};
  if (filter.order == JobOrder::natural)
    cursor.at = finished ? job.finished_at.value_or(TimePoint{}) : job.run_at;
  return cursor;
}

std::string_view to_string(JobState state) {
  for (const auto& [value, name] : kStateNames) {
    if (value == state) return name;
  }
  return "unknown";
}

std::optional<JobState> parse_job_state(std::string_view text) {
  for (const auto& [value, name] : kStateNames) {
    if (name == text) return value;
  }
  return std::nullopt;
}

void check_dead_selection(const DeadSelection& selection) {
  switch (selection.kind) {
    case DeadSelection::Kind::all:
      return;
    case DeadSelection::Kind::name:
      if (selection.name.empty()) {
        throw ConfigError(
            "dead-letter selection by type: the type name is empty; give a job type, or select "
            "every dead job explicitly (DeadSelection::all())");
      }
      return;
    case DeadSelection::Kind::ids:
      if (selection.ids.empty()) {
        throw ConfigError(
            "dead-letter selection by id: the list of ids is empty; give at least one id, or "
            "select every dead job explicitly (DeadSelection::all())");
      }
      for (JobId id : selection.ids) {
        if (id <= 0) {
          throw ConfigError(fmt::format(
              "dead-letter selection by id: {} is not a job id (ids are positive)", id));
        }
      }
      return;
    case DeadSelection::Kind::nothing:
      break;
  }
  throw ConfigError(
      "dead-letter selection: nothing was selected; use DeadSelection::all(), ::named(TYPE) or "
      "::with_ids(IDS)");
}

void check_job_selection(const JobSelection& selection) {
  switch (selection.kind) {
    case JobSelection::Kind::all_ready:
      return;
    case JobSelection::Kind::name:
      if (selection.name.empty()) {
        throw ConfigError(
            "job selection by type: the type name is empty; give a job type, or select every "
            "ready job explicitly (JobSelection::all_ready())");
      }
      return;
    case JobSelection::Kind::nothing:
      break;
  }
  throw ConfigError(
      "job selection: nothing was selected; use JobSelection::named(TYPE) or "
      "JobSelection::all_ready()");
}

CancelResult cancel(Store& store, JobId id, std::string_view reason) {
  const CancelResult result = store.cancel_job(id, reason);
  switch (result.kind) {
    case CancelResult::Kind::cancelled:
    case CancelResult::Kind::requested:
      return result;
    case CancelResult::Kind::already_finished:
      throw JobStateError(
          JobStateError::Kind::finished,
          fmt::format("cannot cancel job {}: it is already {}", id, to_string(result.state)));
    case CancelResult::Kind::not_found:
      break;
  }
  throw JobStateError(JobStateError::Kind::not_found,
                      fmt::format("cannot cancel job {}: there is no job with that id in {}", id,
                                  store.describe()));
}

void retry(Store& store, JobId id) {
  switch (store.retry_job(id).kind) {
    case RetryResult::Kind::retried:
      return;
    case RetryResult::Kind::not_finished:
      throw JobStateError(JobStateError::Kind::not_finished,
                          fmt::format("cannot retry job {}: it has not finished (it is waiting "
                                      "to run or running); only completed, cancelled and "
                                      "discarded jobs can be retried",
                                      id));
    case RetryResult::Kind::not_found:
      break;
  }
  throw JobStateError(
      JobStateError::Kind::not_found,
      fmt::format("cannot retry job {}: there is no job with that id in {}", id, store.describe()));
}

}  // namespace errand
