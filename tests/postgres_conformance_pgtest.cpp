// The store conformance suite (tests/conformance/) against the PostgreSQL store, each test in a
// fresh schema of ERRAND_TEST_PG_URL's database (skipped when it is unset, see
// support/postgres_storage.hpp).
#include "support/conformance.hpp"
#include "support/postgres_storage.hpp"

namespace errand_test {
ERRAND_INSTANTIATE_CONFORMANCE(Postgres, ::testing::Values(postgres_factory()));
}  // namespace errand_test
