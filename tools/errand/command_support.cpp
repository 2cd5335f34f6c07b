#include "command_support.hpp"

#include "format.hpp"
#include "numbers.hpp"

#include <fmt/format.h>

namespace errand::cli {

using nlohmann::json;

void print_json_line(json value) {
  value["json_version"] = kJsonVersion;
  fmt::print("{}\n", value.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string payload_text(const std::string& payload) {
  const json parsed = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? payload
                               : parsed.dump(2, ' ', false, json::error_handler_t::replace);
}

std::string when(TimePoint t, TimePoint now) {
  return fmt::format("{} ({})", iso_utc(t), relative_time(t, now));
}

void print_limit_note(std::size_t shown, std::size_t limit) {
  if (shown == limit) fmt::print("(first {} shown; use --limit for more)\n", limit);
}

CLI::Option* add_lock_timeout(CLI::App& cmd, std::int64_t& seconds) {
  return add_number(cmd, "--lock-timeout", seconds, kSecondsOrZero,
                    "seconds after which a locked job counts as abandoned rather than running");
}

std::shared_ptr<Store> open_db(const Globals& globals, OpenMode mode) {
  OpenOptions options;
  options.mode = mode;
  options.statement_timeout = std::chrono::seconds{globals.timeout_s};
  return open_store(globals.db_url_or(default_database_url), options);
}

}  // namespace errand::cli
