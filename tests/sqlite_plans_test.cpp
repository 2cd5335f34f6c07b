// The programs SQLite compiles for a drain's statements (src/sqlite/sql.hpp): none builds a
// temporary table or sorter. Each of those gets a page cache of its own, allocated and freed on
// every execution; in some worker processes glibc gave that memory back to the kernel each time
// and faulted it in again, and 200,000-job drains ran at 48k instead of 130k jobs/s.
#include "sqlite/connection.hpp"
#include "sqlite/sql.hpp"
#include "support/temp_dir.hpp"

#include <errand/sqlite.hpp>

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace errand_test {
namespace {

// The opcodes of `sql`'s program, one per line.
std::string program(errand::sqlite::Connection& db, std::string_view sql) {
  auto explain = db.query("EXPLAIN " + std::string(sql));
  std::string opcodes;
  while (explain->step())
    opcodes += explain->text(1) + "\n";
  return opcodes;
}

void expect_no_temporary_structure(errand::sqlite::Connection& db, std::string_view sql) {
  const std::string opcodes = program(db, sql);
  EXPECT_FALSE(opcodes.empty()) << sql;
  for (const char* opcode : {"OpenEphemeral", "OpenAutoindex", "SorterOpen", "OpenPseudo"})
    EXPECT_EQ(opcodes.find(opcode), std::string::npos) << sql << "\nuses " << opcode;
}

TEST(SqlitePlans, TheDrainsStatementsBuildNoTemporaryTableOrSorter) {
  TempDir dir;
  const auto path = dir.file("plans.db");
  errand::open_sqlite(path);  // creates the schema
  errand::sqlite::Connection db(path, std::chrono::seconds{5});
  namespace sql = errand::sqlite::sql;
  db.exec(sql::kCreateClaimIds);  // as the store does
  for (std::size_t ids = 1; ids <= sql::kIdsPerInsert; ids *= 2)
    expect_no_temporary_structure(db, sql::insert_claim_ids(ids));
  for (std::string_view statement :
       {sql::kFindAbandoned, sql::kUnlockAbandoned, sql::kClaimable, sql::kClearClaimIds,
        sql::kLockClaimIds, sql::kDeleteLeased, sql::kReleaseLeased, sql::kRetryLeased,
        sql::kSnoozeLeased, sql::kCancelRequestedLeased, sql::finish_leased(), sql::kWriteProgress,
        sql::kCancelRequestedOf, sql::kClaimableOfKey, sql::kNextKey, sql::kFirstKey,
        sql::kQueueRow, sql::kSaveQueueUse})
    expect_no_temporary_structure(db, statement);
}

TEST(SqlitePlans, TheCheckSeesATemporaryTable) {
  TempDir dir;
  const auto path = dir.file("plans.db");
  errand::open_sqlite(path);
  errand::sqlite::Connection db(path, std::chrono::seconds{5});
  // The claim as one statement, as it was: an IN list and RETURNING, two temporary tables.
  const std::string opcodes =
      program(db,
              "UPDATE errand_jobs SET locked_by = ?1 WHERE id IN (SELECT id FROM errand_jobs WHERE "
              "locked_by IS NULL ORDER BY priority DESC, run_at, id LIMIT ?2) RETURNING id");
  EXPECT_NE(opcodes.find("OpenEphemeral"), std::string::npos) << opcodes;
  // A lock by a list of bound ids instead of the connection's table of them.
  const std::string by_list =
      program(db, "UPDATE errand_jobs SET locked_by = ?1, locked_at = ?2 WHERE id IN (?3, ?4, ?5)");
  EXPECT_NE(by_list.find("OpenEphemeral"), std::string::npos) << by_list;
}

}  // namespace
}  // namespace errand_test
