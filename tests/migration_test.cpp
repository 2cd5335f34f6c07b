// Migrating a SQLite database written by errand at schema version 2 (tests/fixtures): every job
// keeps its id, state and values; `existing` and `read_only` opens refuse it, naming
// `errand migrate`.
#include "support/sqlite_db.hpp"
#include "support/temp_dir.hpp"
#include "support/v2_fixture.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>

namespace errand_test {
namespace {

std::string open_error(const std::filesystem::path& path, errand::OpenMode mode) {
  try {
    errand::open_sqlite(path, {.mode = mode});
  } catch (const errand::StoreError& e) {
    return e.what();
  }
  return "(no StoreError)";
}

TEST(SqliteMigration, AVersionTwoDatabaseIsRefusedUnmigratedThenMigratedWithNothingLost) {
  TempDir dir;
  const auto path = dir.file("v2.db");
  std::filesystem::copy_file(v2_fixture("sqlite_v2.db"), path);
  std::string unicode_payload;
  std::int64_t first_created_at = 0;
  {
    SqliteDb raw(path);
    EXPECT_EQ(raw.text("SELECT value FROM errand_meta WHERE key = 'schema_version'"), "2");
    unicode_payload = raw.text("SELECT payload FROM errand_jobs WHERE id = 11").value_or("");
    first_created_at = raw.integer("SELECT min(created_at) FROM errand_jobs").value_or(0);
  }
  for (const auto mode : {errand::OpenMode::existing, errand::OpenMode::read_only}) {
    const std::string message = open_error(path, mode);
    EXPECT_NE(message.find("schema version 2"), std::string::npos) << message;
    EXPECT_NE(message.find("errand migrate"), std::string::npos) << message;
  }
  EXPECT_EQ(SqliteDb(path).text("SELECT value FROM errand_meta WHERE key = 'schema_version'"), "2");
  auto clock = std::make_shared<errand::ManualClock>(
      v2_fixture_time(errand::TimePoint{errand::Duration{first_created_at}}));
  auto store = errand::open_sqlite(path, {.clock = clock});
  EXPECT_EQ(store->schema_version(), errand::sqlite_schema_version());
  expect_v2_jobs_migrated(*store, unicode_payload);
  {
    SqliteDb raw(path);
    EXPECT_FALSE(raw.integer("SELECT 1 FROM sqlite_master WHERE name = 'errand_dead_jobs'"));
  }
  expect_v2_store_works(*store);
}

}  // namespace
}  // namespace errand_test
