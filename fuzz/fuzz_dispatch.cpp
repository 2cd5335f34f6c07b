// Fuzzes the worker's dispatch path: errand::Registry<State>::run(name, payload, state, token)
// turning a stored (name, JSON payload) back into a job and running it, as the worker does for
// every claimed job.
//
// Input: the job name, a NUL byte, then the payload (no NUL: all of it is the name).
// Three job types of different shapes: strings; integers and a bool (with its own max_retries);
// nested vectors, optionals and a map (taking the stop token).
// Properties:
//   - a bad name or payload is a DispatchError; nothing else escapes (it would abort);
//   - a job that decodes runs once, as the type registered under that name;
//   - round trip: the decoded job's JSON, stored again as a payload, dispatches to a job whose
//     JSON is the same text.
#include <errand/error.hpp>
#include <errand/registry.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

// nlohmann-json 3.11.2 (Debian 12) has no std::optional conversions: empty is null.
namespace nlohmann {
template <class T>
struct adl_serializer<std::optional<T>> {
  static void to_json(json& j, const std::optional<T>& value) {
    if (value) {
      j = *value;
    } else {
      j = nullptr;
    }
  }
  static void from_json(const json& j, std::optional<T>& value) {
    if (j.is_null()) {
      value.reset();
    } else {
      value = j.get<T>();
    }
  }
};
}  // namespace nlohmann

namespace {

struct State {
  std::string last_name;
  nlohmann::json last_job;  // the job that ran, serialized again
  std::size_t runs = 0;

  template <class J>
  void record(const J& job) {
    last_name = std::string(J::name);
    last_job = job;
    ++runs;
  }
};

struct EmailJob {
  static constexpr std::string_view name = "EmailJob";
  std::string to;
  std::string subject;
  std::string body;
  void run(State& state) { state.record(*this); }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(EmailJob, to, subject, body)

struct PaymentJob {
  static constexpr std::string_view name = "PaymentJob";
  static constexpr int max_retries = 3;
  std::int64_t user_id = 0;
  std::int64_t amount_cents = 0;
  std::uint16_t currency = 0;
  bool refund = false;
  void run(State& state) { state.record(*this); }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PaymentJob, user_id, amount_cents, currency, refund)

struct Line {
  std::string sku;
  std::int32_t quantity = 0;
  std::optional<double> unit_price;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Line, sku, quantity, unit_price)

struct ReportJob {
  static constexpr std::string_view name = "ReportJob";
  std::vector<Line> lines;
  std::optional<std::string> note;
  std::vector<std::vector<std::int64_t>> matrix;
  std::map<std::string, std::optional<bool>> flags;
  void run(State& state, std::stop_token stop) {
    if (stop.stop_requested()) std::abort();  // never stopped here
    state.record(*this);
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ReportJob, lines, note, matrix, flags)

[[noreturn]] void fail(const char* property, std::string_view name, std::string_view payload,
                       std::string_view detail = {}) {
  std::fprintf(
      stderr, "fuzz_dispatch: property violated: %s\n  name: %.*s\n  payload: %.*s\n  %.*s\n",
      property, static_cast<int>(name.size()), name.data(), static_cast<int>(payload.size()),
      payload.data(), static_cast<int>(detail.size()), detail.data());
  std::abort();
}

const errand::Registry<State>& registry() {
  static const auto* const instance = [] {
    auto* r = new errand::Registry<State>();
    r->add<EmailJob>().add<PaymentJob>().add<ReportJob>();
    return r;
  }();
  return *instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  const std::string_view name = input.substr(0, nul);
  const std::string_view payload =
      nul == std::string_view::npos ? std::string_view{} : input.substr(nul + 1);

  const auto& jobs = registry();
  if (jobs.max_retries("PaymentJob") != 3 || jobs.max_retries("EmailJob")) {
    fail("max_retries", name, payload);
  }
  State state;
  std::stop_source stop;
  try {
    jobs.run(name, payload, state, stop.get_token());
  } catch (const errand::DispatchError&) {
    if (jobs.contains(name) && state.runs != 0)
      fail("DispatchError after the job ran", name, payload);
    return 0;
  }
  if (!jobs.contains(name) || state.runs != 1 || state.last_name != name) {
    fail("the job that ran is not the one named", name, payload, state.last_name);
  }

  const std::string stored = state.last_job.dump();
  try {
    jobs.run(name, stored, state, stop.get_token());
  } catch (const errand::DispatchError& e) {
    fail("a decoded job, serialized again, does not dispatch", name, payload,
         stored + "\n  " + e.what());
  }
  if (state.runs != 2 || state.last_job.dump() != stored) {
    fail("round trip changed the job", name, payload, stored + "\n  " + state.last_job.dump());
  }
  return 0;
}
