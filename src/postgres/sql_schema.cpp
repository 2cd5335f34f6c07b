// The statements that open, migrate and remove a schema, and the background threads'
// (postgres/sql.hpp).
#include "postgres/schema.hpp"
#include "postgres/sql.hpp"

#include <fmt/format.h>

namespace errand::pg {

std::string read_schema_version_sql(const std::string& s) {
  return fmt::format("SELECT value FROM {}.meta WHERE key = 'schema_version'", s);
}

std::string create_schema_sql(const std::string& s) {
  return fmt::format(
      "CREATE SCHEMA IF NOT EXISTS {0};"
      " CREATE TABLE IF NOT EXISTS {0}.meta (key text PRIMARY KEY, value text NOT NULL)",
      s);
}

std::string migration_sql(const std::string& s, std::size_t index) {
  return fmt::format(fmt::runtime(migrations()[index]), fmt::arg("s", s));
}

std::string write_schema_version_sql(const std::string& s) {
  return fmt::format(
      "INSERT INTO {}.meta (key, value) VALUES ('schema_version', $1)"
      " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      s);
}

std::string drop_tables_sql(const std::string& s) {
  return fmt::format(
      "DROP TABLE IF EXISTS {0}.jobs, {0}.finished_jobs, {0}.dead_jobs, {0}.workers, {0}.queues, "
      "{0}.schedules, {0}.cron_ticks, {0}.activity, {0}.metric_totals, {0}.meta RESTRICT",
      s);
}

std::string drop_schema_sql(const std::string& s) {
  return fmt::format("DROP SCHEMA {} RESTRICT", s);
}

std::string vacuum_sql(const std::string& s) {
  return fmt::format("VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON) {}.jobs", s);
}

std::string listen_sql(const std::string& quoted_channel) {
  return "LISTEN " + quoted_channel;
}

}  // namespace errand::pg
