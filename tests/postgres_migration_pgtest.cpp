// Migrating a PostgreSQL schema written by errand at schema version 2 (tests/fixtures, a pg_dump
// loaded into a fresh schema): every job keeps its id, state and values; `existing` and
// `read_only` opens refuse it, naming `errand migrate`.
#include "support/postgres_storage.hpp"
#include "support/v2_fixture.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

namespace errand_test {
namespace {

// The fixture's dump with its schema `errand` renamed to `schema`.
std::string v2_dump_into(const std::string& schema) {
  std::ifstream in(v2_fixture("postgres_v2.sql"), std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const std::string quoted = quote_identifier(schema);
  std::string sql = std::regex_replace(text.str(), std::regex(R"(\berrand\.)"), quoted + ".");
  return std::regex_replace(sql, std::regex(R"(CREATE SCHEMA errand;)"),
                            "CREATE SCHEMA " + quoted + ";");
}

TEST(PostgresMigration, AVersionTwoSchemaIsRefusedUnmigratedThenMigratedWithNothingLost) {
  const auto url = postgres_url_or_skip();
  if (!url) return;
  if (behind_transaction_pooler(*url)) GTEST_SKIP() << "loads a dump: needs the server itself";
  PostgresStorage storage(*url);
  const std::string s = quote_identifier(storage.schema());
  {
    PgConnection loader(direct_url(*url));  // the dump resets search_path: a connection of its own
    loader.exec(v2_dump_into(storage.schema()));
  }
  PgConnection raw(direct_url(*url));
  EXPECT_EQ(raw.text("SELECT value FROM " + s + ".meta WHERE key = 'schema_version'"), "2");
  const std::string unicode_payload =
      raw.text("SELECT payload FROM " + s + ".jobs WHERE id = 11").value_or("");
  const std::int64_t first_created_at =
      raw.integer("SELECT (extract(epoch from min(created_at)) * 1000000)::int8 FROM " + s +
                  ".jobs")
          .value_or(0);
  for (const auto mode : {errand::OpenMode::existing, errand::OpenMode::read_only}) {
    errand::PostgresOptions options;
    options.schema = storage.schema();
    options.mode = mode;
    try {
      errand::open_postgres(storage.server_url(), options);
      ADD_FAILURE() << "a version 2 schema was opened without migrating";
    } catch (const errand::StoreError& e) {
      EXPECT_NE(std::string(e.what()).find("version 2"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("errand migrate"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(raw.text("SELECT value FROM " + s + ".meta WHERE key = 'schema_version'"), "2");
  auto clock = std::make_shared<errand::ManualClock>(
      v2_fixture_time(errand::TimePoint{errand::Duration{first_created_at}}));
  auto store = storage.open(clock);
  EXPECT_EQ(store->schema_version(), errand::postgres_schema_version());
  expect_v2_jobs_migrated(*store, unicode_payload);
  EXPECT_FALSE(raw.integer("SELECT 1 FROM pg_tables WHERE schemaname = '" + storage.schema() +
                           "' AND tablename = 'dead_jobs'"));
  expect_v2_store_works(*store);
}

}  // namespace
}  // namespace errand_test
