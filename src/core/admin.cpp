#include <errand/admin.hpp>

#include "core/removal.hpp"
#include "core/stored_values.hpp"
#include "core/url.hpp"
#include "postgres/admin.hpp"
#include "postgres/pq.hpp"
#include "sqlite/admin.hpp"

#include <errand/error.hpp>
#include <errand/postgres.hpp>

#include <fmt/format.h>

namespace errand {

namespace detail {

void check_removable_version(const std::optional<std::string>& stored, int latest,
                             std::string_view what) {
  if (!stored) {
    throw StoreError(fmt::format(
        "{} has a meta table without a schema_version: it is not an errand store; left untouched",
        what));
  }
  int version = 0;
  try {
    version = parse_schema_version(*stored, StoredTable{});
  } catch (const StoreError&) {
    throw StoreError(fmt::format(
        "{} has a meta table whose schema_version is {}, not a version number: it is not an "
        "errand store; left untouched",
        what, quoted_value(*stored)));
  }
  if (version > latest) {
    throw StoreError(fmt::format(
        "{} holds errand schema version {}, written by a newer errand (this build knows versions "
        "up to {}); left untouched: remove it with that errand",
        what, version, latest));
  }
}

}  // namespace detail

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
