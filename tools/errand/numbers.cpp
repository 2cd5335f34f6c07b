#include "numbers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace errand::cli {

namespace {

// `text` for a message: quoted, at most 40 bytes, control and non-ASCII bytes as \xNN.
std::string shown(std::string_view text) {
  constexpr std::size_t kMax = 40;
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out +=
        c >= 0x20 && c < 0x7f ? std::string(1, static_cast<char>(c)) : fmt::format("\\x{:02x}", c);
  }
  return out + (text.size() > kMax ? "'..." : "'");
}

std::string bound_text(std::int64_t value, const Bounds& bounds, bool with_note) {
  std::string out = std::to_string(value);
  if (!bounds.unit.empty()) out += fmt::format(" {}", bounds.unit);
  if (with_note && !bounds.note.empty()) out += fmt::format(", {}", bounds.note);
  return out;
}

}  // namespace

std::string number_problem(std::string& text, const Bounds& bounds) {
  if (text.empty()) return "a number is required, not an empty string";
  const bool negative = text.front() == '-';
  std::string_view digits = std::string_view(text).substr(negative ? 1 : 0);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
    return fmt::format("{} is not a whole number (decimal digits only, like {})", shown(text),
                       std::clamp<std::int64_t>(10, bounds.min, bounds.max));
  }
  // Only digits (and a leading '-'): safe to print as given, shortened.
  const std::string given = text.size() > 40 ? text.substr(0, 40) + "..." : text;
  const auto too_small = [&] {
    return fmt::format("{} is too small (at least {})", given,
                       bound_text(bounds.min, bounds, false));
  };
  const auto too_large = [&] {
    return fmt::format("{} is too large (at most {})", given, bound_text(bounds.max, bounds, true));
  };
  while (digits.size() > 1 && digits.front() == '0')
    digits.remove_prefix(1);
  std::int64_t magnitude = 0;
  // Digits only: the one possible failure is a value beyond int64.
  if (std::from_chars(digits.data(), digits.data() + digits.size(), magnitude).ec != std::errc{}) {
    return negative ? too_small() : too_large();
  }
  const std::int64_t value = negative ? -magnitude : magnitude;
  if (value < bounds.min) return too_small();
  if (value > bounds.max) return too_large();
  text = std::to_string(value);
  return {};
}

CLI::Validator number_in(const Bounds& bounds) {
  return CLI::Validator([bounds](std::string& text) { return number_problem(text, bounds); },
                        fmt::format("INT in [{} - {}]", bounds.min, bounds.max));
}

}  // namespace errand::cli
