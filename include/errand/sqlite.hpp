// The embedded SQLite store: one database file, shared by the threads of a process and by
// processes on one machine.
#pragma once

#include <errand/clock.hpp>
#include <errand/store.hpp>

#include <chrono>
#include <filesystem>
#include <memory>

namespace errand {

struct SqliteOptions {
  // synchronous=NORMAL (the default) is durable against process crashes in WAL mode; FULL also
  // survives power loss at the cost of an fsync per commit.
  enum class Synchronous { normal, full };
  Synchronous synchronous = Synchronous::normal;
  // How long a statement waits for another connection's write lock before failing.
  std::chrono::milliseconds busy_timeout{5000};
  // Clock for every stored timestamp; the system clock when empty.
  std::shared_ptr<const Clock> clock{};
  // Whether a missing database is created and migrated, or refused (see OpenMode).
  OpenMode mode = OpenMode::create;
};

// Opens (creating if missing) the database file at `path`, enables WAL and runs pending schema
// migrations. The parent directory must exist. Throws StoreError naming the path when the file
// cannot be opened, is not a SQLite database, or was written by a newer errand; such files are
// left untouched.
std::shared_ptr<Store> open_sqlite(const std::filesystem::path& path, SqliteOptions options = {});

// The newest schema version this build writes.
int sqlite_schema_version();

}  // namespace errand
