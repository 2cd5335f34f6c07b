// TestStore: a SQLite file in a fresh temporary directory, on a ManualClock; the directory goes
// with the last reference to the store.
#include <errand/error.hpp>
#include <errand/sqlite.hpp>
#include <errand/testing/store.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

namespace errand::testing {

namespace {

std::filesystem::path make_temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "errand-testing-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw StoreError(
        fmt::format("errand::testing::TestStore: cannot create a temporary "
                    "directory {}: {}",
                    pattern, std::strerror(errno)));
  }
  return pattern;
}

// Owns the store and its directory: the store is closed before its files are removed.
struct Owner {
  std::filesystem::path dir;
  std::shared_ptr<Store> store;

  explicit Owner(std::filesystem::path d) : dir(std::move(d)) {}
  Owner(const Owner&) = delete;
  Owner& operator=(const Owner&) = delete;
  ~Owner() {
    store.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

}  // namespace

TestStore::TestStore() : TestStore(ManualClock{}.now()) {}

TestStore::TestStore(TimePoint start) : clock_(std::make_shared<ManualClock>(start)) {
  auto owner = std::make_shared<Owner>(make_temp_dir());
  path_ = owner->dir / "jobs.db";
  owner->store = open_sqlite(path_, SqliteOptions{.clock = clock_});
  // Shares ownership of `owner`, so the files stay as long as any copy of the store.
  store_ = std::shared_ptr<Store>(owner, owner->store.get());
}

}  // namespace errand::testing
