// Maps job names to job types: turns a stored (name, JSON payload) back into a job and runs it.
#pragma once

#include <errand/error.hpp>
#include <errand/job.hpp>
#include <errand/store.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace errand {

namespace detail {
[[noreturn]] void throw_duplicate_name(std::string_view name);
[[noreturn]] void throw_unknown_name(std::string_view name, const std::vector<std::string>& known);
[[noreturn]] void throw_bad_payload(std::string_view name, bool parse_error, const char* what);
}  // namespace detail

// Not thread-safe while types are being added; safe to share once every type is added.
template <class AppState>
class Registry {
 public:
  // Registers J under J::name. Throws ConfigError when another type already uses the name.
  template <class J>
  Registry& add() {
    detail::check_job<J, AppState>();
    Entry entry;
    entry.run = [](std::string_view payload, AppState& state, RunContext& context) {
      J job = decode<J>(payload);
      return detail::invoke_run(job, state, context);
    };
    if constexpr (HasMaxRetries<J>) entry.max_retries = static_cast<std::int32_t>(J::max_retries);
    if constexpr (HasTimeout<J>) entry.timeout = std::chrono::milliseconds{J::timeout};
    if constexpr (HasMaxSnoozes<J>) entry.max_snoozes = static_cast<std::int32_t>(J::max_snoozes);
    if constexpr (HasBackoff<J>) {
      entry.backoff = [](std::int32_t error_count) { return Duration{J::backoff(error_count)}; };
    }
    if (!entries_.emplace(std::string(J::name), std::move(entry)).second) {
      detail::throw_duplicate_name(J::name);
    }
    return *this;
  }

  bool contains(std::string_view name) const { return entries_.find(name) != entries_.end(); }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, entry] : entries_)
      out.push_back(name);
    return out;
  }

  // The type's own max_retries, when it declares one.
  std::optional<std::int32_t> max_retries(std::string_view name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? std::nullopt : it->second.max_retries;
  }

  // The type's own timeout, when it declares one.
  std::optional<std::chrono::milliseconds> timeout(std::string_view name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? std::nullopt : it->second.timeout;
  }

  // The type's own max_snoozes, when it declares one.
  std::optional<std::int32_t> max_snoozes(std::string_view name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? std::nullopt : it->second.max_snoozes;
  }

  // The type's own backoff, when it declares one (empty otherwise).
  std::function<Duration(std::int32_t)> backoff(std::string_view name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : it->second.backoff;
  }

  // Deserializes and runs the job. Throws DispatchError for an unknown name or a payload that
  // does not deserialize, and whatever the job's run throws.
  RunReturn run(std::string_view name, std::string_view payload, AppState& state,
                RunContext& context) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) detail::throw_unknown_name(name, names());
    return it->second.run(payload, state, context);
  }
  // The same outside a worker, with only a stop token (outputs and progress are dropped).
  RunReturn run(std::string_view name, std::string_view payload, AppState& state,
                std::stop_token token) const {
    ClaimedJob job;
    job.name = std::string(name);
    RunContext context(job, std::move(token), nullptr);
    return run(name, payload, state, context);
  }

 private:
  struct Entry {
    std::function<RunReturn(std::string_view, AppState&, RunContext&)> run;
    std::optional<std::int32_t> max_retries;
    std::optional<std::chrono::milliseconds> timeout;
    std::optional<std::int32_t> max_snoozes;
    std::function<Duration(std::int32_t)> backoff;
  };

  template <class J>
  static J decode(std::string_view payload) {
    nlohmann::json json;
    try {
      json = nlohmann::json::parse(payload);
    } catch (const std::exception& e) {
      detail::throw_bad_payload(J::name, true, e.what());
    }
    try {
      return json.template get<J>();
    } catch (const std::exception& e) {
      detail::throw_bad_payload(J::name, false, e.what());
    }
  }

  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace errand
