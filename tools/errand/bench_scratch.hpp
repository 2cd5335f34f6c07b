// The scratch stores of one `errand bench` run, beside --db: SQLite files
// <stem>-<tag>-<phase><ext> or PostgreSQL schemas bench_<tag>_<phase> (tag: 16 random hex digits;
// with --keep <stem>-keep-<tag>-... and bench_keep_<tag>_..., never removed by another run).
//
// Ownership: while a run (or any of its worker processes) lives it holds a lock that a process
// dying in any way releases: SQLite, flock(2) on <stem>-<tag><ext>.lock beside the files (the
// worker processes inherit it); PostgreSQL, an advisory lock on the tag taken in a transaction
// kept open on a connection of its own (so a transaction-pooling PgBouncer cannot hand it to
// another client). A run removes an earlier run's stores only while holding that run's lock, and
// only stores that really are errand's (errand::remove_store).
#pragma once

#include <errand/store.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace errand::cli {

class Scratch {
 public:
  // Parses `base_url` (errand::open_store's URL), takes this run's lock (not with `keep`), and
  // removes the stores of earlier runs whose lock is free, printing on stderr one line naming
  // what it removed and one per store it left alone. Throws for a URL errand cannot use.
  Scratch(const std::string& base_url, bool keep);
  // finish(), printing its problems.
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  const std::string& kind() const { return kind_; }  // "sqlite" or "postgres"
  // Where the stores are, for the report (no password: a path, or a schema pattern).
  std::string where() const;

  struct Created {
    std::string url;
    std::shared_ptr<Store> store;
  };
  // Creates the store of `phase`. Throws once finish() has begun.
  Created create(std::string_view phase);

  struct Outcome {
    std::vector<std::string> removed;   // store names
    std::vector<std::string> problems;  // "<name>: <why it is still there>"
    bool kept = false;                  // --keep: nothing was removed
  };
  // Removes every store created (unless --keep), then releases the lock. Thread-safe; later calls
  // wait for the first and return its outcome.
  Outcome finish();
  // The stores finish() has not removed (yet); never waits for finish().
  std::vector<std::string> remaining() const;

 private:
  struct Entry {
    std::string name;  // file name or schema
    std::string url;
  };
  void acquire_lock();
  void release_lock(bool remove_lock_file);
  void remove_leftovers();
  std::string store_name(std::string_view phase) const;

  std::string base_url_;
  std::string kind_;
  std::string tag_;
  bool keep_ = false;
  // SQLite
  std::string directory_, stem_, extension_;
  int lock_fd_ = -1;
  // PostgreSQL
  std::string conninfo_;
  struct Owner;
  std::unique_ptr<Owner> owner_;

  std::mutex mutex_;  // create() and finish()
  bool finished_ = false;
  Outcome outcome_;
  mutable std::mutex entries_mutex_;
  std::vector<Entry> entries_;  // created and not removed
};

// "a, b, c"
std::string join_names(const std::vector<std::string>& names);

}  // namespace errand::cli
