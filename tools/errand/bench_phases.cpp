// The measured phases of errand bench: see bench_phases.hpp. Each phase gets a store of its own
// (bench_scratch.hpp), so no phase sees another's rows.
#include "bench_phases.hpp"

#include "bench_jobs.hpp"
#include "bench_workers.hpp"

#include <fmt/format.h>
#include <errand/errand.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace errand::cli {

namespace {

using namespace std::chrono_literals;

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// Whether no job is left to run or running. Not Store::counts: that also counts the finished jobs
// kept (--retained), an index scan of every one of them, which would time the counting.
bool nothing_left(Store& store) {
  return store.list_jobs(JobFilter{.limit = 1}).empty();
}

void progress(const char* format_string, auto&&... args) {
  fmt::print(stderr, "bench: {}\n", fmt::format(fmt::runtime(format_string), args...));
}

// Waits until the store is idle (nothing queued or locked, and a moment for the worker to go
// back to sleep), then enqueues latency job `seq`; returns the time just before the enqueue.
SteadyClock::time_point enqueue_on_idle(Store& store, std::int64_t seq) {
  while (!nothing_left(store))
    std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(5ms);
  const auto before = SteadyClock::now();
  enqueue(store, LatencyJob{seq}, "bench");
  return before;
}

// The bench's enqueue options: context "bench", and a uniqueness key by the whole payload with
// --unique.
EnqueueOptions enqueue_options(const BenchOptions& opts) {
  EnqueueOptions options{.context = "bench"};
  if (opts.unique) options.unique = UniqueOptions{};
  return options;
}

}  // namespace

double enqueue_single(Scratch& scratch, const BenchOptions& opts) {
  auto store = scratch.create("single").store;
  progress("enqueue: {} jobs, one per call{}", opts.enqueue_single, opts.unique ? ", unique" : "");
  const auto options = enqueue_options(opts);
  const auto start = SteadyClock::now();
  for (std::int64_t i = 0; i < opts.enqueue_single; ++i) {
    enqueue(*store, NoopJob{i}, options);
  }
  return static_cast<double>(opts.enqueue_single) / seconds_since(start);
}

double enqueue_batches(Store& store, const BenchOptions& opts) {
  progress("enqueue: {} jobs in batches of {}{}", opts.jobs, batch_size,
           opts.unique ? ", unique" : "");
  const auto options = enqueue_options(opts);
  std::vector<NoopJob> jobs;
  jobs.reserve(batch_size);
  const auto start = SteadyClock::now();
  auto last_report = start;
  for (std::int64_t done = 0; done < opts.jobs;) {
    jobs.clear();
    for (std::size_t i = 0; i < batch_size && done < opts.jobs; ++i, ++done) {
      jobs.push_back(NoopJob{done});
    }
    enqueue_all(store, jobs, options);
    if (SteadyClock::now() - last_report > 2s) {
      last_report = SteadyClock::now();
      progress("  {} / {} enqueued", done, opts.jobs);
    }
  }
  return static_cast<double>(opts.jobs) / seconds_since(start);
}

