#include "core/stored_values.hpp"

#include "core/text.hpp"
#include "core/unique_key.hpp"

#include <errand/error.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>

namespace errand::detail {

std::string quoted_value(std::string_view text) {
  constexpr std::size_t kShown = 60;
  std::string out = "'";
  std::size_t i = 0;
  while (i < text.size() && i < kShown) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\'' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (byte < 0x20 || byte == 0x7f) {
      out += fmt::format("\\x{:02x}", byte);
    } else if (byte >= 0x80) {
      const std::size_t length = utf8_char_length(text, i);
      if (length == 0) {
        out += fmt::format("\\x{:02x}", byte);
      } else {
        out.append(text.substr(i, length));
        i += length;
        continue;
      }
    } else {
      out += c;
    }
    ++i;
  }
  out += '\'';
  if (i < text.size()) out += fmt::format("... ({} bytes)", text.size());
  return out;
}

std::string invalid_value_message(const StoredTable& where, std::string_view row,
                                  std::string_view column, std::string_view value,
                                  std::string_view expected) {
  return fmt::format("{} '{}': {}{}{}: {} is {}; expected {}", where.store_kind, where.location,
                     where.table, row.empty() ? "" : " row ", row, column, value, expected);
}

std::string schedule_problem(const NewJob& job) {
  if (job.run_at && !valid_stored_micros(job.run_at->time_since_epoch().count())) {
    return fmt::format("its run_at is outside {} ({} microseconds since 1970)", kTimeRange,
                       job.run_at->time_since_epoch().count());
  }
  if (job.delay &&
      (job.delay->count() > kMaxDelayMicros || job.delay->count() < -kMaxDelayMicros)) {
    return fmt::format("its delay of {} microseconds is more than 1000 years either way",
                       job.delay->count());
  }
  return {};
}

std::string unique_problem(const NewJob& job) {
  if (job.unique_key.empty()) return {};
  const bool hex = job.unique_key.size() == 64 &&
                   std::all_of(job.unique_key.begin(), job.unique_key.end(), [](char c) {
                     return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                   });
  if (!hex) return "its unique key is not 64 lowercase hex digits (errand::detail::unique_key)";
  return unique_settings_problem(job.unique_states, job.unique_period);
}

std::string routing_problem(const NewJob& job) {
  try {
    check_queue_name(job.queue);
  } catch (const ConfigError& e) {
    return e.what();
  }
  if (job.partition_key.size() > kMaxPartitionKeyBytes || !is_clean_utf8(job.partition_key)) {
    return fmt::format(
        "its partition key is not valid UTF-8 text of at most {} bytes (without "
        "NUL bytes)",
        kMaxPartitionKeyBytes);
  }
  return {};
}

void check_new_jobs(std::span<const NewJob> jobs) {
  for (const NewJob& job : jobs) {
    std::string problem = schedule_problem(job);
    if (problem.empty()) problem = routing_problem(job);
    if (problem.empty()) problem = unique_problem(job);
    if (!problem.empty()) [[unlikely]] {
      throw StoreError(
          fmt::format("cannot enqueue job '{}': {}; nothing was inserted", job.name, problem));
    }
  }
}

int parse_schema_version(std::string_view text, const StoredTable& where) {
  int version = 0;
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, version);
  // from_chars takes a leading '-'; digits only means a version from 0.
  if (ec != std::errc{} || stop != end || text.front() == '-') {
    throw StoreError(fmt::format(
        "{} '{}': {}.schema_version is {}, not an errand schema version (a whole number from 0); "
        "refusing to use or migrate this database",
        where.store_kind, where.location, where.table, quoted_value(text)));
  }
  return version;
}

std::optional<std::string> worker_queues_text(const std::vector<std::string>& queues) {
  if (queues.empty()) return std::nullopt;
  return nlohmann::json(queues).dump();
}

bool parse_worker_queues(std::string_view text, std::vector<std::string>& queues) {
  queues.clear();
  const auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) return false;
  std::vector<std::string> names;
  for (const auto& name : parsed) {
    if (!name.is_string()) return false;
    names.push_back(name.get<std::string>());
  }
  queues = std::move(names);
  return true;
}

}  // namespace errand::detail
