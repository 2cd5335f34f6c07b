// The store conformance suite (tests/conformance/) against the SQLite store.
#include "support/conformance.hpp"

namespace errand_test {
ERRAND_INSTANTIATE_CONFORMANCE(Sqlite, ::testing::Values(sqlite_factory()));
}  // namespace errand_test
