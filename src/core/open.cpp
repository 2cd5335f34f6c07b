#include <errand/error.hpp>
#include <errand/open.hpp>
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
    throw ConfigError("PostgreSQL is not supported by this build of errand yet; use sqlite:PATH");
  }
  throw ConfigError(fmt::format(
      "unsupported database URL '{}': expected sqlite:PATH (for example sqlite:errand.db)",
      redact_password(url)));
}

}  // namespace errand
