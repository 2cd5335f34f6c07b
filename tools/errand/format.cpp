#include "format.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace errand::cli {

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
