// Job types and the application state shared by the tests.
#pragma once

#include <errand/job.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace errand_test {

// The AppState of the tests: records every run ("Name:tag", in run order) and lets a test
// hook into HookJob runs.
struct TestState {
  void record(std::string entry) {
    std::lock_guard lock(mutex);
    runs.push_back(std::move(entry));
  }
  std::vector<std::string> snapshot() const {
    std::lock_guard lock(mutex);
    return runs;
  }
  std::size_t count(std::string_view entry) const {
    std::lock_guard lock(mutex);
    return static_cast<std::size_t>(std::count(runs.begin(), runs.end(), entry));
  }
  std::size_t total() const {
    std::lock_guard lock(mutex);
    return runs.size();
  }

  mutable std::mutex mutex;
  std::vector<std::string> runs;
  // Called by HookJob::run (set before the worker starts).
  std::function<void(const std::string& tag, std::stop_token)> hook;
};

// Succeeds, recording "Record:<tag>".
struct RecordJob {
  static constexpr std::string_view name = "Record";
  int tag = 0;
  void run(TestState& state) { state.record("Record:" + std::to_string(tag)); }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RecordJob, tag)

// A different type under RecordJob's name.
struct SameNameJob {
  static constexpr std::string_view name = "Record";
  std::string other;
  void run(TestState&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SameNameJob, other)

// Always throws std::runtime_error(message), recording "Fail:<message>".
struct FailJob {
  static constexpr std::string_view name = "Fail";
  std::string message;
  void run(TestState& state) {
    state.record("Fail:" + message);
    throw std::runtime_error(message);
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FailJob, message)

// Always fails; its own max_retries (2) wins over the worker's.
struct LimitedFailJob {
  static constexpr std::string_view name = "LimitedFail";
  static constexpr int max_retries = 2;
  int tag = 0;
  void run(TestState& state) {
    state.record("LimitedFail:" + std::to_string(tag));
    throw std::runtime_error("limited failure");
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LimitedFailJob, tag)

// Throws an int.
struct ThrowIntJob {
  static constexpr std::string_view name = "ThrowInt";
  int value = 42;
  void run(TestState& state) {
    state.record("ThrowInt");
    throw value;
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ThrowIntJob, value)

// Throws a struct that is not a std::exception.
struct CustomFailure {
  int code;
};
struct ThrowCustomJob {
  static constexpr std::string_view name = "ThrowCustom";
  int code = 7;
  void run(TestState& state) {
    state.record("ThrowCustom");
    throw CustomFailure{code};
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ThrowCustomJob, code)

// Records "Hook:<tag>" and calls TestState::hook: what the job does is up to each test.
struct HookJob {
  static constexpr std::string_view name = "Hook";
  std::string tag;
  void run(TestState& state, std::stop_token token) {
    state.record("Hook:" + tag);
    if (state.hook) state.hook(tag, std::move(token));
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(HookJob, tag)

// Declares its own 100 ms timeout; records "Timed:<tag>" and waits for its stop token, then
// throws "stopped".
struct TimedJob {
  static constexpr std::string_view name = "Timed";
  static constexpr auto timeout = std::chrono::milliseconds{100};
  int tag = 0;
  void run(TestState& state, std::stop_token token) {
    state.record("Timed:" + std::to_string(tag));
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait(lock, token, [] { return false; });
    throw std::runtime_error("stopped");
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TimedJob, tag)

// Carries arbitrary text (invalid UTF-8 makes its serialization fail at dump time).
struct TextJob {
  static constexpr std::string_view name = "Text";
  std::string text;
  void run(TestState& state) { state.record("Text:" + text); }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TextJob, text)

// Its to_json throws.
struct UnserializableJob {
  static constexpr std::string_view name = "Unserializable";
  void run(TestState&) {}
};
inline void to_json(nlohmann::json&, const UnserializableJob&) {
  throw std::runtime_error("UnserializableJob refuses to serialize");
}
inline void from_json(const nlohmann::json&, UnserializableJob&) {}

}  // namespace errand_test
