// Store factories for the conformance suite: the same tests run against every Store
// implementation (SQLite here; PostgreSQL in postgres_storage.hpp, instantiated by a *_pgtest).
//
// A factory creates a fresh, empty database (`TestStorage`) from which the test opens one or
// more Store instances (sharing the database, each with its own connections) and which gives
// raw SQL access for assertions on the stored rows, independently of the store under test.
#pragma once

#include "support/sqlite_db.hpp"
#include "support/temp_dir.hpp"

#include <errand/clock.hpp>
#include <errand/store.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace errand_test {

// Backend-neutral knobs a test may need when opening a store.
struct StoreTuning {
  // How long the store waits for another connection's lock before throwing StoreError.
  std::chrono::milliseconds busy_timeout{5000};
};

// Holds the database's write lock from a separate connection while alive: the store's writes
// wait up to their busy timeout and then fail with StoreError. Readers are not blocked.
class WriteBlock {
 public:
  virtual ~WriteBlock() = default;
};

// One fresh database.
class TestStorage {
 public:
  virtual ~TestStorage() = default;

  // A new Store instance on this database (new connections), using `clock`.
  virtual std::shared_ptr<errand::Store> open(std::shared_ptr<const errand::Clock> clock,
                                              StoreTuning tuning = {}) = 0;
  // The URL errand::open_store and the CLI accept for this database.
  virtual std::string url() const = 0;

  // The SQL name of a store table: `logical` is "jobs" or "finished_jobs" (SQLite: errand_jobs,
  // errand_finished_jobs). Both tables have the columns of the SQLite schema.
  virtual std::string table(std::string_view logical) const = 0;
  // Raw SQL on a connection of the test's own.
  virtual std::vector<Row> rows(std::string_view sql) = 0;
  // SQL expression giving `column` (a stored time) as integer microseconds since the epoch.
  virtual std::string micros(std::string_view column) const = 0;
  // Takes the write lock (see WriteBlock); nullptr when the backend cannot do that.
  virtual std::unique_ptr<WriteBlock> block_writes() = 0;

  // First column of the first row (nullopt for NULL or no row).
  std::optional<std::string> text(std::string_view sql);
  std::optional<std::int64_t> integer(std::string_view sql);
  // Rows of the logical table `logical` ("jobs", "finished_jobs") matching the SQL condition
  // `where`.
  std::int64_t count(std::string_view logical, std::string_view where = "1=1");
};

struct StoreFactory {
  std::string name;  // a valid GoogleTest name part, e.g. "sqlite"
  // A fresh database; nullptr after recording a skip (or failure) of the current test when the
  // backend is not available (see postgres_storage.hpp).
  std::function<std::unique_ptr<TestStorage>()> create;
};

inline void PrintTo(const StoreFactory& factory, std::ostream* os) {
  *os << factory.name;
}

inline std::string factory_name(const ::testing::TestParamInfo<StoreFactory>& info) {
  return info.param.name;
}

// SQLite on a fresh file in a fresh temporary directory.
StoreFactory sqlite_factory();

// The SQLite storage, for SQLite-specific tests that also want the file path.
class SqliteStorage final : public TestStorage {
 public:
  SqliteStorage();
  std::shared_ptr<errand::Store> open(std::shared_ptr<const errand::Clock> clock,
                                      StoreTuning tuning = {}) override;
  std::string url() const override { return "sqlite:" + path().string(); }
  std::string table(std::string_view logical) const override {
    return "errand_" + std::string(logical);
  }
  std::vector<Row> rows(std::string_view sql) override;
  std::string micros(std::string_view column) const override { return std::string(column); }
  std::unique_ptr<WriteBlock> block_writes() override;

  std::filesystem::path path() const { return dir_.file("errand.db"); }
  const TempDir& dir() const { return dir_; }
  // The inspection connection (opened lazily, once the file exists).
  SqliteDb& db();

 private:
  TempDir dir_;
  std::mutex mutex_;  // job threads and the test thread may inspect at once
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace errand_test
