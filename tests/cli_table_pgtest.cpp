// The CLI test table (tests/cli/cli_rows.cpp) on PostgreSQL: each row in a fresh schema of
// ERRAND_TEST_PG_URL's database (skipped without it, failed with ERRAND_REQUIRE_PG=1).
#include "cli/cli_table.hpp"

namespace errand_test {
INSTANTIATE_TEST_SUITE_P(postgres, CliTable, ::testing::ValuesIn(cli_cases("postgres")),
                         cli_case_name);
}  // namespace errand_test
