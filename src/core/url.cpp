#include "core/url.hpp"

#include <errand/error.hpp>

#include <fmt/format.h>

namespace errand::detail {

std::size_t url_query_start(std::string_view url) {
  const auto scheme_end = url.find("://");
  const std::size_t authority = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const auto userinfo_end = url.find_first_of("@/", authority);
  return url.find('?', userinfo_end != std::string_view::npos && url[userinfo_end] == '@'
                           ? userinfo_end + 1
                           : authority);
}

namespace {

constexpr std::string_view kExpected =
    "expected sqlite:PATH (for example sqlite:errand.db) or postgres://USER@HOST:PORT/DATABASE";

// The URL's scheme, when it looks like one (letters, digits, '+', '-', '.'; at most 20): the
// only piece of an unusable URL shown, since the rest may hold a password.
std::optional<std::string_view> scheme_of(std::string_view url) {
  const auto colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 20) return std::nullopt;
  const std::string_view scheme = url.substr(0, colon);
  const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(scheme[0])) return std::nullopt;
  for (const char c : scheme) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') {
      return std::nullopt;
    }
  }
  return scheme;
}

std::string sqlite_path_of(std::string_view path) {
  // sqlite:///abs/path → /abs/path; sqlite://host/... names a host, which SQLite has not.
  if (path.starts_with("//")) {
    path.remove_prefix(2);
    if (!path.starts_with('/')) {
      throw ConfigError(
          "database URL: use sqlite:PATH or sqlite:///ABSOLUTE/PATH (a sqlite: URL has no host or "
          "user)");
    }
  }
  if (path.empty()) throw ConfigError("database URL 'sqlite:' has no file path (sqlite:PATH)");
  if (path == ":memory:" || path.starts_with(":memory:")) {
    throw ConfigError(
        "database URL 'sqlite::memory:': SQLite's in-memory database lives in one connection "
        "and vanishes with it, so no other worker or process could see its jobs; give a file "
        "(sqlite:PATH; a file in a temporary directory for tests)");
  }
  if (path.starts_with("file:")) {
    throw ConfigError(fmt::format(
        "database URL 'sqlite:{}': SQLite file: URIs are not supported; give the file's path "
        "(sqlite:PATH)",
        path));
  }
  if (path.find('?') != std::string_view::npos) {
    throw ConfigError(fmt::format(
        "database URL 'sqlite:{}': a sqlite: URL takes no query parameters, and errand does not "
        "accept '?' in a database file name",
        path));
  }
  return std::string(path);
}

}  // namespace

StoreUrl parse_store_url(std::string_view url) {
  // The path and the conninfo reach C APIs as C strings, which would end at the NUL.
  if (url.find('\0') != std::string_view::npos) {
    throw ConfigError("database URL contains a NUL byte");
  }
  StoreUrl parsed;
  if (url.starts_with("sqlite:")) {
    parsed.kind = StoreUrl::Kind::sqlite;
    parsed.sqlite_path = sqlite_path_of(url.substr(7));
    return parsed;
  }
  if (url.starts_with("postgres:") || url.starts_with("postgresql:")) {
    parsed.kind = StoreUrl::Kind::postgres;
    parsed.postgres = parse_pg_conninfo(url);
    parsed.conninfo = std::string(url);
    parsed.schema = parsed.postgres.schema;
    parsed.listen = parsed.postgres.listen;
    return parsed;
  }
  if (const auto scheme = scheme_of(url)) {
    throw ConfigError(fmt::format("unsupported database URL scheme '{}:': {}", *scheme, kExpected));
  }
  throw ConfigError(fmt::format(
      "unsupported database URL (not shown, as it may hold a password): {}", kExpected));
}

}  // namespace errand::detail
