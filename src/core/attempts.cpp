#include "core/attempts.hpp"

#include "core/rows.hpp"
#include "core/stored_values.hpp"
#include "core/text.hpp"

#include <nlohmann/json.hpp>

namespace errand::detail {

namespace {

using nlohmann::json;

// The attempts of `history`, or nullopt (and `problem`) when it is not a valid history.
std::optional<std::vector<Attempt>> read_history(std::string_view history, std::string* problem) {
  const auto refuse = [&](std::string why) -> std::optional<std::vector<Attempt>> {
    if (problem) *problem = std::move(why);
    return std::nullopt;
  };
  const json parsed = json::parse(history, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) return refuse("the stored error history is not a JSON array");
  std::vector<Attempt> attempts;
  attempts.reserve(parsed.size());
  for (const json& entry : parsed) {
    if (!entry.is_object()) return refuse("an entry of the stored error history is not an object");
    const auto attempt = entry.find("attempt");
    const auto at = entry.find("at_us");
    const auto worker = entry.find("worker");
    const auto error = entry.find("error");
    if (attempt == entry.end() || !attempt->is_number_integer() || at == entry.end() ||
        !at->is_number_integer() || worker == entry.end() || !worker->is_string() ||
        error == entry.end() || !error->is_string()) {
      return refuse("an entry of the stored error history lacks attempt, at_us, worker or error");
    }
    const auto number = attempt->get<std::int64_t>();
    const auto micros = at->get<std::int64_t>();
    if (!in_range(number, kErrorCountRange) || !valid_stored_micros(micros)) {
      return refuse("an entry of the stored error history has an attempt or time out of range");
    }
    attempts.push_back(Attempt{.attempt = static_cast<std::int32_t>(number),
                               .at = time_from_micros(micros),
                               .worker = worker->get<std::string>(),
                               .error = error->get<std::string>()});
  }
  return attempts;
}

}  // namespace

std::string append_attempt(const std::optional<std::string>& history, const Attempt& attempt) {
  std::vector<Attempt> attempts;
  if (history) attempts = read_history(*history, nullptr).value_or(std::vector<Attempt>{});
  attempts.push_back(attempt);
  const std::size_t first =
      attempts.size() > kMaxAttemptsKept ? attempts.size() - kMaxAttemptsKept : 0;
  json out = json::array();
  for (std::size_t i = first; i < attempts.size(); ++i) {
    const Attempt& a = attempts[i];
    out.push_back({{"attempt", a.attempt},
                   {"at_us", micros_of(a.at)},
                   {"worker", to_clean_utf8(a.worker, kMaxAttemptErrorBytes)},
                   {"error", to_clean_utf8(a.error, kMaxAttemptErrorBytes)}});
  }
  return out.dump();
}

std::vector<Attempt> parse_attempts(std::string_view history, std::string* problem) {
  return read_history(history, problem).value_or(std::vector<Attempt>{});
}

}  // namespace errand::detail
