// What the inspection and administration subcommands share: opening the store, --json lines,
// payloads and times as they print them.
#pragma once

#include "commands.hpp"
#include "format.hpp"

#include "web/json_views.hpp"

#include <errand/errand.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>

namespace errand::cli {

// The version of the objects `--json` prints (every one carries it as "json_version"): fields
// are only ever added within a version; renaming, removing or changing one makes the next.
inline constexpr int kJsonVersion = 1;

// Prints `value` with json_version on one line (invalid UTF-8 replaced).
void print_json_line(nlohmann::json value);
// The records' JSON, shared with the web API (web/json_views.hpp).
using views::optional_json;
using views::payload_json;
// The payload indented for people when it is JSON, else as stored.
std::string payload_text(const std::string& payload);
// "2026-12-03 07:00:00 UTC (5 minutes ago)".
std::string when(TimePoint t, TimePoint now);
void print_limit_note(std::size_t shown, std::size_t limit);
CLI::Option* add_lock_timeout(CLI::App& cmd, std::int64_t& seconds);
// A CLI11 check of a name or value by errand's own rules (a queue name, a rate): ConfigError's
// message, on one line (it quotes the text given, which may hold control characters).
template <class Check>
CLI::Validator errand_check(std::string description, Check check) {
  return CLI::Validator(
      [check](const std::string& text) {
        try {
          check(text);
          return std::string();
        } catch (const ConfigError& e) {
          return one_line(e.what());
        }
      },
      std::move(description));
}
// The store at --db. Inspection opens it read_only, changes `existing`: neither creates nor
// migrates a database (see OpenMode).
std::shared_ptr<Store> open_db(const Globals& globals, OpenMode mode);

}  // namespace errand::cli
