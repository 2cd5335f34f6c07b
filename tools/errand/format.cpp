#include "format.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>

namespace errand::cli {

namespace chr = std::chrono;

std::string iso_utc(TimePoint t, bool micros) {
  const auto secs = chr::floor<chr::seconds>(t);
  const auto days = chr::floor<chr::days>(secs);
  const chr::year_month_day ymd{days};
  const chr::hh_mm_ss hms{secs - days};
  std::string out =
      fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  hms.hours().count(), hms.minutes().count(), hms.seconds().count());
  if (micros) out += fmt::format(".{:06}", (t - secs).count());
  out += 'Z';
  return out;
}

std::string human_duration(Duration d) {
  if (d < Duration::zero()) {
    std::string positive = human_duration(-d);
    positive.insert(0, 1, '-');
    return positive;
  }
  const auto us = d.count();
  if (d < chr::seconds{1}) return fmt::format("{}ms", us / 1000);
  if (d < chr::seconds{10}) {
    const auto tenths = (us + 50'000) / 100'000;
    if (tenths % 10 == 0) return fmt::format("{}s", tenths / 10);
    return fmt::format("{}.{}s", tenths / 10, tenths % 10);
  }
  const auto s = chr::round<chr::seconds>(d).count();
  const auto with_rest = [](auto big, std::string_view big_unit, auto small,
                            std::string_view small_unit) {
    return small == 0 ? fmt::format("{}{}", big, big_unit)
                      : fmt::format("{}{}{}{}", big, big_unit, small, small_unit);
  };
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return with_rest(s / 60, "m", s % 60, "s");
  if (s < 86400) return with_rest(s / 3600, "h", s % 3600 / 60, "m");
  return with_rest(s / 86400, "d", s % 86400 / 3600, "h");
}

std::string relative_time(TimePoint t, TimePoint now) {
  const Duration diff = t - now;
  if (diff > -chr::seconds{1} && diff < chr::seconds{1}) return "now";
  if (diff > Duration::zero()) return "in " + human_duration(chr::round<chr::seconds>(diff));
  return human_duration(chr::round<chr::seconds>(-diff)) + " ago";
}

std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return out;
}

std::string field_block(std::string_view title,
                        const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t label_width = 0;
  for (const auto& field : fields)
    label_width = std::max(label_width, field.first.size());
  std::string out = one_line(title) + "\n";
  for (const auto& [label, value] : fields) {
    const std::string indent(2 + label_width + 2, ' ');
    out += "  " + label + std::string(label_width - label.size() + 2, ' ');
    std::size_t start = 0;
    for (bool first = true;; first = false) {
      const std::size_t end = value.find('\n', start);
      const std::string_view line = std::string_view(value).substr(start, end - start);
      if (!first) out += indent;
      out += one_line(line);
      out.erase(out.find_last_not_of(' ') + 1);
      out += '\n';
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return out;
}

namespace {
bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Byte length of the first `columns` code points of `text`.
std::size_t prefix_bytes(std::string_view text, std::size_t columns) {
  std::size_t i = 0;
  for (std::size_t seen = 0; i < text.size(); ++i) {
    if (!is_continuation(text[i]) && seen++ == columns) break;
  }
  return i;
}
}  // namespace

std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !is_continuation(c); }));
}

std::string truncate(std::string_view text, std::size_t width) {
  if (display_width(text) <= width) return std::string(text);
  if (width <= 3) return std::string(text.substr(0, prefix_bytes(text, width)));
  return std::string(text.substr(0, prefix_bytes(text, width - 3))) + "...";
}

bool stdout_is_terminal() {
  return ::isatty(STDOUT_FILENO) == 1;
}

std::size_t terminal_width() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* env = std::getenv("COLUMNS")) {
    std::size_t cols = 0;
    const std::string_view text(env);
    if (std::from_chars(text.data(), text.data() + text.size(), cols).ec == std::errc{} &&
        cols > 0) {
      return cols;
    }
  }
  return 120;
}

std::string Table::render(std::size_t width) const {
  constexpr std::size_t gap = 2;
  const std::size_t n = columns_.size();
  std::vector<std::size_t> widths(n);
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t w = display_width(columns_[c].header);
    for (const auto& row : rows_)
      w = std::max(w, display_width(row[c]));
    widths[c] = std::min(w, columns_[c].max_width);
  }
  if (n > 0) {
    std::size_t used = 0;
    for (std::size_t c = 0; c + 1 < n; ++c)
      used += widths[c] + gap;
    const std::size_t last_min = std::min<std::size_t>(widths[n - 1], 20);
    widths[n - 1] = std::max(last_min, width > used ? std::min(widths[n - 1], width - used) : 0);
  }

  std::string out;
  const auto add_row = [&](const auto& cell_of) {
    std::string line;
    for (std::size_t c = 0; c < n; ++c) {
      const std::string cell = truncate(one_line(cell_of(c)), widths[c]);
      const std::string pad(widths[c] - display_width(cell), ' ');
      if (c > 0) line.append(gap, ' ');
      line += columns_[c].right_align ? pad + cell : cell + pad;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line;
    out += '\n';
  };
  add_row([&](std::size_t c) -> const std::string& { return columns_[c].header; });
  for (const auto& row : rows_) {
    add_row([&](std::size_t c) -> const std::string& { return row[c]; });
  }
  return out;
}

}  // namespace errand::cli
