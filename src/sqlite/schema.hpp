// Versioned schema of the SQLite store. Migration i (1-based) moves the schema from version i-1
// to i; the version is kept in errand_meta under 'schema_version'.
#pragma once

#include "sqlite/connection.hpp"

namespace errand::sqlite {

// Checks that the file is a SQLite database errand can use, then applies pending migrations in
// one IMMEDIATE transaction (safe when several processes open the file at once). Returns the
// schema version. Throws StoreError, leaving the file untouched, when it is not a database or
// was written by a newer errand. A connection opened `existing` or `read_only` is only checked:
// nothing is created or migrated, and a missing or older schema is a StoreError.
int prepare_schema(Connection& connection);

// The schema version stored in the file (0 when errand has never written to it).
int stored_schema_version(Connection& connection);

int latest_schema_version();

}  // namespace errand::sqlite
