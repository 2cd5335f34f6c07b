// The CLI test table (tests/cli/cli_rows.cpp) on SQLite files.
#include "cli/cli_table.hpp"

namespace errand_test {
INSTANTIATE_TEST_SUITE_P(sqlite, CliTable, ::testing::ValuesIn(cli_cases("sqlite")), cli_case_name);
}  // namespace errand_test
