#include <errand/error.hpp>
#include <errand/store.hpp>

#include <fmt/format.h>

#include <array>
#include <utility>

namespace errand {

namespace {
constexpr std::array<std::pair<JobState, std::string_view>, 4> kStateNames{{
    {JobState::ready, "ready"},
    {JobState::scheduled, "scheduled"},
    {JobState::running, "running"},
    {JobState::abandoned, "abandoned"},
}};
}  // namespace

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

}  // namespace errand
