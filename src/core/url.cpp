#include "core/url.hpp"

#include <errand/error.hpp>

#include <fmt/format.h>

namespace errand::detail {

std::string redact_password(std::string_view url) {
  // Everything from the first ':' after "://" to the last '@' is masked, so that a password
  // holding '@', ':', '/' or '?' is masked whole, however the URL's consumer splits it.
  std::string out(url);
  const auto scheme_end = out.find("://");
  const auto at = out.rfind('@');
  if (scheme_end == std::string::npos || at == std::string::npos || at < scheme_end) return out;
  const auto colon = out.find(':', scheme_end + 3);
  if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  return out;
}

std::size_t url_query_start(std::string_view url) {
  const auto scheme_end = url.find("://");
  const std::size_t authority = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const auto userinfo_end = url.find_first_of("@/", authority);
  return url.find('?', userinfo_end != std::string_view::npos && url[userinfo_end] == '@'
                           ? userinfo_end + 1
                           : authority);
}

namespace {

// Removes errand's own query parameters (schema, listen) from a postgres URL, recording them in
// `parsed`; libpq refuses parameters it does not know.
std::string take_errand_parameters(std::string_view url, std::size_t authority, StoreUrl& parsed) {
  const auto question = url_query_start(url);
  if (question == std::string_view::npos) return std::string(url);
  std::string kept(url.substr(0, question));
  std::string_view query = url.substr(question + 1);
  char separator = '?';
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : item.substr(eq + 1);
    if (key == "schema") {
      if (value.empty()) throw ConfigError("database URL: schema= needs a name");
      parsed.schema = std::string(value);
    } else if (key == "listen") {
      if (value != "on" && value != "off") {
        throw ConfigError(fmt::format("database URL: listen={} (expected on or off)", value));
      }
      parsed.listen = value == "on";
    } else if (!item.empty()) {
      kept += separator;
      kept += item;
      separator = '&';
    }
  }
  // With no '@' or '/' before the query, libpq found no user name because a '/' came before any
  // '@'; if that '/' was in a removed parameter, a kept '@' would now make libpq read everything
  // before it as a user name. An empty path ("/") before the '?' keeps libpq's reading.
  if (url.substr(authority, question - authority).find_first_of("@/") == std::string_view::npos) {
    const auto first = kept.find_first_of("@/", question);
    if (first != std::string::npos && kept[first] == '@') kept.insert(question, "/");
  }
  return kept;
}

}  // namespace

StoreUrl parse_store_url(std::string_view url) {
  // The path and the conninfo reach C APIs as C strings, which would end at the NUL.
  if (url.find('\0') != std::string_view::npos) {
    throw ConfigError("database URL contains a NUL byte");
  }
  StoreUrl parsed;
  constexpr std::string_view sqlite_scheme = "sqlite:";
  if (url.starts_with(sqlite_scheme)) {
    std::string_view path = url.substr(sqlite_scheme.size());
    // sqlite:///abs/path → /abs/path; sqlite://rel is ambiguous (host part) and refused.
    if (path.starts_with("//")) {
      path.remove_prefix(2);
      if (!path.starts_with('/')) {
        throw ConfigError(fmt::format(
            "database URL '{}': use sqlite:PATH or sqlite:///ABSOLUTE/PATH", redact_password(url)));
      }
    }
    if (path.empty()) {
      throw ConfigError(fmt::format("database URL '{}' has no file path (sqlite:PATH)", url));
    }
    parsed.kind = StoreUrl::Kind::sqlite;
    parsed.sqlite_path = std::string(path);
    return parsed;
  }
  for (const std::string_view scheme : {"postgres://", "postgresql://"}) {
    if (url.starts_with(scheme)) {
      parsed.kind = StoreUrl::Kind::postgres;
      parsed.conninfo = take_errand_parameters(url, scheme.size(), parsed);
      return parsed;
    }
  }
  throw ConfigError(fmt::format(
      "unsupported database URL '{}': expected sqlite:PATH (for example sqlite:errand.db) or "
      "postgres://USER@HOST:PORT/DATABASE",
      redact_password(url)));
}

}  // namespace errand::detail
