#include <errand/registry.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace errand::detail {

void throw_duplicate_name(std::string_view name) {
  throw ConfigError(fmt::format(
      "job name '{}' is already registered by another type; job names must be unique", name));
}

void throw_unknown_name(std::string_view name, const std::vector<std::string>& known) {
  throw DispatchError(
      fmt::format("no job type named '{}' is registered in this worker (known: {})", name,
                  known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", "))));
}

void throw_bad_payload(std::string_view name, bool parse_error, const char* what) {
  throw DispatchError(
      parse_error ? fmt::format("payload of job '{}' is not valid JSON: {}", name, what)
                  : fmt::format("payload of job '{}' does not match its type: {}", name, what));
}

}  // namespace errand::detail
