// The worker processes of `errand bench`: each is this binary run as the hidden
// `errand bench-worker`, its stdin and stdout pipes to the parent. The lines on those pipes:
//   child -> parent: "ready" (store open), then with --report-starts "start SEQ STEADY_NS" per
//                    latency job, with --report-progress "done N" (runs returned so far), and
//                    after stopping "stats STARTED SUCCEEDED RETRIED DEAD LOCK_LOST";
//   parent -> child: "go" starts the worker, EOF stops it.
// Also the parent's readings of a child's CPU time and peak memory from /proc.
#pragma once

#include "bench_interrupt.hpp"
#include "bench_options.hpp"
#include "commands.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace errand::cli {

// /proc/<pid>/stat utime + stime, in milliseconds (0 if unreadable).
double process_cpu_ms(pid_t pid);

// /proc/<pid>/status VmHWM (peak resident set), in KiB (0 if unreadable).
std::int64_t process_peak_rss_kib(pid_t pid);

// A `errand bench-worker` child: its stdin and stdout are pipes to us.
struct Child {
  pid_t pid = -1;
  int to_child = -1;    // its stdin: "go\n" starts the worker, EOF stops it
  int from_child = -1;  // its stdout: "ready\n", then a stats line after stopping
  double cpu_at_go_ms = 0;
};

// Writes all of `data` to `fd`; throws on an error.
void write_all(int fd, std::string_view data);

// Reads one line (without the newline); empty at EOF. Throws after `timeout` without one.
std::string read_line(int fd, std::chrono::milliseconds timeout = std::chrono::minutes{5});

// What a worker process reports beyond "ready" and "stats": nothing, "start" or "done" lines.
enum class Report { none, starts, progress };

// Starts an `errand bench-worker` on `db_url` (passed in its environment as ERRAND_DB, never on
// its command line) with the worker options of `opts`, registered in `children`. It inherits the
// run's SQLite lock (see bench_scratch.hpp), and SIGINT, SIGTERM and SIGPIPE act as by default
// there. Throws if it cannot be started.
Child spawn_worker(const std::string& db_url, const BenchOptions& opts, Report report,
                   ChildSet& children);

// `errand bench-worker`: a Worker running the bench jobs, started by "go" on stdin, stopped by
// EOF; returns the exit status.
int run_bench_worker(const Globals& globals, const WorkerProcessOptions& opts);

}  // namespace errand::cli
