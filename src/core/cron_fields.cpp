#include "core/cron_fields.hpp"

#include "core/text.hpp"

#include <errand/cron.hpp>

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace errand::cron {

namespace {

constexpr std::size_t kMaxSpecBytes = 1024;

struct FieldRule {
  const char* name;
  unsigned low;
  unsigned high;
  const std::array<std::string_view, 12>* names;  // names[i] is value low + i; or null
};

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 12> kDayNames = {"SUN", "MON", "TUE", "WED", "THU", "FRI",
                                                        "SAT", "",    "",    "",    "",    ""};

constexpr FieldRule kSecond{"second", 0, 59, nullptr};
constexpr FieldRule kMinute{"minute", 0, 59, nullptr};
constexpr FieldRule kHour{"hour", 0, 23, nullptr};
constexpr FieldRule kDayOfMonth{"day-of-month", 1, 31, nullptr};
constexpr FieldRule kMonth{"month", 1, 12, &kMonthNames};
constexpr FieldRule kDayOfWeek{"day-of-week", 0, 7, &kDayNames};

// The spec as it may appear in a message: valid UTF-8, bounded.
std::string shown(std::string_view text) {
  return detail::to_clean_utf8(text, 120);
}

[[noreturn]] void fail(std::string_view spec, std::string_view what) {
  throw CronError(fmt::format("invalid cron spec \"{}\": {}", shown(spec), what));
}

// `text` as a whole decimal number (digits only), or nullopt; a number too large for int64 reads
// as its maximum, which every caller refuses as too large.
std::optional<std::int64_t> decimal(std::string_view text) {
  if (text.empty() || std::isdigit(static_cast<unsigned char>(text.front())) == 0)
    return std::nullopt;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (end != text.data() + text.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) return INT64_MAX;
  return value;
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

class FieldParser {
 public:
  FieldParser(std::string_view spec, const FieldRule& rule, std::string_view text)
      : spec_(spec), rule_(rule), text_(text) {}

  Field parse() {
    Field field;
    field.star = !text_.empty() && text_.front() == '*';
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = text_.find(',', start);
      const std::string_view item = text_.substr(
          start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      if (item.empty()) fail_here("an empty list item");
      add_item(item, field);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (rule_.high == 7 && field.has(7)) field.bits = (field.bits & ~(1ULL << 7)) | 1ULL;
    return field;
  }

 private:
  [[noreturn]] void fail_here(std::string_view what) const {
    fail(spec_, fmt::format("{} field \"{}\": {}", rule_.name, shown(text_), what));
  }

  unsigned value(std::string_view text) const {
    if (text.empty()) fail_here("a value is missing");
    if (std::isdigit(static_cast<unsigned char>(text.front())) != 0) {
      const std::optional<std::int64_t> v = decimal(text);
      if (!v) fail_here(fmt::format("\"{}\" is not a number", shown(text)));
      if (*v < rule_.low || *v > rule_.high)
        fail_here(fmt::format("{} is outside {}-{}", shown(text), rule_.low, rule_.high));
      return static_cast<unsigned>(*v);
    }
    if (rule_.names != nullptr) {
      const std::string name = upper(text);
      for (std::size_t i = 0; i < rule_.names->size(); ++i)
        if (!(*rule_.names)[i].empty() && (*rule_.names)[i] == name)
          return rule_.low + static_cast<unsigned>(i);
      fail_here(fmt::format("\"{}\" is not a {} name ({}-{})", shown(text), rule_.name,
                            (*rule_.names)[0], rule_.high == 12 ? "DEC" : "SAT"));
    }
    fail_here(fmt::format("\"{}\" is not a number", shown(text)));
  }

  void add_item(std::string_view item, Field& field) const {
    std::string_view range = item;
    unsigned step = 1;
    const std::size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      range = item.substr(0, slash);
      const std::string_view step_text = item.substr(slash + 1);
      if (step_text.empty()) fail_here("a step after '/' is missing");
      const std::optional<std::int64_t> n = decimal(step_text);
      if (!n) fail_here(fmt::format("step \"{}\" is not a number", shown(step_text)));
      if (*n > 1000) fail_here(fmt::format("step {} is too large", shown(step_text)));
      if (*n == 0) fail_here("a step of 0");
      step = static_cast<unsigned>(*n);
    }
    unsigned first = rule_.low;
    unsigned last = rule_.high;
    if (range == "*") {
      // the whole field
    } else {
      const std::size_t dash = range.find('-');
      if (dash == std::string_view::npos) {
        first = value(range);
        // `a/n` runs from a to the field's end (as cronie); a bare `a` is a itself.
        last = slash == std::string_view::npos ? first : rule_.high;
      } else {
        first = value(range.substr(0, dash));
        last = value(range.substr(dash + 1));
        if (first > last)
          fail_here(
              fmt::format("range {} runs backwards (ranges do not wrap around)", shown(range)));
      }
    }
    for (unsigned v = first; v <= last; v += step)
      field.bits |= 1ULL << v;
  }

  std::string_view spec_;
  const FieldRule& rule_;
  std::string_view text_;
};

std::vector<std::string_view> split_fields(std::string_view spec) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < spec.size()) {
    while (i < spec.size() && (spec[i] == ' ' || spec[i] == '\t'))
      ++i;
    const std::size_t start = i;
    while (i < spec.size() && spec[i] != ' ' && spec[i] != '\t')
      ++i;
    if (i > start) out.push_back(spec.substr(start, i - start));
  }
  return out;
}

std::string_view macro_fields(std::string_view spec) {
  const std::string name = upper(spec);
  if (name == "@YEARLY" || name == "@ANNUALLY") return "0 0 0 1 1 *";
  if (name == "@MONTHLY") return "0 0 0 1 * *";
  if (name == "@WEEKLY") return "0 0 0 * * 0";
  if (name == "@DAILY" || name == "@MIDNIGHT") return "0 0 0 * * *";
  if (name == "@HOURLY") return "0 0 * * * *";
  if (name == "@REBOOT")
    fail(spec, "@reboot is not a time (a job to run at start-up is enqueued by the application)");
  fail(spec,
       "unknown macro (use @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
       "@hourly or @every D)");
}

void check_text(std::string_view spec) {
  if (spec.size() > kMaxSpecBytes) fail(spec, fmt::format("longer than {} bytes", kMaxSpecBytes));
  for (char c : spec)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') fail(spec, "a control character");
}

}  // namespace

