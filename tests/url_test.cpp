// The database URL parser behind open_store and --db (src/core/url.hpp), including the cases
// fuzzing found: passwords holding '?' or '@', NUL bytes, and passwords in error messages.
#include "core/url.hpp"

#include <errand/error.hpp>

#include <gtest/gtest.h>

#include <string>

using errand::detail::parse_store_url;
using errand::detail::redact_password;
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

TEST(Url, ErrandParametersAreTakenOutOfPostgresUrls) {
  const auto url =
      parse_store_url("postgres://app@db:5432/app?sslmode=disable&schema=jobs&listen=off");
  EXPECT_EQ(url.kind, StoreUrl::Kind::postgres);
  EXPECT_EQ(url.conninfo, "postgres://app@db:5432/app?sslmode=disable");
  EXPECT_EQ(url.schema, "jobs");
  EXPECT_EQ(url.listen, false);
  EXPECT_NE(config_error_of("postgres://db/app?listen=maybe").find("expected on or off"),
            std::string::npos);
  EXPECT_NE(config_error_of("postgres://db/app?schema=").find("schema= needs a name"),
            std::string::npos);
}

TEST(Url, AQuestionMarkInAPasswordIsNotTheQuery) {
  const auto url = parse_store_url("postgres://u:pa?ss@h/db?schema=x");
  EXPECT_EQ(url.conninfo, "postgres://u:pa?ss@h/db");
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
  EXPECT_EQ(redact_password("mysql://u:p@ss@host/x"), "mysql://u:***@host/x");
  for (const char* url :
       {"sqlite://user:hunter2@host/x", "mysql://u:hunter2@host/x", "redis://:hunter2@host"}) {
    const auto error = config_error_of(url);
    EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
    EXPECT_NE(error, "(no error)") << url;
  }
}

}  // namespace
