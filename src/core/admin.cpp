#include <errand/admin.hpp>

#include "core/url.hpp"
#include "postgres/admin.hpp"
#include "postgres/pq.hpp"
#include "sqlite/admin.hpp"

#include <errand/postgres.hpp>

namespace errand {

bool remove_store(std::string_view url, const RemoveOptions& options) {
  const detail::StoreUrl parsed = detail::parse_store_url(url);
  if (parsed.kind == detail::StoreUrl::Kind::sqlite) {
    return sqlite::remove_errand_file(parsed.sqlite_path, options.allow_empty);
  }
  pg::Connection connection(parsed.conninfo);
  pg::Transaction transaction(connection);
  const bool removed = pg::drop_errand_schema(
      connection, parsed.schema.value_or(PostgresOptions{}.schema), options.allow_empty);
  transaction.commit();
  return removed;
}

}  // namespace errand
