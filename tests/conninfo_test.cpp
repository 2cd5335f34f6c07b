// How errand reads PostgreSQL URLs and key=value strings (src/core/conninfo.hpp) and turns them
// into libpq keywords (src/postgres/target.hpp): libpq's reading, errand's refusals, and that no
// message ever shows a password.
#include "core/conninfo.hpp"
#include "postgres/target.hpp"
#include "support/text.hpp"

#include <errand/error.hpp>

#include <gtest/gtest.h>

#include <map>
#include <string>

using errand::detail::parse_pg_conninfo;
using errand::detail::PgConnInfo;

namespace {

std::map<std::string, std::string> params_of(const PgConnInfo& info) {
  return {info.params.begin(), info.params.end()};
}

std::string target_error_of(std::string_view text) {
  try {
    errand::pg::make_target(text);
  } catch (const errand::ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

using errand_test::contains;

TEST(ConnInfo, UrlComponentsAreDecodedAsLibpqDoes) {
  const auto info = parse_pg_conninfo(
      "postgresql://app%40corp:p%40ss%2Fw%3Ard@db.internal:6432/my%20db?sslmode=require&"
      "application_name=a%26b&ssl=true");
  EXPECT_EQ(params_of(info), (std::map<std::string, std::string>{{"user", "app@corp"},
                                                                 {"password", "p@ss/w:rd"},
                                                                 {"host", "db.internal"},
                                                                 {"port", "6432"},
                                                                 {"dbname", "my db"},
                                                                 {"sslmode", "require"},
                                                                 {"application_name", "a&b"}}));
}

// An '@' in a query value is not mistaken for the end of a password.
TEST(ConnInfo, AnAtSignInAQueryValueIsAValue) {
  const auto info = parse_pg_conninfo("postgres://db:5432/app?application_name=a@b");
  EXPECT_EQ(*info.find("application_name"), "a@b");
  EXPECT_EQ(*info.find("port"), "5432");
}

TEST(ConnInfo, MultipleHostsAndIpv6) {
  const auto info = parse_pg_conninfo("postgres://u@[::1]:5432,h2,h3:7/db");
  EXPECT_EQ(*info.find("host"), "::1,h2,h3");
  EXPECT_EQ(*info.find("port"), "5432,,7");
  EXPECT_EQ(info.describe(), "postgres://u@[::1]:5432,h2,h3:7/db");
}

TEST(ConnInfo, EmptyPartsAreLeftToLibpqsDefaults) {
  EXPECT_TRUE(parse_pg_conninfo("postgres://").params.empty());
  EXPECT_TRUE(parse_pg_conninfo("postgres:///").params.empty());
  EXPECT_TRUE(parse_pg_conninfo("").params.empty());
  EXPECT_EQ(params_of(parse_pg_conninfo("postgres://:@/?")),
            (std::map<std::string, std::string>{}));
}

TEST(ConnInfo, ErrandsOwnParametersAreTakenOut) {
  const auto info = parse_pg_conninfo(
      "postgres://h/db?schema=jobs&listen=off&pooler=transaction&sslmode=disable&"
      "claim_commit=async");
  EXPECT_EQ(info.schema, "jobs");
  EXPECT_EQ(info.listen, false);
  EXPECT_EQ(info.transaction_pooler, true);
  EXPECT_EQ(info.asynchronous_claims, true);
  EXPECT_EQ(parse_pg_conninfo("postgres://h/db?claim_commit=durable").asynchronous_claims, false);
  EXPECT_EQ(parse_pg_conninfo("postgres://h/db").asynchronous_claims, std::nullopt);
  EXPECT_EQ(params_of(info), (std::map<std::string, std::string>{
                                 {"host", "h"}, {"dbname", "db"}, {"sslmode", "disable"}}));
  EXPECT_TRUE(contains(target_error_of("postgres://h/db?pooler=session"), "expected transaction"));
}

TEST(ConnInfo, KeywordValueStrings) {
  const auto info = parse_pg_conninfo(
      "host=/run/postgresql  dbname = 'my db' password='it\\'s \\\\ secret' user=a\\ b");
  EXPECT_EQ(params_of(info), (std::map<std::string, std::string>{{"host", "/run/postgresql"},
                                                                 {"dbname", "my db"},
                                                                 {"password", "it's \\ secret"},
                                                                 {"user", "a b"}}));
  EXPECT_EQ(info.describe(), "postgres://a%20b:***@%2Frun%2Fpostgresql/my%20db");
}

TEST(ConnInfo, DescribeNeverShowsASecretAndParsesBackToTheSameTarget) {
  const auto info = parse_pg_conninfo(
      "postgres://u:hunter22@h:1/d?sslpassword=keypass99&pasword=typo4242&connect_timeout=3");
  const std::string described = info.describe();
  EXPECT_EQ(described, "postgres://u:***@h:1/d?connect_timeout=3");
  auto again = params_of(parse_pg_conninfo(described));
  again.erase("password");
  auto original = params_of(info);
  for (const char* secret : {"password", "sslpassword", "pasword"})
    original.erase(secret);
  EXPECT_EQ(again, original);
}

TEST(ConnInfo, UnknownKeywordsAreRefusedWithoutShowingThem) {
  const std::string error = target_error_of("postgres://h/db?passwrd=hunter22");
  EXPECT_TRUE(contains(error, "the 1st query parameter names a parameter libpq does not know"))
      << error;
  EXPECT_TRUE(contains(error, "did you mean 'password'?")) << error;
  EXPECT_FALSE(contains(error, "passwrd")) << error;
  EXPECT_FALSE(contains(error, "hunter22")) << error;
  const std::string kv = target_error_of("host=h hunter22=1");
  EXPECT_FALSE(contains(kv, "hunter22")) << kv;
  EXPECT_TRUE(contains(kv, "connection string: the 2nd item")) << kv;
}

TEST(ConnInfo, ErrandsConnectionDefaultsYieldToTheUrl) {
  const auto target = errand::pg::make_target("postgres://h/db?connect_timeout=2");
  EXPECT_EQ(*target.info.find("connect_timeout"), "2");
  EXPECT_EQ(*target.info.find("keepalives"), "1");
  EXPECT_EQ(*target.info.find("tcp_user_timeout"), "30000");
  // The description shows what was given, not errand's defaults.
  EXPECT_EQ(target.description, "postgres://h/db?connect_timeout=2");
}

// Each case is a URL (or key=value string) holding the password "Sup3rSecret" (or pieces of
// it) in a shape that goes wrong; the error must say what is wrong and show none of it.
TEST(ConnInfo, MalformedTextNeverShowsThePassword) {
  struct Case {
    const char* text;
    const char* says;
  };
  const Case cases[] = {
      {"postgres://u:My%zzSup3rSecret@127.0.0.1:5432/db", "invalid percent-encoding"},
      {"postgres://u:Sup3rSecret%@127.0.0.1/db", "invalid percent-encoding"},
      {"postgres://u:Sup3rSecret%00@127.0.0.1/db", "%00"},
      {"postgres://u:Sup3r@Secret@127.0.0.1/db", "percent-encode"},
      {"postgres://u:Sup3r/Secret@127.0.0.1/db", "percent-encode"},
      {"postgres://u:Sup3r/Sec?ret@127.0.0.1:5432/db?connect_timeout=1", "percent-encode"},
      {"postgres://127.0.0.1/db?password Sup3rSecret", "has no '='"},
      {"postgres://127.0.0.1/db?passwordSup3rSecret", "has no '='"},
      {"postgres://127.0.0.1/db?password=Sup3r=Secret", "more than one '='"},
      {"postgres://127.0.0.1/db?password=Sup3rSecret%4", "invalid percent-encoding"},
      {"postgres://127.0.0.1/db?Password=Sup3rSecret", "did you mean 'password'?"},
      {"postgres://127.0.0.1/db?pass=Sup3rSecret", "does not know"},
      {"postgres://127.0.0.1/db?listen=Sup3rSecret", "expected on or off"},
      {"postgres://127.0.0.1/db?claim_commit=Sup3rSecret", "expected async or durable"},
      {"postgres://u:Sup3rSecret@[::1/db", "closing ']'"},
      {"postgres:/u:Sup3rSecret@127.0.0.1/db", "postgres://"},
      {"postgresql:u:Sup3rSecret@127.0.0.1/db", "postgres://"},
      {"host=127.0.0.1 password='Sup3rSecret", "no closing quote"},
      {"host=127.0.0.1 password Sup3rSecret", "no '='"},
      {"host=127.0.0.1 Sup3rSecret", "no '='"},
      {"host=127.0.0.1 passwd=Sup3rSecret", "does not know"},
  };
  for (const Case& c : cases) {
    const std::string error = target_error_of(c.text);
    EXPECT_TRUE(contains(error, c.says)) << c.text << "\n  " << error;
    for (const char* piece : {"Sup3r", "Secret", "3rSe"}) {
      EXPECT_FALSE(contains(error, piece)) << c.text << "\n  " << error;
    }
  }
}

TEST(ConnInfo, ScrubMasksEverySecretLongestFirst) {
  const std::vector<std::string> secrets = {"abcd", "abcdef", "xy"};
  EXPECT_EQ(errand::detail::scrub_secrets("1 abcdef 2 abcd 3 xy", secrets), "1 *** 2 *** 3 xy");
}

}  // namespace
