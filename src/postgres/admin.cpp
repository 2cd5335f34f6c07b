#include "postgres/admin.hpp"

#include "core/removal.hpp"
#include "postgres/sql.hpp"

#include <errand/error.hpp>
#include <errand/postgres.hpp>

#include <fmt/format.h>

#include <optional>
#include <string>

namespace errand::pg {

namespace {

// Throws unless `quoted`.meta holds a schema_version this build knows.
void check_errand_version(Connection& c, std::string_view schema, const std::string& quoted) {
  std::optional<std::string> version;
  try {
    const Result r = c.exec(read_schema_version_sql(quoted));
    if (r.rows() == 1) version = r.optional_text(0, 0);
  } catch (const StoreError& e) {
    throw StoreError(fmt::format(
        "PostgreSQL schema '{}' has a meta table errand cannot read ({}); it is not an errand "
        "store, left untouched",
        schema, e.what()));
  }
  detail::check_removable_version(version, postgres_schema_version(),
                                  fmt::format("PostgreSQL schema '{}'", schema));
}

}  // namespace

bool drop_errand_schema(Connection& c, std::string_view schema, bool allow_empty) {
  const std::string quoted = quote_identifier(schema);
  Params name;
  name.add(schema);
  if (c.exec(kSchemaExists, name).rows() == 0) return false;
  c.exec(kRemovalLockTimeout);
  const bool has_meta = c.exec(kMetaTableInCatalog, name).rows() > 0;
  if (has_meta) {
    check_errand_version(c, schema, quoted);
  } else if (!allow_empty || schema == "public") {
    throw StoreError(fmt::format(
        "PostgreSQL schema '{}' is not an errand store (it has no meta table); left untouched",
        schema));
  }
  try {
    // Every table errand's migrations create (a view or key of someone else's on one of them
    // makes RESTRICT fail); the schema's own drop fails for anything else left in it.
    if (has_meta) c.exec(drop_tables_sql(quoted));
    if (schema != "public") c.exec(drop_schema_sql(quoted));
  } catch (const StoreError& e) {
    throw StoreError(fmt::format(
        "PostgreSQL schema '{}' was not removed, nothing in it was dropped: {} (it holds objects "
        "errand did not create, or errand's tables are in use)",
        schema, e.what()));
  }
  return true;
}

}  // namespace errand::pg
