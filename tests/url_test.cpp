// The database URL parser behind open_store and --db (src/core/url.hpp), including the cases
// fuzzing found: passwords holding '?' or '@', NUL bytes, and passwords in error messages.
#include "core/url.hpp"

#include <errand/error.hpp>

#include <gtest/gtest.h>

#include <string>

using errand::detail::parse_store_url;
using errand::detail::StoreUrl;
using errand::detail::url_query_start;

namespace {

std::string config_error_of(std::string_view url) {
  try {
    parse_store_url(url);
  } catch (const errand::ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Url, SqlitePaths) {
  EXPECT_EQ(parse_store_url("sqlite:jobs.db").sqlite_path, "jobs.db");
  EXPECT_EQ(parse_store_url("sqlite:///srv/jobs.db").sqlite_path, "/srv/jobs.db");
  EXPECT_EQ(parse_store_url("sqlite:jobs.db").kind, StoreUrl::Kind::sqlite);
  EXPECT_NE(config_error_of("sqlite:").find("has no file path"), std::string::npos);
}

// SQLite gives these names meanings of its own; errand refuses them instead of creating a file
// called ":memory:" or "jobs.db?mode=ro".
TEST(Url, SqliteSpecialNamesAreRefusedClearly) {
  EXPECT_NE(config_error_of("sqlite::memory:").find("in-memory database"), std::string::npos);
  EXPECT_NE(config_error_of("sqlite:file:jobs.db?mode=ro").find("file: URIs are not supported"),
            std::string::npos);
  EXPECT_NE(config_error_of("sqlite:file:jobs.db").find("file: URIs are not supported"),
            std::string::npos);
  EXPECT_NE(config_error_of("sqlite:jobs.db?mode=ro").find("takes no query parameters"),
            std::string::npos);
  EXPECT_NE(config_error_of("sqlite://host/jobs.db").find("sqlite:///ABSOLUTE/PATH"),
            std::string::npos);
  // A path that merely contains these words is a path.
  EXPECT_EQ(parse_store_url("sqlite:./file:x.db").sqlite_path, "./file:x.db");
}

TEST(Url, ErrandParametersAreTakenOutOfPostgresUrls) {
  const auto url =
      parse_store_url("postgres://app@db:5432/app?sslmode=disable&schema=jobs&listen=off");
  EXPECT_EQ(url.kind, StoreUrl::Kind::postgres);
  EXPECT_EQ(url.postgres.describe(), "postgres://app@db:5432/app?sslmode=disable");
  EXPECT_EQ(url.postgres.find("schema"), nullptr);
  EXPECT_EQ(url.schema, "jobs");
  EXPECT_EQ(url.listen, false);
  EXPECT_NE(config_error_of("postgres://db/app?listen=maybe").find("expected on or off"),
            std::string::npos);
  EXPECT_NE(config_error_of("postgres://db/app?schema=").find("schema= needs a name"),
            std::string::npos);
}

TEST(Url, AQuestionMarkInAPasswordIsNotTheQuery) {
  const auto url = parse_store_url("postgres://u:pa?ss@h/db?schema=x");
  EXPECT_EQ(*url.postgres.find("password"), "pa?ss");
  EXPECT_EQ(*url.postgres.find("dbname"), "db");
  EXPECT_EQ(url.schema, "x");
  EXPECT_EQ(url_query_start("postgres://u:pa?ss@h/db?schema=x"), 23u);
  EXPECT_EQ(url_query_start("postgres://u:pa?ss@h/db"), std::string::npos);
  // The error for a bad parameter never shows a piece of the password.
  const auto error = config_error_of("postgres://app:pa?listen=x@db/app");
  EXPECT_EQ(error.find("listen=x@"), std::string::npos) << error;
}

TEST(Url, NulBytesAreRefused) {
  using namespace std::string_literals;
  EXPECT_EQ(config_error_of("sqlite:a\0b"s), "database URL contains a NUL byte");
  EXPECT_EQ(config_error_of("postgres://h/db\0x"s), "database URL contains a NUL byte");
}

TEST(Url, PasswordsNeverAppearInErrors) {
  for (const char* url :
       {"sqlite://user:hunter2@host/x", "mysql://u:hunter2@host/x", "redis://:hunter2@host",
        "postgres:/u:hunter2@host/x", "postgress://u:hunter2@host/x", "u:hunter2@host/x",
        "//u:hunter2@host/x", "postgres:u:hunter2@host"}) {
    const auto error = config_error_of(url);
    EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
    EXPECT_NE(error, "(no error)") << url;
  }
}

}  // namespace
