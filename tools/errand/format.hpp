// Text helpers shared by the commands and the demo: times, durations, terminal width, tables.
#pragma once

#include <errand/clock.hpp>

#include "core/human_text.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace errand::cli {

// iso_utc, relative_time, human_duration and one_line: the library's (core/human_text.hpp).
using detail::human_duration;
using detail::iso_utc;
using detail::one_line;
using detail::relative_time;

// "title\n  label   value\n ...": one record with every field whole, for `--full`. A value's
// lines (it may hold newlines) are indented under its first; other control characters become
// spaces (one_line), so stored text cannot drive the terminal.
std::string field_block(std::string_view title,
                        const std::vector<std::pair<std::string, std::string>>& fields);

// Width in terminal columns, counting each UTF-8 code point as one column.
std::size_t display_width(std::string_view text);

// At most `width` columns of `text`; shortened text ends with "...".
std::string truncate(std::string_view text, std::size_t width);

bool stdout_is_terminal();

// Columns available on stdout: the terminal's width, else $COLUMNS, else 120.
std::size_t terminal_width();

// A left-aligned text table. Every column but the last is as wide as its widest cell (after
// truncation to its maximum); the last column takes what is left of `width` and is truncated.
class Table {
 public:
  struct Column {
    std::string header;
    std::size_t max_width = 40;
    bool right_align = false;
  };
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  std::string render(std::size_t width) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace errand::cli
