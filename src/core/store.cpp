#include <errand/store.hpp>

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

}  // namespace errand
