// Bulk dead-letter administration by DeadSelection (issue 10, class 3): "every dead job" is only
// ever selected explicitly; a selection that selects nothing by accident is a ConfigError that
// touches nothing; names and ids select exactly their rows; tallies count without changing.
#include "support/conformance.hpp"

#include <errand/error.hpp>

#include <map>

using errand::DeadSelection;
using errand::Outcome;

namespace errand_test {
namespace {

// Dead-letters one fresh job named `name`; returns its id.
errand::JobId make_dead(errand::Store& store, const std::string& name) {
  static std::int32_t priority = 1000;  // each above every job queued: the one claimed
  const auto id = store.enqueue(std::vector{
      errand::NewJob{.name = name, .payload = "{}", .context = "", .priority = ++priority}})[0];
  auto claimed = store.claim("killer", 1, kLockTimeout);
  EXPECT_EQ(claimed.size(), 1u);
  if (claimed.empty()) return id;
  EXPECT_EQ(claimed[0].id, id);
  const Outcome dead[] = {{.id = claimed[0].id,
                           .locked_at = claimed[0].locked_at,
                           .kind = Outcome::Kind::dead_letter,
                           .error = "x"}};
  EXPECT_TRUE(store.settle("killer", dead).empty());
  return id;
}

// Every dead job's id and name, read through the test's own connection.
std::map<std::string, std::string> dead_rows(TestStorage& storage) {
  std::map<std::string, std::string> out;
  for (const Row& row : storage.rows("SELECT id, name FROM " + storage.table("finished_jobs"))) {
    out[row.at(0).value_or("")] = row.at(1).value_or("");
  }
  return out;
}

// Three dead X, two dead Y, and one queued job.
struct Filled {
  explicit Filled(errand::Store& store) {
    for (int i = 0; i < 3; ++i)
      x.push_back(make_dead(store, "X"));
    for (int i = 0; i < 2; ++i)
      y.push_back(make_dead(store, "Y"));
    store.enqueue(std::vector{errand::NewJob{.name = "Q", .payload = "{}"}});
  }
  std::vector<errand::JobId> x, y;
};

// Selections that select nothing on purpose: refused by all three operations, nothing touched.
TEST_P(StoreConformance, DeadSelectionAccidentalSelectionsAreRefusedAndTouchNothing) {
  const Filled filled(*store);
  const auto& [x, y] = filled;
  const auto before = dead_rows(*storage);
  const std::vector<std::pair<std::string, DeadSelection>> accidents = {
      {"default-constructed", DeadSelection{}},
      {"empty name", DeadSelection::named("")},
      {"no ids", DeadSelection::with_ids({})},
      {"id 0", DeadSelection::with_ids({x[0], 0})},
      {"negative id", DeadSelection::with_ids({-1})},
      {"kind name, name in ids", DeadSelection{DeadSelection::Kind::name, "", {x[0]}}},
      {"kind ids, ids in name", DeadSelection{DeadSelection::Kind::ids, "X", {}}},
  };
  for (const auto& [what, selection] : accidents) {
    SCOPED_TRACE(what);
    EXPECT_THROW(store->purge_dead_jobs(selection), errand::ConfigError);
    EXPECT_THROW(store->retry_dead_jobs(selection), errand::ConfigError);
    EXPECT_THROW(store->tally_dead_jobs(selection), errand::ConfigError);
    EXPECT_THROW(errand::check_dead_selection(selection), errand::ConfigError);
  }
  EXPECT_EQ(dead_rows(*storage), before);
  EXPECT_EQ(rows_in("jobs"), 1);
}

TEST_P(StoreConformance, DeadSelectionTallyCountsByTypeAndListsIdsWithoutChangingAnything) {
  const Filled filled(*store);
  const auto& [x, y] = filled;
  const auto before = dead_rows(*storage);
  const auto all = store->tally_dead_jobs(DeadSelection::all());
  EXPECT_EQ(all.total, 5);
  ASSERT_EQ(all.by_name.size(), 2u);
  EXPECT_EQ(all.by_name[0], (std::pair<std::string, std::int64_t>{"X", 3}));  // most first
  EXPECT_EQ(all.by_name[1], (std::pair<std::string, std::int64_t>{"Y", 2}));
  EXPECT_EQ(all.ids, (std::vector<errand::JobId>{x[0], x[1], x[2], y[0], y[1]}));

  const auto limited = store->tally_dead_jobs(DeadSelection::all(), 2);
  EXPECT_EQ(limited.total, 5);
  EXPECT_EQ(limited.ids, (std::vector<errand::JobId>{x[0], x[1]}));

  const auto named = store->tally_dead_jobs(DeadSelection::named("Y"));
  EXPECT_EQ(named.total, 2);
  EXPECT_EQ(named.ids, y);

  // Ids that are not dead (queued, unknown) are not selected.
  const auto by_id = store->tally_dead_jobs(DeadSelection::with_ids({y[1], x[0], 999999}));
  EXPECT_EQ(by_id.total, 2);
  EXPECT_EQ(by_id.ids, (std::vector<errand::JobId>{x[0], y[1]}));

  EXPECT_EQ(store->tally_dead_jobs(DeadSelection::named("x")).total, 0) << "names are exact";
  EXPECT_EQ(dead_rows(*storage), before);
}

TEST_P(StoreConformance, DeadSelectionRetryByIdsMovesExactlyThoseBack) {
  const Filled filled(*store);
  const auto& [x, y] = filled;
  EXPECT_EQ(store->retry_dead_jobs(DeadSelection::with_ids({x[1], y[0], 999999})), 2u);
  EXPECT_FALSE(find_dead(x[1]));
  EXPECT_FALSE(find_dead(y[0]));
  ASSERT_TRUE(find_job(x[1]));
  EXPECT_EQ(find_job(x[1])->error_count, 0);
  EXPECT_EQ(rows_in("finished_jobs"), 3);
  EXPECT_EQ(rows_in("jobs"), 3);
}

TEST_P(StoreConformance, DeadSelectionPurgeByIdsAndByNameDeleteExactlyThose) {
  const Filled filled(*store);
  const auto& [x, y] = filled;
  EXPECT_EQ(store->purge_dead_jobs(DeadSelection::with_ids({x[0], x[0], y[1]})), 2u);
  EXPECT_EQ(rows_in("finished_jobs"), 3);
  EXPECT_EQ(store->purge_dead_jobs(DeadSelection::named("X")), 2u);
  EXPECT_EQ(rows_in("finished_jobs"), 1);
  EXPECT_TRUE(find_dead(y[0]));
  EXPECT_EQ(rows_in("jobs"), 1) << "purging never touches the jobs table";
}

TEST_P(StoreConformance, DeadSelectionAllSelectsEveryDeadJob) {
  const Filled filled(*store);
  EXPECT_EQ(store->retry_dead_jobs(DeadSelection::all()), 5u);
  EXPECT_EQ(rows_in("finished_jobs"), 0);
  EXPECT_EQ(rows_in("jobs"), 6);
  make_dead(*store, "Z");
  make_dead(*store, "Z");
  EXPECT_EQ(store->purge_dead_jobs(DeadSelection::all()), 2u);
  EXPECT_EQ(rows_in("finished_jobs"), 0);
  EXPECT_EQ(store->tally_dead_jobs(DeadSelection::all()).total, 0);
}

}  // namespace
}  // namespace errand_test
