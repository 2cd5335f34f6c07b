// The PostgreSQL store's two background threads, each on a connection of its own: the VACUUM of
// the jobs table every so many rows (PostgresOptions::vacuum_after), and the LISTEN that wakes
// this process's workers when another process enqueues.
#pragma once

#include "postgres/target.hpp"

#include <libpq-fe.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

namespace errand::pg {

// Runs `vacuum_sql` (pg::vacuum_sql: a VACUUM of the jobs table) in the background after every
// `every` rows claimed or settled (0: never). Maintenance only: failures are dropped and the next
// trigger tries again on a new connection. The destructor cancels a VACUUM in progress and joins.
class BackgroundVacuum {
 public:
  BackgroundVacuum(std::shared_ptr<const Target> target, std::string vacuum_sql, std::size_t every);
  ~BackgroundVacuum();
  BackgroundVacuum(const BackgroundVacuum&) = delete;
  BackgroundVacuum& operator=(const BackgroundVacuum&) = delete;

  // Counts rows claimed or settled; starts a VACUUM (and the thread, the first time) every
  // `every` rows. Thread-safe and cheap.
  void count(std::size_t rows);

 private:
  void loop(std::stop_token stop);
  void set_cancel(PGcancel* cancel);

  const std::shared_ptr<const Target> target_;
  const std::string sql_;
  const std::size_t every_;
  std::atomic<std::size_t> churn_{0};  // rows claimed or settled since the last VACUUM
  std::mutex mutex_;                   // guards everything below
  std::condition_variable_any wanted_cv_;
  bool wanted_ = false;
  bool running_ = false;
  PGcancel* cancel_ = nullptr;  // cancels the VACUUM connection's running statement
  std::jthread thread_;         // started by the first VACUUM wanted
};

// Holds a connection that ran `listen_sql` (pg::listen_sql) once started; reconnects with
// backoff. Every notification (and every reconnect, which may have missed some) publishes a
// wake-up under `wake_key` (core/wakeup.hpp), but one with the payload "cancel:<id>", which
// publishes that cancel instead; every (re)connect also publishes the cancel of id 0: "cancels
// may have been missed". The destructor stops and joins.
class Listener {
 public:
  Listener(std::shared_ptr<const Target> target, std::string listen_sql, std::string wake_key);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void start();  // idempotent

 private:
  void loop(std::stop_token stop);

  const std::shared_ptr<const Target> target_;
  const std::string listen_sql_;
  const std::string wake_key_;
  std::mutex mutex_;  // guards thread_
  std::jthread thread_;
};

}  // namespace errand::pg
