// What the consumer programs share: a printed check that counts failures, and removing a SQLite
// database with its companion files.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>

namespace consumer {

inline int failures = 0;

inline void check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}

inline void remove_database(const std::filesystem::path& path) {
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(path.string() + suffix, ignored);
}

}  // namespace consumer
