#include <errand/open.hpp>
#include <errand/postgres.hpp>
#include <errand/sqlite.hpp>

#include "core/url.hpp"

namespace errand {

std::shared_ptr<Store> open_store(std::string_view url, const OpenOptions& options) {
  detail::StoreUrl parsed = detail::parse_store_url(url);
  if (parsed.kind == detail::StoreUrl::Kind::sqlite) {
    SqliteOptions sqlite_options;
    sqlite_options.clock = options.clock;
    sqlite_options.mode = options.mode;
    return open_sqlite(std::filesystem::path(std::move(parsed.sqlite_path)),
                       std::move(sqlite_options));
  }
  PostgresOptions pg_options;
  pg_options.clock = options.clock;
  pg_options.statement_timeout = options.statement_timeout;
  pg_options.mode = options.mode;
  // open_postgres takes errand's own URL parameters (schema=, listen=, pooler=) from the URL.
  return open_postgres(parsed.conninfo, std::move(pg_options));
}

}  // namespace errand
