// Opening a store from a URL, as the CLI's --db does.
#pragma once

#include <errand/clock.hpp>
#include <errand/store.hpp>

#include <chrono>
#include <memory>
#include <string_view>

namespace errand {

struct OpenOptions {
  std::shared_ptr<const Clock> clock{};  // the system clock when empty
  // Whether a missing database is created and migrated, or refused (see OpenMode).
  OpenMode mode = OpenMode::create;
  // PostgreSQL: PostgresOptions::statement_timeout (0: none). SQLite waits for locks for its
  // busy_timeout (5 s) whatever this says.
  std::chrono::milliseconds statement_timeout{0};
};

// `sqlite:PATH` (relative or absolute; `sqlite:///ABSOLUTE/PATH` also works), or
// `postgres://` / `postgresql://` URLs as libpq takes them, plus errand's own query parameters
// `schema=NAME` (default errand) and `listen=off` (poll-only, for PgBouncer transaction pooling).
// Throws ConfigError for a URL errand cannot use and StoreError when the store cannot be opened;
// passwords never appear in either message.
std::shared_ptr<Store> open_store(std::string_view url, const OpenOptions& options = {});

// The --db default: a file named errand.db in the current directory.
inline constexpr std::string_view default_database_url = "sqlite:errand.db";

}  // namespace errand
