// Removing an errand schema (errand::remove_store, and errand bench's leftover removal, which
// checks its ownership lock in the same transaction).
#pragma once

#include "postgres/pq.hpp"

#include <string_view>

namespace errand::pg {

// In the caller's open transaction on `connection`: checks that `schema` is errand's (its meta
// table holds a schema_version this build knows; with `allow_empty` an empty schema passes too),
// then drops errand's tables and the schema (`public` is kept) with DROP ... RESTRICT, so
// anything else in it makes the drop fail. Waits at most 5 s for locks. Returns false when the
// schema does not exist. Throws StoreError (the transaction is then aborted: roll it back).
bool drop_errand_schema(Connection& connection, std::string_view schema, bool allow_empty);

}  // namespace errand::pg