bool Fields::day_matches(unsigned day_of_month_value, unsigned weekday) const {
  const bool by_date = day_of_month.has(day_of_month_value);
  const bool by_weekday = day_of_week.has(weekday);
  return day_of_month.star || day_of_week.star ? by_date && by_weekday : by_date || by_weekday;
}

int next_allowed(const Field& field, int from, int last) {
  for (int v = from; v <= last; ++v)
    if (field.has(static_cast<unsigned>(v))) return v;
  return -1;
}

std::optional<std::chrono::seconds> parse_every(std::string_view spec) {
  check_text(spec);
  const std::vector<std::string_view> words = split_fields(spec);
  if (words.empty() || upper(words[0]) != "@EVERY") return std::nullopt;
  if (words.size() != 2) fail(spec, "@every takes one duration, e.g. @every 30s or @every 1h30m");
  const std::string_view text = words[1];
  constexpr std::int64_t kMaxSeconds = 100LL * 366 * 86400;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0)
      ++i;
    const std::int64_t n = decimal(text.substr(start, i - start)).value_or(0);
    if (n > kMaxSeconds) fail(spec, "the duration is longer than 100 years");
    if (i == start || i == text.size())
      fail(spec, fmt::format("duration \"{}\": give numbers with units s, m, h or d, e.g. 90s, "
                             "5m, 1h30m",
                             shown(text)));
    std::int64_t unit = 0;
    switch (std::tolower(static_cast<unsigned char>(text[i]))) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      default:
        fail(spec, fmt::format("duration \"{}\": unknown unit '{}' (s, m, h or d)", shown(text),
                               shown(text.substr(i, 1))));
    }
    ++i;
    total += n * unit;
    if (total > kMaxSeconds) fail(spec, "the duration is longer than 100 years");
  }
  if (total == 0) fail(spec, "@every needs a duration of at least 1s");
  return std::chrono::seconds{total};
}

Fields parse_fields(std::string_view spec) {
  check_text(spec);
  std::vector<std::string_view> words = split_fields(spec);
  if (words.empty()) fail(spec, "empty");
  if (words[0].front() == '@') {
    if (words.size() != 1) fail(spec, "a macro stands alone");
    words = split_fields(macro_fields(words[0]));
  }
  if (words.size() != 5 && words.size() != 6)
    fail(spec, fmt::format("{} fields; a spec has 5 (minute hour day-of-month month day-of-week) "
                           "or 6 (second first)",
                           words.size()));
  const std::size_t at = words.size() == 6 ? 1 : 0;
  Fields fields;
  fields.second = at == 1 ? FieldParser(spec, kSecond, words[0]).parse() : Field{1, false};
  fields.minute = FieldParser(spec, kMinute, words[at]).parse();
  fields.hour = FieldParser(spec, kHour, words[at + 1]).parse();
  fields.day_of_month = FieldParser(spec, kDayOfMonth, words[at + 2]).parse();
  fields.month = FieldParser(spec, kMonth, words[at + 3]).parse();
  fields.day_of_week = FieldParser(spec, kDayOfWeek, words[at + 4]).parse();
  return fields;
}

}  // namespace errand::cron
