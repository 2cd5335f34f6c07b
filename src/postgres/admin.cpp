#include "postgres/admin.hpp"

#include <errand/error.hpp>
#include <errand/postgres.hpp>

#include <fmt/format.h>

#include <charconv>

namespace errand::pg {

namespace {

// The schema_version in `quoted`.meta, checked: errand's, and known to this build.
void check_errand_version(Connection& c, std::string_view schema, const std::string& quoted) {
  std::string version_text;
  try {
    const Result r =
        c.exec(fmt::format("SELECT value FROM {}.meta WHERE key = 'schema_version'", quoted));
    if (r.rows() == 1 && !r.is_null(0, 0)) version_text = std::string(r.text(0, 0));
  } catch (const StoreError& e) {
    throw StoreError(fmt::format(
        "PostgreSQL schema '{}' has a meta table errand cannot read ({}); it is not an errand "
        "store, left untouched",
        schema, e.what()));
  }
  int version = 0;
  const char* end = version_text.data() + version_text.size();
  const auto [ptr, ec] = std::from_chars(version_text.data(), end, version);
  if (version_text.empty() || ec != std::errc{} || ptr != end || version < 1) {
    throw StoreError(fmt::format(
        "PostgreSQL schema '{}' has a meta table without an errand schema_version; it is not an "
        "errand store, left untouched",
        schema));
  }
  if (version > postgres_schema_version()) {
    throw StoreError(fmt::format(
        "PostgreSQL schema '{}' holds errand schema version {}, written by a newer errand (this "
        "build knows versions up to {}); left untouched: remove it with that errand",
        schema, version, postgres_schema_version()));
  }
}

}  // namespace

bool drop_errand_schema(Connection& c, std::string_view schema, bool allow_empty) {
  const std::string quoted = quote_identifier(schema);
  Params name;
  name.add(schema);
  if (c.exec("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", name).rows() == 0) {
    return false;
  }
  c.exec("SET LOCAL lock_timeout = '5s'");
  const bool has_meta =
      c.exec("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = 'meta'",
             name)
          .rows() > 0;
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
    if (has_meta) {
      c.exec(fmt::format(
          "DROP TABLE IF EXISTS {0}.jobs, {0}.dead_jobs, {0}.workers, {0}.meta RESTRICT", quoted));
    }
    if (schema != "public") c.exec(fmt::format("DROP SCHEMA {} RESTRICT", quoted));
  } catch (const StoreError& e) {
    throw StoreError(fmt::format(
        "PostgreSQL schema '{}' was not removed, nothing in it was dropped: {} (it holds objects "
        "errand did not create, or errand's tables are in use)",
        schema, e.what()));
  }
  return true;
}

}  // namespace errand::pg
