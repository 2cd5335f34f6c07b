// Output for the demo, shared by every thread.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

namespace errand::cli {

// Serializes output from every thread. On a terminal it keeps one status line at the bottom,
// redrawn in place, and prints other lines above it; elsewhere it prints plain lines. Each line
// starts with the time since the console was made, e.g. "[ 2.1s]". Thread-safe.
class Console {
 public:
  enum class Color { none, dim, bold, green, yellow, red, cyan };

  explicit Console(bool terminal);

  bool terminal() const { return terminal_; }
  double elapsed_seconds() const;

  // `text` wrapped in an ANSI color when the console uses colors.
  std::string paint(std::string_view text, Color color) const;

  // Prints `text` as a line (above the status line on a terminal). `text` must be one line; it
  // may contain colors from paint().
  void line(std::string_view text);
  // Prints `text` and replaces the status line, in one step.
  void line(std::string_view text, std::string status);
  // Replaces the status line and redraws it; does nothing when not on a terminal.
  void status(std::string status);
  // Erases the status line for good; later lines print plainly.
  void clear_status();

 private:
  void print_line_locked(std::string_view text);
  void draw_status_locked();

  const bool terminal_;
  const bool color_;
  const std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::string status_;
  bool status_shown_ = false;
  bool status_enabled_;
};

}  // namespace errand::cli
