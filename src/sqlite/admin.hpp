// Removing an errand SQLite database file (errand::remove_store).
#pragma once

#include <string>

namespace errand::sqlite {

// Removes `path` with its -wal, -shm and -journal files after checking that it is a regular file
// holding an errand database this build knows (with `allow_empty` also an empty file or a
// database without tables); reads it without writing or creating anything. When `path` does not
// exist, removes leftover companion files of it. Returns whether anything was removed. Throws
// StoreError, removing nothing, when the file is not errand's.
bool remove_errand_file(const std::string& path, bool allow_empty);

}  // namespace errand::sqlite
