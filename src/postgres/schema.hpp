// The PostgreSQL store's versioned schema: its migrations, in order, and opening a schema. The
// version is kept in the schema's meta table under 'schema_version'; one migrator at a time
// holds a transaction-scoped advisory lock on the schema's name.
#pragma once

#include <errand/store.hpp>

#include "postgres/pq.hpp"

#include <chrono>
#include <span>
#include <string>
#include <string_view>

namespace errand::pg {

// The schema migrations, in order; `{s}` stands for the quoted schema. Never edit a released
// migration: add a new one.
std::span<const std::string_view> migrations();

// A schema, for its statements and messages.
struct SchemaSite {
  const std::string& name;
  const std::string& quoted;       // quote_identifier(name)
  const std::string& description;  // the store's, for messages
};

// The schema version stored in the schema (0 when errand has never written there).
int stored_schema_version(Connection& c, const SchemaSite& site);

// Checks the schema's version without any lock. When it is older than this build's: with
// OpenMode::create, migrates it in one transaction holding the migration lock (waiting at most
// `lock_timeout` for it), else throws StoreError naming `errand migrate`. A version newer than
// this build's is refused (StoreError).
void open_schema(Connection& c, const SchemaSite& site, OpenMode mode,
                 std::chrono::milliseconds lock_timeout);

}  // namespace errand::pg
