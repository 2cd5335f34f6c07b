// What a job type is. A job is a copyable struct with
//   static constexpr std::string_view name = "SendEmail";   // unique, stored with every job
//   void run(AppState&);            // or run(AppState&, std::stop_token),
//                                   // or run(AppState&, errand::RunContext&) (run_context.hpp)
// and nlohmann-json conversions (to_json/from_json, e.g. NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE).
// Throwing from run (anything, std or not) fails the attempt; the message is recorded. Throwing
// errand::Snooze or errand::Discard (or returning one: run may return errand::RunReturn) puts
// the job off without charging an attempt, or discards it.
// Optionally `static constexpr int max_retries = N;` overrides the worker's max_retries,
// `static constexpr auto timeout = std::chrono::seconds{N};` its job_timeout,
// `static constexpr int max_snoozes = N;` its max_snoozes, and
// `static errand::Duration backoff(std::int32_t error_count);` its backoff.
#pragma once

#include <errand/run_context.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <stop_token>
#include <string_view>
#include <type_traits>

namespace errand {

template <class J>
concept NamedJob = requires {
  { J::name } -> std::convertible_to<std::string_view>;
};

template <class J>
concept JsonSerializable = requires(const J& job) {
  nlohmann::json(job);
};

template <class J>
concept JsonDeserializable = requires(const nlohmann::json& json) {
  json.template get<J>();
};

// run(AppState&, std::stop_token): the job can stop early when the worker shuts down.
template <class J, class AppState>
concept CancellableJob = requires(J& job, AppState& state, std::stop_token token) {
  job.run(state, token);
};

template <class J, class AppState>
concept PlainJob = requires(J& job, AppState& state) {
  job.run(state);
};

// run(AppState&, RunContext&): the job can snooze, record an output, report progress.
template <class J, class AppState>
concept ContextJob = requires(J& job, AppState& state, RunContext& context) {
  job.run(state, context);
};

// A type that can be enqueued: named and serializable.
template <class J>
concept EnqueueableJob = NamedJob<J> && JsonSerializable<J>;

// A type that a Registry<AppState> can run.
template <class J, class AppState>
concept Job = std::copyable<J> && NamedJob<J> && JsonSerializable<J> && JsonDeserializable<J> &&
    (ContextJob<J, AppState> || CancellableJob<J, AppState> || PlainJob<J, AppState>);

// `static constexpr auto timeout = std::chrono::seconds{30};` limits one run of the type.
template <class J>
concept HasTimeout = requires {
  { J::timeout } -> std::convertible_to<std::chrono::milliseconds>;
};

template <class J>
concept HasMaxRetries = requires {
  { J::max_retries } -> std::convertible_to<std::int32_t>;
};

template <class J>
concept HasMaxSnoozes = requires {
  { J::max_snoozes } -> std::convertible_to<std::int32_t>;
};

// `static errand::Duration backoff(std::int32_t error_count);`: the delay before the next
// attempt, given the error count after this failure (1, 2, ...).
template <class J>
concept HasBackoff = requires(std::int32_t error_count) {
  { J::backoff(error_count) } -> std::convertible_to<Duration>;
};

namespace detail {
// Readable compile errors for a type that is not a job; used by Registry::add and enqueue.
template <class J>
constexpr void check_enqueueable() {
  static_assert(NamedJob<J>,
                "errand: a job type needs `static constexpr std::string_view name = \"...\";`");
  static_assert(JsonSerializable<J>,
                "errand: a job type needs a nlohmann-json to_json (e.g. "
                "NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MyJob, field1, field2))");
}

template <class J, class AppState>
constexpr void check_job() {
  check_enqueueable<J>();
  static_assert(std::copyable<J>, "errand: a job type must be copyable");
  static_assert(JsonDeserializable<J>,
                "errand: a job type needs a nlohmann-json from_json (e.g. "
                "NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MyJob, field1, field2))");
  static_assert(ContextJob<J, AppState> || CancellableJob<J, AppState> || PlainJob<J, AppState>,
                "errand: a job type needs `void run(AppState&)`, "
                "`void run(AppState&, std::stop_token)` or "
                "`void run(AppState&, errand::RunContext&)` for the registry's AppState");
}

// Runs `job` by whichever run it has; a run returning void completed.
template <class J, class AppState>
RunReturn invoke_run(J& job, AppState& state, RunContext& context) {
  const auto call = [&]() -> decltype(auto) {
    if constexpr (ContextJob<J, AppState>) {
      return job.run(state, context);
    } else if constexpr (CancellableJob<J, AppState>) {
      return job.run(state, context.stop_token());
    } else {
      return job.run(state);
    }
  };
  if constexpr (std::is_void_v<decltype(call())>) {
    call();
    return RunReturn{};
  } else {
    static_assert(std::is_convertible_v<decltype(call()), RunReturn>,
                  "errand: a job's run returns void or errand::RunReturn (Snooze, Discard)");
    return call();
  }
}
}  // namespace detail

}  // namespace errand