void drain(Store& store, const std::string& url, const BenchOptions& opts, ChildSet& workers,
           Result& result) {
  progress("drain: starting {} worker process(es) x {} concurrency", opts.workers,
           opts.concurrency);
  struct rusage before {};
  ::getrusage(RUSAGE_CHILDREN, &before);
  std::vector<Child> children;
  auto stop_all = [&children] {
    for (auto& c : children) {
      if (c.to_child >= 0) ::close(c.to_child);
      c.to_child = -1;
    }
  };
  try {
    for (std::int64_t i = 0; i < opts.workers; ++i) {
      children.push_back(spawn_worker(url, opts, Report::progress, workers));
    }
    for (auto& c : children) {
      if (read_line(c.from_child) != "ready") {
        throw std::runtime_error("bench: a worker process failed to start");
      }
    }
    for (auto& c : children)
      c.cpu_at_go_ms = process_cpu_ms(c.pid);
    const auto start = SteadyClock::now();
    for (auto& c : children)
      write_all(c.to_child, "go\n");
    // Until the workers report N runs returned, wait on their pipes (and count the store's rows
    // once a second only, as a fallback: counting is not free, for SQLite nor PostgreSQL); then
    // count every 5 ms until the last settle has committed and nothing is left.
    std::vector<pollfd> fds;
    for (auto& c : children)
      fds.push_back(pollfd{c.from_child, POLLIN, 0});
    std::vector<std::int64_t> done(children.size(), 0);
    auto last_report = start;
    auto last_count = start;
    // The drain's rate per whole second: runs returned between two looks, the first look after
    // each whole second from 'go' (an interval spanning several seconds counts for each).
    std::int64_t whole_seconds = 0;
    auto last_look = start;
    std::int64_t finished_at_last_look = 0;
    while (true) {
      std::int64_t finished = 0;
      for (auto d : done)
        finished += d;
      if (const auto now = SteadyClock::now(); now - start >= (whole_seconds + 1) * 1s) {
        const double rate = static_cast<double>(finished - finished_at_last_look) /
                            std::chrono::duration<double>(now - last_look).count();
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - start).count();
        for (; whole_seconds < seconds; ++whole_seconds)
          result.drain_second_rates.push_back(rate);
        last_look = now;
        finished_at_last_look = finished;
      }
      // Before the runs reported reach the jobs, a look at the store only guards against reports
      // that never come: each look reads the jobs table in an order no index gives (on
      // PostgreSQL 130-150 ms of a 200,000-job table), time the drain's 2 cores lost once a
      // second.
      const bool count_now =
          finished >= opts.jobs || SteadyClock::now() - last_count > std::chrono::seconds{10};
      if (count_now) {
        last_count = SteadyClock::now();
        if (nothing_left(store)) break;
      }
      if (SteadyClock::now() - last_report > 2s) {
        last_report = SteadyClock::now();
        progress("  {} runs finished after {:.1f} s", finished, seconds_since(start));
      }
      if (finished >= opts.jobs) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      for (auto& f : fds)
        f.revents = 0;
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      for (std::size_t i = 0; i < children.size(); ++i) {
        // The child writes each line with one write(), so a readable pipe holds whole lines.
        while (true) {
          pollfd one{children[i].from_child, POLLIN, 0};
          if (::poll(&one, 1, 0) <= 0 || (one.revents & POLLIN) == 0) {
            if (one.revents & (POLLHUP | POLLERR)) {
              throw std::runtime_error("bench: a worker process ended during the drain");
            }
            break;
          }
          const std::string line = read_line(children[i].from_child);
          long long n = 0;
          if (std::sscanf(line.c_str(), "done %lld", &n) == 1) done[i] = n;
        }
      }
    }
    const double elapsed = seconds_since(start);
    double cpu_ms = 0;
    std::int64_t peak_kib = 0;
    for (auto& c : children) {
      cpu_ms += process_cpu_ms(c.pid) - c.cpu_at_go_ms;
      peak_kib = std::max(peak_kib, process_peak_rss_kib(c.pid));
    }
    result.drain_seconds = elapsed;
    result.drain_per_s = static_cast<double>(opts.jobs) / elapsed;
    result.cpu_ms_per_1000 = cpu_ms / static_cast<double>(opts.jobs) * 1000.0;
    result.peak_rss_mb = static_cast<double>(peak_kib) / 1024.0;
    progress("drain: {} jobs in {:.2f} s; stopping the workers", opts.jobs, elapsed);
  } catch (...) {
    stop_all();
    for (auto& c : children) {
      if (c.from_child >= 0) ::close(c.from_child);
      workers.reap(c.pid);
    }
    throw;
  }
  stop_all();
  for (auto& c : children) {
    const std::string stats = read_line(c.from_child);
    ::close(c.from_child);
    std::int64_t started = 0, succeeded = 0, retried = 0, dead = 0, lost = 0;
    if (std::sscanf(stats.c_str(), "stats %ld %ld %ld %ld %ld", &started, &succeeded, &retried,
                    &dead, &lost) == 5) {
      result.runs_started += started;
      result.runs_succeeded += succeeded;
      result.retried += retried;
      result.dead += dead;
      result.lock_lost += lost;
    }
    const int status = workers.reap(c.pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      progress("warning: worker process {} ended with status {}", c.pid, status);
    }
  }
  struct rusage after {};
  ::getrusage(RUSAGE_CHILDREN, &after);
  auto ms = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1000.0 + static_cast<double>(t.tv_usec) / 1000.0;
  };
  const double lifetime_ms =
      ms(after.ru_utime) - ms(before.ru_utime) + ms(after.ru_stime) - ms(before.ru_stime);
  result.cpu_ms_per_1000_lifetime = lifetime_ms / static_cast<double>(opts.jobs) * 1000.0;
  result.peak_rss_mb_rusage = static_cast<double>(after.ru_maxrss) / 1024.0;
}

