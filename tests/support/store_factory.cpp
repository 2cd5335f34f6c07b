#include "support/store_factory.hpp"

#include <errand/sqlite.hpp>

#include <stdexcept>

namespace errand_test {

std::optional<std::string> TestStorage::text(std::string_view sql) {
  auto result = rows(sql);
  if (result.empty() || result.front().empty()) return std::nullopt;
  return result.front().front();
}

std::optional<std::int64_t> TestStorage::integer(std::string_view sql) {
  auto value = text(sql);
  if (!value) return std::nullopt;
  return std::stoll(*value);
}

std::int64_t TestStorage::count(std::string_view logical, std::string_view where) {
  return integer("SELECT count(*) FROM " + table(logical) + " WHERE " + std::string(where))
      .value_or(-1);
}

SqliteStorage::SqliteStorage() = default;

std::shared_ptr<errand::Store> SqliteStorage::open(std::shared_ptr<const errand::Clock> clock,
                                                   StoreTuning tuning) {
  errand::SqliteOptions options;
  options.clock = std::move(clock);
  options.busy_timeout = tuning.busy_timeout;
  return errand::open_sqlite(path(), options);
}

SqliteDb& SqliteStorage::db() {
  // Callers outside rows() use it from the test thread only.
  if (!db_) db_ = std::make_unique<SqliteDb>(path());
  return *db_;
}

std::vector<Row> SqliteStorage::rows(std::string_view sql) {
  std::lock_guard lock(mutex_);
  return db().rows(sql);
}

namespace {
class SqliteWriteBlock final : public WriteBlock {
 public:
  explicit SqliteWriteBlock(const std::filesystem::path& path) : db_(path) {
    db_.exec("BEGIN EXCLUSIVE");
  }
  ~SqliteWriteBlock() override { db_.try_exec("ROLLBACK"); }

 private:
  SqliteDb db_;
};
}  // namespace

std::unique_ptr<WriteBlock> SqliteStorage::block_writes() {
  return std::make_unique<SqliteWriteBlock>(path());
}

StoreFactory sqlite_factory() {
  return StoreFactory{"sqlite", [] { return std::make_unique<SqliteStorage>(); }};
}

}  // namespace errand_test
