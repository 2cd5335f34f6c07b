// OpenMode on the SQLite store: `existing` and `read_only` never create or migrate, and a
// read_only store never writes (the CLI test table covers the same through `errand`).
#include "support/jobs.hpp"
#include "support/sqlite_db.hpp"
#include "support/temp_dir.hpp"
#include "support/v2_fixture.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>

#include <set>

using errand_test::SqliteDb;
using errand_test::TempDir;

namespace {

std::shared_ptr<errand::Store> open(const std::filesystem::path& path, errand::OpenMode mode) {
  errand::SqliteOptions options;
  options.mode = mode;
  return errand::open_sqlite(path, options);
}

std::set<std::string> files_in(const TempDir& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    names.insert(entry.path().filename().string());
  return names;
}

std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const errand::StoreError& e) {
    return e.what();
  }
  return "(no StoreError)";
}

TEST(SqliteOpenMode, MissingFileIsRefusedAndNotCreated) {
  TempDir dir;
  const auto path = dir.file("nothing-here.db");
  for (const auto mode : {errand::OpenMode::existing, errand::OpenMode::read_only}) {
    const std::string message = error_of([&] { open(path, mode); });
    EXPECT_NE(message.find("there is no errand database at"), std::string::npos) << message;
    EXPECT_NE(message.find("errand migrate --db sqlite:" + path.string()), std::string::npos)
        << message;
  }
  EXPECT_TRUE(files_in(dir).empty());
  open(path, errand::OpenMode::create);
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(SqliteOpenMode, OlderSchemaIsNotMigrated) {
  TempDir dir;
  const auto path = dir.file("old.db");
  // A database written by errand at schema version 2 (tests/fixtures/README.md).
  std::filesystem::copy_file(errand_test::v2_fixture("sqlite_v2.db"), path);
  for (const auto mode : {errand::OpenMode::existing, errand::OpenMode::read_only}) {
    const std::string message = error_of([&] { open(path, mode); });
    EXPECT_NE(message.find("schema version 2"), std::string::npos) << message;
    EXPECT_NE(message.find("errand migrate"), std::string::npos) << message;
  }
  EXPECT_EQ(SqliteDb(path).text("SELECT value FROM errand_meta WHERE key = 'schema_version'"), "2");
  EXPECT_EQ(open(path, errand::OpenMode::create)->schema_version(),
            errand::sqlite_schema_version());
}

TEST(SqliteOpenMode, ReadOnlyStoreReadsAndRefusesEveryWrite) {
  TempDir dir;
  const auto path = dir.file("errand.db");
  errand::JobId id = 0;
  {
    auto writer = open(path, errand::OpenMode::create);
    id = errand::enqueue(*writer, errand_test::RecordJob{.tag = 1});
  }
  const auto before = files_in(dir);
  {
    auto reader = open(path, errand::OpenMode::read_only);
    EXPECT_EQ(reader->counts(std::chrono::hours{1}).ready, 1);
    EXPECT_EQ(reader->list_jobs({}).size(), 1u);
    EXPECT_EQ(reader->tally_dead_jobs(errand::DeadSelection::all()).total, 0);
    const errand::NewJob job{.name = "Record", .payload = "{}"};
    const std::vector<std::function<void()>> writes = {
        [&] { reader->enqueue(std::span(&job, 1)); },
        [&] { reader->claim("w", 1, std::chrono::hours{1}); },
        [&] { reader->register_worker({.id = "w", .host = "h", .pid = 1, .concurrency = 1}); },
        [&] { reader->remove_worker("w"); },
        [&] { reader->forget_lost_workers(std::chrono::seconds{1}); },
        [&] { reader->retry_dead(id); },
        [&] { reader->retry_dead_jobs(errand::DeadSelection::all()); },
        [&] { reader->purge_dead_jobs(errand::DeadSelection::all()); },
    };
    for (const auto& write : writes) {
      const std::string message = error_of(write);
      EXPECT_NE(message.find("opened read-only"), std::string::npos) << message;
    }
  }
  EXPECT_EQ(files_in(dir), before) << "the read-only store left files behind";
  EXPECT_EQ(SqliteDb(path).integer("SELECT count(*) FROM errand_jobs"), 1);
}

}  // namespace
