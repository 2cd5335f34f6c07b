// The job of the multi-process tests: appends its number to the running process's output file
// (one write with O_APPEND per run, so concurrent writers never interleave lines), or hands it to
// MarkState::record.
#pragma once

#include <errand/job.hpp>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace errand_test {

struct MarkState {
  int fd = -1;
  // When set, runs record their number here instead of in `fd` (e.g. into a PostgreSQL table).
  std::function<void(std::int64_t)> record;
  // When > 0: the process dies (_exit(3)) as its crash_after-th job starts, holding its locks.
  int crash_after = 0;
  std::atomic<int> started{0};
};

struct MarkJob {
  static constexpr std::string_view name = "Mark";
  std::int64_t n = 0;
  void run(MarkState& state) {
    if (state.crash_after > 0 && ++state.started >= state.crash_after) ::_exit(3);
    if (state.record) {
      state.record(n);
      return;
    }
    const std::string line = std::to_string(n) + "\n";
    if (::write(state.fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      throw std::runtime_error("cannot write the mark");
    }
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MarkJob, n)

}  // namespace errand_test
