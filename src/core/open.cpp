#include <errand/error.hpp>
#include <errand/open.hpp>
#include <errand/postgres.hpp>
#include <errand/sqlite.hpp>

#include <fmt/format.h>

namespace errand {

namespace {
// scheme://user:secret@host/... → scheme://user:***@host/...
std::string redact_password(std::string_view url) {
  std::string out(url);
  const auto scheme_end = out.find("://");
  const auto at = out.find('@');
  if (scheme_end == std::string::npos || at == std::string::npos || at < scheme_end) return out;
  const auto colon = out.find(':', scheme_end + 3);
  if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  return out;
}
// Removes errand's own query parameters (schema, listen) from a postgres URL, applying them to
// `options`; libpq refuses parameters it does not know.
std::string take_errand_parameters(std::string_view url, PostgresOptions& options) {
  const auto question = url.find('?');
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
      options.schema = std::string(value);
    } else if (key == "listen") {
      if (value != "on" && value != "off") {
        throw ConfigError(fmt::format("database URL: listen={} (expected on or off)", value));
      }
      options.listen = value == "on";
    } else if (!item.empty()) {
      kept += separator;
      kept += item;
      separator = '&';
    }
  }
  return kept;
}

}  // namespace

std::shared_ptr<Store> open_store(std::string_view url, const OpenOptions& options) {
  constexpr std::string_view sqlite_scheme = "sqlite:";
  if (url.starts_with(sqlite_scheme)) {
    std::string_view path = url.substr(sqlite_scheme.size());
    // sqlite:///abs/path → /abs/path; sqlite://rel is ambiguous (host part) and refused.
    if (path.starts_with("//")) {
      path.remove_prefix(2);
      if (!path.starts_with('/')) {
        throw ConfigError(
            fmt::format("database URL '{}': use sqlite:PATH or sqlite:///ABSOLUTE/PATH", url));
      }
    }
    if (path.empty()) {
      throw ConfigError(fmt::format("database URL '{}' has no file path (sqlite:PATH)", url));
    }
    SqliteOptions sqlite_options;
    sqlite_options.clock = options.clock;
    return open_sqlite(std::filesystem::path(std::string(path)), std::move(sqlite_options));
  }
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    PostgresOptions pg_options;
    pg_options.clock = options.clock;
    const std::string conninfo = take_errand_parameters(url, pg_options);
    return open_postgres(conninfo, std::move(pg_options));
  }
  throw ConfigError(fmt::format(
      "unsupported database URL '{}': expected sqlite:PATH (for example sqlite:errand.db) or "
      "postgres://USER@HOST:PORT/DATABASE",
      redact_password(url)));
}

}  // namespace errand
