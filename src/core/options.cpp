#include <errand/options.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <random>

namespace errand {

Duration ExponentialBackoff::operator()(std::int32_t error_count) const {
  const double exponent = std::clamp(error_count, 0, 62);
  double delay = static_cast<double>(unit.count()) * std::exp2(exponent);
  delay = std::min(delay, static_cast<double>(max.count()));
  if (jitter > 0) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const double j = std::min(jitter, 1.0);
    delay *= std::uniform_real_distribution<double>(1.0 - j, 1.0 + j)(rng);
  }
  return Duration{static_cast<Duration::rep>(delay)};
}

void log_to_stderr(LogLevel level, std::string_view message) {
  if (level < LogLevel::warning) return;
  const auto now = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  std::string line = fmt::format("{:%Y-%m-%dT%H:%M:%S}Z errand {}: {}\n", now,
                                 level == LogLevel::warning ? "warning" : "error", message);
  std::fputs(line.c_str(), stderr);
}

}  // namespace errand
