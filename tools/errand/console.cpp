#include "console.hpp"

#include "format.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

namespace errand::cli {

namespace {
bool use_color(bool terminal) {
  if (!terminal || std::getenv("NO_COLOR") != nullptr) return false;
  const char* term = std::getenv("TERM");
  return term == nullptr || std::string_view(term) != "dumb";
}

constexpr std::string_view clear_line = "\r\x1b[K";
}  // namespace

Console::Console(bool terminal)
    : terminal_(terminal),
      color_(use_color(terminal)),
      start_(std::chrono::steady_clock::now()),
      status_enabled_(terminal) {}

double Console::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Console::paint(std::string_view text, Color color) const {
  if (!color_ || color == Color::none) return std::string(text);
  std::string_view code;
  switch (color) {
    case Color::dim:
      code = "2";
      break;
    case Color::bold:
      code = "1";
      break;
    case Color::green:
      code = "32";
      break;
    case Color::yellow:
      code = "33";
      break;
    case Color::red:
      code = "31";
      break;
    case Color::cyan:
      code = "36";
      break;
    case Color::none:
      break;
  }
  return fmt::format("\x1b[{}m{}\x1b[0m", code, text);
}

void Console::line(std::string_view text) {
  std::lock_guard lock(mu_);
  print_line_locked(text);
  draw_status_locked();
  std::fflush(stdout);
}

void Console::line(std::string_view text, std::string status) {
  std::lock_guard lock(mu_);
  status_ = std::move(status);
  print_line_locked(text);
  draw_status_locked();
  std::fflush(stdout);
}

void Console::status(std::string status) {
  std::lock_guard lock(mu_);
  status_ = std::move(status);
  draw_status_locked();
  std::fflush(stdout);
}

void Console::clear_status() {
  std::lock_guard lock(mu_);
  if (status_shown_) fmt::print("{}", clear_line);
  status_shown_ = false;
  status_enabled_ = false;
  std::fflush(stdout);
}

void Console::print_line_locked(std::string_view text) {
  if (status_shown_) fmt::print("{}", clear_line);
  status_shown_ = false;
  fmt::print("{} {}\n", paint(fmt::format("[{:4.1f}s]", elapsed_seconds()), Color::dim), text);
}

void Console::draw_status_locked() {
  if (!status_enabled_ || status_.empty()) return;
  // Longer than the terminal is wide, the line would wrap and \r could not redraw it.
  const std::string text =
      truncate(fmt::format("[{:4.1f}s] {}", elapsed_seconds(), status_), terminal_width() - 1);
  fmt::print("{}{}", clear_line, paint(text, Color::bold));
  status_shown_ = true;
}

}  // namespace errand::cli