void latency(Scratch& scratch, const BenchOptions& opts, Result& result) {
  auto store = scratch.create("latency").store;
  BenchState state;
  const auto registry = make_registry();
  WorkerOptions options = worker_options_of(opts);
  Worker<BenchState> worker(store, registry, state, std::move(options));
  std::exception_ptr worker_error;
  std::jthread thread([&](std::stop_token stop) {
    try {
      worker.run(stop);
    } catch (...) {
      worker_error = std::current_exception();
    }
  });
  constexpr std::int64_t warmup = 10;
  progress("latency: {} samples (+{} warm-up), one job at a time", opts.latency_samples, warmup);
  for (std::int64_t seq = 0; seq < opts.latency_samples + warmup; ++seq) {
    const auto before = enqueue_on_idle(*store, seq);
    std::unique_lock lock(state.mutex);
    if (!state.started.wait_for(lock, 10s, [&] { return state.last_seq == seq; })) {
      throw std::runtime_error("bench: a latency job did not start within 10 s");
    }
    if (seq >= warmup) {
      result.latencies_ms.push_back(
          std::chrono::duration<double, std::milli>(state.started_at - before).count());
    }
  }
  thread.request_stop();
  thread.join();
  if (worker_error) std::rethrow_exception(worker_error);
}

// Latency with the worker in another process, woken by PostgreSQL's LISTEN/NOTIFY.
void latency_listen(Scratch& scratch, const BenchOptions& opts, ChildSet& workers, Result& result) {
  const auto [url, store] = scratch.create("listen");
  Child child = spawn_worker(url, opts, Report::starts, workers);
  auto finish = [&child, &workers] {
    if (child.to_child >= 0) ::close(child.to_child);
    child.to_child = -1;
    try {
      while (read_line(child.from_child, std::chrono::seconds{60}).starts_with("start")) {
      }
    } catch (const std::exception&) {
      ::kill(child.pid, SIGKILL);
    }
    ::close(child.from_child);
    workers.reap(child.pid);
  };
  try {
    if (read_line(child.from_child) != "ready") {
      throw std::runtime_error("bench: the worker process failed to start");
    }
    write_all(child.to_child, "go\n");
    constexpr std::int64_t warmup = 10;
    progress("latency (LISTEN): {} samples (+{} warm-up), worker in another process",
             opts.latency_samples, warmup);
    for (std::int64_t seq = 0; seq < opts.latency_samples + warmup; ++seq) {
      const auto before = enqueue_on_idle(*store, seq);
      const std::string line = read_line(child.from_child, std::chrono::seconds{10});
      long long got_seq = -1;
      long long started_ns = 0;
      if (std::sscanf(line.c_str(), "start %lld %lld", &got_seq, &started_ns) != 2 ||
          got_seq != seq) {
        throw std::runtime_error(fmt::format("bench: unexpected worker report '{}'", line));
      }
      const auto before_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(before.time_since_epoch()).count();
      if (seq >= warmup) {
        result.listen_latencies_ms.push_back(static_cast<double>(started_ns - before_ns) / 1e6);
      }
    }
  } catch (...) {
    finish();
    throw;
  }
  finish();
}

}  // namespace errand::cli
