// Removing an errand store for good (errand bench removes its scratch stores with it).
#pragma once

#include <string_view>

namespace errand {

struct RemoveOptions {
  // Also remove a store that holds nothing at all: an empty SQLite file, one without any table,
  // or an empty PostgreSQL schema (a store whose creation was interrupted). Off: only a store
  // with errand's meta table is removed.
  bool allow_empty = false;
};

// Removes the store `url` names (as open_store takes it), after checking that it is errand's:
// - SQLite: the file must be a SQLite database holding errand's meta table (a regular file, not
//   a symbolic link); it is removed with its -wal, -shm and -journal files. Those companion files
//   alone (the database file is gone) are removed too.
// - PostgreSQL: the schema must hold errand's meta table; errand's tables are dropped, then the
//   schema (but never `public`) with DROP SCHEMA ... RESTRICT, in one transaction: a schema that
//   holds anything errand did not create is left exactly as it was. Waits at most 5 s for locks.
// Returns true when something was removed, false when there was nothing. Throws ConfigError for
// a URL errand cannot use, StoreError when the store is not errand's, was written by a newer
// errand, or cannot be removed (nothing is removed then); messages never hold a password.
// Nothing may use the store meanwhile.
bool remove_store(std::string_view url, const RemoveOptions& options = {});

}  // namespace errand
