// SQLite-specific behaviour: file format, pragmas, migrations, refusing files that are not ours,
// URLs.
#include "support/jobs.hpp"
#include "support/sqlite_db.hpp"
#include "support/store_factory.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

using errand_test::read_file;
using errand_test::SqliteDb;
using errand_test::TempDir;
using errand_test::write_file;
using namespace std::chrono_literals;

namespace {

using errand_test::contains;

std::set<std::string> files_in(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

std::set<std::string> columns_of(SqliteDb& db, const std::string& table) {
  std::set<std::string> names;
  for (const auto& row : db.rows("PRAGMA table_info(" + table + ")"))
    names.insert(*row[1]);
  return names;
}

// Expects `open` to throw StoreError whose message contains `path` (and `also`, if given).
template <class Open>
void expect_store_error_naming(Open open, const std::string& path, std::string_view also = {}) {
  try {
    open();
    ADD_FAILURE() << "expected StoreError for " << path;
  } catch (const errand::StoreError& e) {
    EXPECT_TRUE(contains(e.what(), path)) << "message does not name the path: " << e.what();
    if (!also.empty()) {
      EXPECT_TRUE(contains(e.what(), also)) << e.what();
    }
  }
}

TEST(Sqlite, CreatesTheSchemaWithTheDocumentedTables) {
  TempDir dir;
  const auto path = dir.file("jobs.db");
  auto store = errand::open_sqlite(path);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(store->schema_version(), errand::sqlite_schema_version());
  EXPECT_TRUE(contains(store->describe(), path.string())) << store->describe();

  SqliteDb db(path);
  EXPECT_EQ(columns_of(db, "errand_jobs"), (std::set<std::string>{"id",
                                                                  "name",
                                                                  "payload",
                                                                  "context",
                                                                  "priority",
                                                                  "run_at",
                                                                  "created_at",
                                                                  "locked_by",
                                                                  "locked_at",
                                                                  "error_count",
                                                                  "last_error",
                                                                  "last_failed_at",
                                                                  "snoozes",
                                                                  "errors",
                                                                  "cancel_requested_at",
                                                                  "cancel_reason",
                                                                  "progress",
                                                                  "progress_message",
                                                                  "progress_at",
                                                                  "queue",
                                                                  "partition_key",
                                                                  "unique_key"}));
  EXPECT_EQ(columns_of(db, "errand_finished_jobs"),
            (std::set<std::string>{"id", "name", "payload", "context", "priority", "run_at",
                                   "created_at", "error_count", "last_error", "last_failed_at",
                                   "snoozes", "errors", "state", "finished_at", "cancel_reason",
                                   "output", "queue", "partition_key", "unique_key"}));
  EXPECT_EQ(columns_of(db, "errand_queues"),
            (std::set<std::string>{"name", "paused", "global_limit", "per_key_limit", "rate_limit",
                                   "rate_period_us", "rate_log", "key_cursor", "updated_at"}));
  EXPECT_EQ(db.text("SELECT value FROM errand_meta WHERE key = 'schema_version'"),
            std::to_string(errand::sqlite_schema_version()));
}

TEST(Sqlite, TimesAreIntegerMicrosecondsSinceTheEpoch) {
  TempDir dir;
  auto clock = std::make_shared<errand::ManualClock>(
      errand::TimePoint{errand::Duration{1'700'000'000'123'456}});
  auto store = errand::open_sqlite(dir.file("t.db"), {.clock = clock});
  const auto id = errand::enqueue(*store, errand_test::RecordJob{.tag = 1}, "ctx");
  SqliteDb db(dir.file("t.db"));
  const std::string where = " FROM errand_jobs WHERE id = " + std::to_string(id);
  EXPECT_EQ(db.text("SELECT typeof(created_at)" + where), "integer");
  EXPECT_EQ(db.text("SELECT typeof(run_at)" + where), "integer");
  EXPECT_EQ(db.integer("SELECT created_at" + where), 1'700'000'000'123'456);
  EXPECT_EQ(db.integer("SELECT run_at" + where), 1'700'000'000'123'456);
  clock->advance(1us);
  ASSERT_EQ(store->claim("w", 1, 2h).size(), 1u);
  EXPECT_EQ(db.text("SELECT typeof(locked_at)" + where), "integer");
  EXPECT_EQ(db.integer("SELECT locked_at" + where), 1'700'000'000'123'457);
  EXPECT_EQ(db.text("SELECT typeof(payload)" + where), "text");
}

TEST(Sqlite, UsesWalJournalMode) {
  TempDir dir;
  auto store = errand::open_sqlite(dir.file("wal.db"));
  errand::enqueue(*store, errand_test::RecordJob{.tag = 1});
  SqliteDb db(dir.file("wal.db"));  // journal_mode=WAL is stored in the file
  EXPECT_EQ(db.text("PRAGMA journal_mode"), "wal");
}

// synchronous is a per-connection setting that another connection cannot read; the test can
// only check that both settings open a working store. (Verifying the value would need an
// accessor on the store.)
TEST(Sqlite, SynchronousFullAndNormalBothWork) {
  for (auto mode :
       {errand::SqliteOptions::Synchronous::normal, errand::SqliteOptions::Synchronous::full}) {
    TempDir dir;
    auto store = errand::open_sqlite(dir.file("s.db"), {.synchronous = mode});
    const auto id = errand::enqueue(*store, errand_test::RecordJob{.tag = 1});
    auto claimed = store->claim("w", 1, 2h);
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(claimed[0].id, id);
  }
}

TEST(Sqlite, MigrationsAreIdempotentAndKeepData) {
  TempDir dir;
  const auto path = dir.file("m.db");
  errand::JobId id = 0;
  {
    auto store = errand::open_sqlite(path);
    id = errand::enqueue(*store, errand_test::RecordJob{.tag = 42}, "keep me");
  }
  for (int i = 0; i < 3; ++i) {
    auto store = errand::open_sqlite(path);
    EXPECT_EQ(store->schema_version(), errand::sqlite_schema_version());
    errand::JobFilter filter;
    const auto jobs = store->list_jobs(filter);
    ASSERT_EQ(jobs.size(), 1u);
    EXPECT_EQ(jobs[0].id, id);
    EXPECT_EQ(jobs[0].context, "keep me");
  }
  SqliteDb db(path);
  EXPECT_EQ(db.integer("SELECT count(*) FROM errand_meta"), 1);
  EXPECT_EQ(db.text("SELECT value FROM errand_meta WHERE key = 'schema_version'"),
            std::to_string(errand::sqlite_schema_version()));
  EXPECT_EQ(db.integer("SELECT count(*) FROM errand_jobs"), 1);
}

TEST(Sqlite, AnotherApplicationsTablesAreLeftAlone) {
  TempDir dir;
  const auto path = dir.file("app.db");
  {
    SqliteDb db(path, 5000ms, /*create=*/true);
    db.exec(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); "
        "INSERT INTO users (name) VALUES ('ada')");
  }
  auto store = errand::open_sqlite(path);
  errand::enqueue(*store, errand_test::RecordJob{.tag = 1});
  SqliteDb db(path);
  EXPECT_EQ(db.text("SELECT name FROM users"), "ada");
}

TEST(Sqlite, FileThatIsNotADatabaseIsRefusedAndLeftUntouched) {
  TempDir dir;
  const auto path = dir.file("notes.txt");
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "These are my notes, not a database. Line " + std::to_string(i) + "\n";
  write_file(path, text);
  const auto before = files_in(dir.path());
  expect_store_error_naming([&] { errand::open_sqlite(path); }, path.string());
  expect_store_error_naming([&] { errand::open_store("sqlite:" + path.string()); }, path.string());
  EXPECT_EQ(read_file(path), text) << "errand wrote over a file that is not its own";
  EXPECT_EQ(files_in(dir.path()), before) << "errand left files next to a file that is not ours";
}

TEST(Sqlite, SmallNonDatabaseFileIsRefusedToo) {
  TempDir dir;
  const auto path = dir.file("tiny");
  write_file(path, "hello\n");
  expect_store_error_naming([&] { errand::open_sqlite(path); }, path.string());
  EXPECT_EQ(read_file(path), "hello\n");
}

TEST(Sqlite, PathInAMissingDirectoryIsAStoreErrorNamingIt) {
  TempDir dir;
  const auto path = dir.file("no/such/dir/errand.db");
  expect_store_error_naming([&] { errand::open_sqlite(path); }, path.string());
  EXPECT_FALSE(std::filesystem::exists(dir.file("no")));
}

TEST(Sqlite, DirectoryPathIsAStoreErrorNamingIt) {
  TempDir dir;
  expect_store_error_naming([&] { errand::open_sqlite(dir.path()); }, dir.path().string());
}

TEST(Sqlite, DatabaseOfANewerErrandIsRefusedAndLeftUntouched) {
  TempDir dir;
  const auto path = dir.file("future.db");
  {
    SqliteDb db(path, 5000ms, /*create=*/true);
    db.exec("CREATE TABLE errand_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    db.exec("INSERT INTO errand_meta VALUES ('schema_version', '" +
            std::to_string(errand::sqlite_schema_version() + 1) + "')");
    db.exec("CREATE TABLE errand_jobs (id INTEGER PRIMARY KEY, future_column BLOB)");
  }
  const auto bytes = read_file(path);
  const auto before = files_in(dir.path());
  expect_store_error_naming([&] { errand::open_sqlite(path); }, path.string(), "newer");
  EXPECT_EQ(read_file(path), bytes);
  EXPECT_EQ(files_in(dir.path()), before);
  SqliteDb db(path);
  EXPECT_EQ(db.text("PRAGMA journal_mode"), "delete") << "journal mode was changed";
}

TEST(Sqlite, OpenStoreUnderstandsSqliteUrls) {
  TempDir dir;
  const auto path = dir.file("url.db");
  auto store = errand::open_store("sqlite:" + path.string());
  ASSERT_TRUE(store);
  EXPECT_TRUE(contains(store->describe(), path.string())) << store->describe();
  const auto id = errand::enqueue(*store, errand_test::RecordJob{.tag = 1});
  auto again = errand::open_store("sqlite://" + path.string());  // sqlite:///abs/path
  errand::JobFilter filter;
  ASSERT_EQ(again->list_jobs(filter).size(), 1u);
  EXPECT_EQ(again->list_jobs(filter)[0].id, id);
}

TEST(Sqlite, OpenStoreUsesTheInjectedClock) {
  TempDir dir;
  auto clock = std::make_shared<errand::ManualClock>(errand::TimePoint{std::chrono::seconds{5}});
  auto store = errand::open_store("sqlite:" + dir.file("c.db").string(), {.clock = clock});
  EXPECT_EQ(store->clock().now().time_since_epoch().count(), 5'000'000);
  errand::enqueue(*store, errand_test::RecordJob{.tag = 1});
  SqliteDb db(dir.file("c.db"));
  EXPECT_EQ(db.integer("SELECT created_at FROM errand_jobs"), 5'000'000);
}

TEST(Sqlite, OpenStoreRefusesUrlsItCannotUse) {
  for (const char* url : {"mysql://x", "", "sqlite:", "nonsense", "sqlite://relative/path"}) {
    SCOPED_TRACE(url);
    EXPECT_THROW(errand::open_store(url), errand::ConfigError);
  }
}

TEST(Sqlite, OpenStoreNeverPrintsPasswords) {
  try {
    errand::open_store("mysql://user:hunter2@db.example/x");
    FAIL() << "expected ConfigError";
  } catch (const errand::ConfigError& e) {
    EXPECT_FALSE(contains(e.what(), "hunter2")) << e.what();
  }
}

TEST(Sqlite, TwoStoresOnOneFileSeeEachOthersJobs) {
  TempDir dir;
  auto a = errand::open_sqlite(dir.file("shared.db"));
  auto b = errand::open_sqlite(dir.file("shared.db"));
  const auto id = errand::enqueue(*a, errand_test::RecordJob{.tag = 1});
  auto claimed = b->claim("b", 10, 2h);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].id, id);
  EXPECT_TRUE(a->claim("a", 10, 2h).empty());
}

TEST(Sqlite, IdsAreNeverReused) {
  TempDir dir;
  auto store = errand::open_sqlite(dir.file("ids.db"));
  const auto first = errand::enqueue(*store, errand_test::RecordJob{.tag = 1});
  auto claimed = store->claim("w", 1, 2h);
  const errand::Outcome done[] = {{.id = first, .locked_at = claimed.at(0).locked_at}};
  store->settle("w", done);
  const auto second = errand::enqueue(*store, errand_test::RecordJob{.tag = 2});
  EXPECT_GT(second, first);
}

}  // namespace
