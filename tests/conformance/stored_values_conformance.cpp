// Values read back from the database are validated before use (issue 10, class 2; the rules are
// src/core/stored_values.hpp). Each column of each table is corrupted with raw SQL, as another
// program or a hand edit could, and errand must
// - refuse to show it: StoreError naming the store's table, the row, the column, the value and
//   what was expected, leaving the row as it is;
// - on the claim and rescue paths, dead-letter the job unrun, naming the value, while the other
//   jobs keep running (one poison row never stalls a worker);
// - never crash on, or misread, a stored schema version.
// The CLI's inspection commands on such databases: tests/cli/cli_rows.cpp (class 2).
// Names start with "StoredValue" (`ctest -R StoredValue`).
#include "support/conformance.hpp"
#include "support/postgres_storage.hpp"

#include <functional>
#include <span>

using errand::WorkerRegistration;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

// One invalid value. `sqlite` / `postgres`: the SET clause that stores it, empty where the
// store's column type cannot hold it. `shown` / `shown_pg`: how messages show it (a prefix).
struct Corruption {
  std::string_view table;   // logical: jobs, finished_jobs, workers, meta
  std::string_view column;  // the column the message names
  std::string_view sqlite;
  std::string_view postgres;
  std::string_view shown;
  std::string_view shown_pg;
};

// Every column of the jobs table, as `errand jobs` (Store::list_jobs) reads it.
constexpr Corruption kJobRows[] = {
    {"jobs", "id", "id = -5", "id = -5", "-5", "'-5'"},
    {"jobs", "id", "id = 0", "id = 0", "0", "'0'"},
    {"jobs", "name", "name = X'52'", "", "a BLOB of 1 bytes", ""},
    {"jobs", "payload", "payload = X'7b7d'", "", "a BLOB of 2 bytes", ""},
    {"jobs", "context", "context = X''", "", "a BLOB of 0 bytes", ""},
    {"jobs", "priority", "priority = 'abc'", "", "'abc' (TEXT)", ""},
    {"jobs", "priority", "priority = '2abc'", "", "'2abc' (TEXT)", ""},
    {"jobs", "priority", "priority = ''", "", "'' (TEXT)", ""},
    {"jobs", "priority", "priority = 1.5", "", "1.5 (a REAL)", ""},
    {"jobs", "priority", "priority = 2147483648", "", "2147483648", ""},
    {"jobs", "priority", "priority = -2147483649", "", "-2147483649", ""},
    {"jobs", "error_count", "error_count = -1", "error_count = -1", "-1", "'-1'"},
    {"jobs", "error_count", "error_count = 2147483647", "error_count = 2147483647", "2147483647",
     "'2147483647'"},
    {"jobs", "error_count", "error_count = 9223372036854775807", "", "9223372036854775807", ""},
    {"jobs", "error_count", "error_count = 'abc'", "", "'abc' (TEXT)", ""},
    {"jobs", "run_at", "run_at = 'abc'", "run_at = 'infinity'", "'abc' (TEXT)", "'infinity'"},
    {"jobs", "run_at", "run_at = -62135596800000001", "run_at = '-infinity'", "-62135596800000001",
     "'-infinity'"},
    {"jobs", "run_at", "run_at = 253402300800000000", "run_at = '10000-06-01 00:00:00+00'",
     "253402300800000000", "'10000-"},
    {"jobs", "run_at", "run_at = 1.5", "run_at = '0100-06-01 00:00:00+00 BC'", "1.5 (a REAL)",
     "'0100-0"},
    {"jobs", "created_at", "created_at = '2abc'", "created_at = 'infinity'", "'2abc' (TEXT)",
     "'infinity'"},
    {"jobs", "created_at", "created_at = 9223372036854775807", "created_at = '-infinity'",
     "9223372036854775807", "'-infinity'"},
    {"jobs", "locked_at", "locked_by = 'w', locked_at = 'abc'",
     "locked_by = 'w', locked_at = 'infinity'", "'abc' (TEXT)", "'infinity'"},
    {"jobs", "locked_at", "locked_by = 'w'", "locked_by = 'w'", "NULL", "NULL"},
    {"jobs", "locked_at", "locked_at = 1000000",
     "locked_at = timestamptz 'epoch' + interval '1 second'", "1000000", "'1000000'"},
    {"jobs", "locked_by", "locked_by = X'77', locked_at = 1000000", "", "a BLOB of 1 bytes", ""},
    {"jobs", "last_error", "last_error = X'00'", "", "a BLOB of 1 bytes", ""},
    {"jobs", "last_failed_at", "last_failed_at = 'abc'", "last_failed_at = 'infinity'",
     "'abc' (TEXT)", "'infinity'"},
};

// Every column of the dead-letter table, as `errand dead` (Store::list_dead) reads it.
constexpr Corruption kDeadRows[] = {
    {"finished_jobs", "id", "id = -1", "id = -1", "-1", "'-1'"},
    {"finished_jobs", "name", "name = X'52'", "", "a BLOB of 1 bytes", ""},
    {"finished_jobs", "payload", "payload = X'7b'", "", "a BLOB of 1 bytes", ""},
    {"finished_jobs", "priority", "priority = 'abc'", "", "'abc' (TEXT)", ""},
    {"finished_jobs", "error_count", "error_count = -1", "error_count = -1", "-1", "'-1'"},
    {"finished_jobs", "error_count", "error_count = 2147483647", "error_count = 2147483647",
     "2147483647", "'2147483647'"},
    {"finished_jobs", "last_error", "last_error = X'00'", "", "a BLOB of 1 bytes", ""},
    {"finished_jobs", "created_at", "created_at = 'abc'", "created_at = 'infinity'", "'abc' (TEXT)",
     "'infinity'"},
    {"finished_jobs", "finished_at", "finished_at = 1.5", "finished_at = '-infinity'",
     "1.5 (a REAL)", "'-infinity'"},
};

// Every column of the workers table, as `errand workers` (Store::list_workers) reads it.
constexpr Corruption kWorkerRows[] = {
    {"workers", "id", "id = X'77'", "", "a BLOB of 1 bytes", ""},
    {"workers", "host", "host = X'68'", "", "a BLOB of 1 bytes", ""},
    {"workers", "pid", "pid = 0", "pid = 0", "0", "'0'"},
    {"workers", "pid", "pid = -1", "pid = -1", "-1", "'-1'"},
    {"workers", "pid", "pid = 2147483648", "pid = 2147483648", "2147483648", "'2147483648'"},
    {"workers", "pid", "pid = 'abc'", "", "'abc' (TEXT)", ""},
    {"workers", "concurrency", "concurrency = 0", "concurrency = 0", "0", "'0'"},
    {"workers", "concurrency", "concurrency = 9223372036854775807",
     "concurrency = 9223372036854775807", "9223372036854775807", "'9223372036854775807'"},
    {"workers", "started_at", "started_at = 'abc'", "started_at = 'infinity'", "'abc' (TEXT)",
     "'infinity'"},
    {"workers", "heartbeat_at", "heartbeat_at = 1.5", "heartbeat_at = '-infinity'", "1.5 (a REAL)",
     "'-infinity'"},
    {"workers", "queues", "queues = '{\"a\":1}'", "queues = '{\"a\":1}'", "'{\"a\":1}' (TEXT)",
     "'{\"a\":1}'"},
    {"workers", "queues", "queues = '[\"mail\",2]'", "queues = '[\"mail\",2]'",
     "'[\"mail\",2]' (TEXT)", "'[\"mail\",2]'"},
    {"workers", "queues", "queues = 'mail'", "queues = 'mail'", "'mail' (TEXT)", "'mail'"},
    {"workers", "queues", "queues = X'5b5d'", "", "a BLOB of 2 bytes", ""},
};

// Every column of the activity table, as Store::list_activity reads it (its rows have no id).
constexpr Corruption kActivityRows[] = {
    // (a value the read's "minute >= since" still selects)
    {"activity", "minute", "minute = 'abc'", "minute = 'infinity'", "'abc' (TEXT)", "'infinity'"},
    {"activity", "queue", "queue = X'71'", "", "a BLOB of 1 bytes", ""},
    {"activity", "completed", "completed = -1", "completed = -1", "-1", "'-1'"},
    {"activity", "failed", "failed = 'abc'", "", "'abc' (TEXT)", ""},
    {"activity", "started", "started = -2", "started = -2", "-2", "'-2'"},
    {"activity", "latency_sum", "latency_sum = 2.5", "", "2.5 (a REAL)", ""},
    {"activity", "latency_max", "latency_max = -5", "latency_max = -5", "-5", "'-5'"},
};

// Every column of the metric totals table, as Store::list_metric_totals reads it.
constexpr Corruption kMetricTotalRows[] = {
    {"metric_totals", "name", "name = X'71'", "", "a BLOB of 1 bytes", ""},
    {"metric_totals", "queue", "queue = X'71'", "", "a BLOB of 1 bytes", ""},
    {"metric_totals", "job_type", "job_type = X'71'", "", "a BLOB of 1 bytes", ""},
    {"metric_totals", "schedule", "schedule = X'71'", "", "a BLOB of 1 bytes", ""},
    {"metric_totals", "value", "value = -1", "value = -1", "-1", "'-1'"},
    {"metric_totals", "value", "value = 2.5", "", "2.5 (a REAL)", ""},
    {"metric_totals", "value", "value = 'abc'", "", "'abc' (TEXT)", ""},
};

// Stored schema versions: text on both stores.
constexpr std::string_view kBadVersions[] = {
    "-2", "-1", "abc", "2abc", "", "99999999999999999999", "+2", " 2", "2 ", "1.0", "0x2",
};

// Jobs that a claim takes (they are due) although a value of theirs is invalid.
constexpr Corruption kClaimablePoison[] = {
    {"jobs", "error_count", "error_count = -1", "error_count = -1", "-1", "'-1'"},
    {"jobs", "error_count", "error_count = 2147483647", "error_count = 2147483647", "2147483647",
     "'2147483647'"},
    {"jobs", "id", "id = -9", "id = -9", "-9", "'-9'"},
    {"jobs", "created_at", "created_at = 'abc'", "created_at = 'infinity'", "'abc' (TEXT)",
     "'infinity'"},
    {"jobs", "run_at", "run_at = -62135596800000001", "run_at = '-infinity'", "-62135596800000001",
     "'-infinity'"},
    {"jobs", "run_at", "run_at = 1.5", "run_at = '0100-06-01 00:00:00+00 BC'", "1.5 (a REAL)",
     "'0100-0"},
    {"jobs", "priority", "priority = 'abc'", "", "'abc' (TEXT)", ""},
    {"jobs", "priority", "priority = 4294967296", "", "4294967296", ""},
    {"jobs", "name", "name = X'52'", "", "a BLOB of 1 bytes", ""},
    {"jobs", "payload", "payload = X'7b7d'", "", "a BLOB of 2 bytes", ""},
    {"jobs", "last_error", "last_error = X'00'", "", "a BLOB of 1 bytes", ""},
};

std::string sql_text(std::string_view text) {
  std::string out = "'";
  for (char c : text)
    out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// Runs `read`, which must throw StoreError naming the table, the row, the column's value and
// what was expected.
template <class Read>
void expect_refusal(Read read, const std::string& table, const std::string& row,
                    const std::string& said) {
  try {
    read();
    ADD_FAILURE() << "expected a StoreError for " << said;
  } catch (const errand::StoreError& e) {
    const std::string message = e.what();
    EXPECT_TRUE(contains(message, row.empty() ? table + ": " : table + " row " + row)) << message;
    EXPECT_TRUE(contains(message, said)) << message;
    EXPECT_TRUE(contains(message, "; expected ")) << message;
  }
}

class StoredValues {
 public:
  StoredValues(const StoreFactory& factory, TestStorage& storage)
      : sqlite_(factory.name == "sqlite"), storage_(storage) {}

  bool sqlite() const { return sqlite_; }
  // The SET clause of `c` on this store, empty when the store cannot hold the value.
  std::string_view set_clause(const Corruption& c) const { return sqlite_ ? c.sqlite : c.postgres; }
  // "<column> is <value>": what the message says of the value.
  std::string said(const Corruption& c) const {
    return std::string(c.column) + " is " + std::string(sqlite_ ? c.shown : c.shown_pg);
  }
  // The table's name as messages give it: errand_jobs, or <schema>.jobs.
  std::string table_name(std::string_view logical) const {
    if (sqlite_) return storage_.table(logical);
    return dynamic_cast<PostgresStorage&>(storage_).schema() + "." + std::string(logical);
  }
  void corrupt(const Corruption& c, std::string_view where = "1=1") {
    storage_.rows("UPDATE " + storage_.table(c.table) + " SET " + std::string(set_clause(c)) +
                  " WHERE " + std::string(where));
  }
  std::string trace(const Corruption& c) const {
    return storage_.table(c.table) + " SET " + std::string(set_clause(c));
  }

  // For each case this store can hold: `make` one row of the case's table, store the value, and
  // expect `read` to refuse it naming the row, leaving it in place; then delete the row and
  // expect `read` to work again.
  template <class Make, class Read>
  void expect_each_refused(std::span<const Corruption> cases, Make make, Read read) {
    for (const Corruption& c : cases) {
      if (set_clause(c).empty()) continue;
      SCOPED_TRACE(trace(c));
      make();
      corrupt(c);
      const std::string table = storage_.table(c.table);
      std::string row;  // empty for a table without ids (activity, metric_totals)
      if (c.table != "activity" && c.table != "metric_totals") {
        const auto key = storage_.text("SELECT id FROM " + table);
        ASSERT_TRUE(key);
        const bool text_key = c.table == "workers";  // worker ids are text
        row = !text_key          ? "id " + *key
              : c.column == "id" ? "id " + std::string(c.shown)
                                 : "id '" + *key + "'";
      }
      expect_refusal(read, table_name(c.table), row, said(c));
      EXPECT_EQ(storage_.count(c.table), 1);
      storage_.rows("DELETE FROM " + table);
      EXPECT_NO_THROW(read());
    }
  }

 private:
  bool sqlite_;
  TestStorage& storage_;
};

TEST_P(StoreConformance, StoredValueInvalidJobRowsAreRefusedByName) {
  StoredValues(GetParam(), *storage)
      .expect_each_refused(
          kJobRows, [&] { errand::enqueue(*store, RecordJob{.tag = 1}); }, [&] { all_jobs(); });
}

TEST_P(StoreConformance, StoredValueInvalidDeadRowsAreRefusedByName) {
  const auto make_dead = [&] {
    errand::enqueue(*store, RecordJob{.tag = 1});
    const auto claimed = store->claim("w", 1, kLockTimeout);
    ASSERT_EQ(claimed.size(), 1u);
    const errand::Outcome dead[] = {{.id = claimed[0].id,
                                     .locked_at = claimed[0].locked_at,
                                     .kind = errand::Outcome::Kind::dead_letter,
                                     .error = "broken"}};
    ASSERT_TRUE(store->settle("w", dead).empty());
  };
  StoredValues(GetParam(), *storage).expect_each_refused(kDeadRows, make_dead, [&] { all_dead(); });
}

TEST_P(LivenessConformance, StoredValueInvalidWorkerRowsAreRefusedByName) {
  StoredValues(GetParam(), *storage)
      .expect_each_refused(
          kWorkerRows, [&] { store->register_worker(registration("w-1")); },
          [&] { store->list_workers(); });
}

TEST_P(MetricsConformance, StoredValueInvalidActivityRowsAreRefusedByName) {
  const auto minute = std::chrono::floor<std::chrono::minutes>(clock->now());
  const errand::ActivityMinute one[] = {{.minute = minute, .queue = "q", .completed = 1}};
  StoredValues(GetParam(), *storage)
      .expect_each_refused(
          kActivityRows, [&] { store->record_activity(one); },
          [&] { store->list_activity(minute - std::chrono::hours{1}); });
}

TEST_P(MetricsConformance, StoredValueInvalidMetricTotalRowsAreRefusedByName) {
  const errand::MetricTotal one[] = {
      {.name = "completed", .queue = "q", .job_type = "T", .value = 1}};
  StoredValues(GetParam(), *storage)
      .expect_each_refused(
          kMetricTotalRows, [&] { store->add_metric_totals(one); },
          [&] { store->list_metric_totals(); });
}

TEST_P(StoreConformance, StoredValueSchemaVersionIsParsedStrictlyOnOpenAndRead) {
  StoredValues values(GetParam(), *storage);
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  const std::string meta = storage->table("meta");
  const std::string good = std::to_string(store->schema_version());
  for (std::string_view version : kBadVersions) {
    SCOPED_TRACE("schema_version '" + std::string(version) + "'");
    storage->rows("UPDATE " + meta + " SET value = " + sql_text(version) +
                  " WHERE key = 'schema_version'");
    const std::string said = values.table_name("meta") + ".schema_version is '";
    for (const auto& attempt : std::vector<std::function<void()>>{
             [&] { storage->open(clock); }, [&] { store->schema_version(); }}) {
      try {
        attempt();
        ADD_FAILURE() << "expected a StoreError";
      } catch (const errand::StoreError& e) {
        EXPECT_TRUE(contains(e.what(), said)) << e.what();
        EXPECT_TRUE(contains(e.what(), "not an errand schema version")) << e.what();
      }
    }
    // Nothing was migrated over the existing tables, nothing changed.
    EXPECT_EQ(storage->text("SELECT value FROM " + meta + " WHERE key = 'schema_version'"),
              std::string(version));
    EXPECT_EQ(column("jobs", "name", id), "Record");
  }
  storage->rows("UPDATE " + meta + " SET value = '" + good + "' WHERE key = 'schema_version'");
  EXPECT_NO_THROW(storage->open(clock));
}

// A claimed job with an invalid value is not run but dead-lettered at once, its error naming the
// value; the jobs around it run; the dead-letter copy is itself readable.
TEST_P(WorkerConformance, StoredValueAPoisonRowIsDeadLetteredUnrunAndTheQueueMovesOn) {
  StoredValues values(GetParam(), *storage);
  for (const Corruption& c : kClaimablePoison) {
    if (values.set_clause(c).empty()) continue;
    SCOPED_TRACE(values.trace(c));
    state.runs.clear();
    errand::enqueue(*store, RecordJob{.tag = 1});
    const auto poison = errand::enqueue(*store, RecordJob{.tag = 2});
    errand::enqueue(*store, RecordJob{.tag = 3});
    values.corrupt(c, "id = " + std::to_string(poison));
    const auto stored_id = c.column == "id" ? -9 : poison;

    errand::Worker<TestState> worker(store, registry, state, worker_options(2));
    EXPECT_EQ(worker.run_until_idle(), 2u);
    EXPECT_EQ(state.count("Record:1"), 1u);
    EXPECT_EQ(state.count("Record:3"), 1u);
    EXPECT_EQ(state.count("Record:2"), 0u) << "the poison job ran";
    EXPECT_EQ(worker.stats().dead_lettered, 1u);
    EXPECT_EQ(rows_in("jobs"), 0);

    const auto dead =
        storage->rows("SELECT id, last_error FROM " + storage->table("finished_jobs"));
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0][0], std::to_string(stored_id));
    const std::string error = dead[0][1].value_or("");
    EXPECT_TRUE(contains(error, "not run")) << error;
    EXPECT_TRUE(contains(error, values.said(c))) << error;
    EXPECT_TRUE(contains(error, values.table_name("jobs") + " row id " + std::to_string(stored_id)))
        << error;
    if (stored_id > 0) {
      // The dead-letter copy holds only valid values (the error keeps the invalid one).
      const auto copy = find_dead(stored_id);
      ASSERT_TRUE(copy);
      EXPECT_GE(copy->error_count, 1);
      EXPECT_EQ(copy->last_error, error);
    }
    bool logged = false;
    for (const auto& [level, line] : logs.lines())
      logged = logged || (contains(line, "dead-lettered") && contains(line, values.said(c)));
    EXPECT_TRUE(logged);
    storage->rows("DELETE FROM " + storage->table("finished_jobs"));
  }
}

// A job of a lost worker with an invalid value is dead-lettered by the rescue (not retried, not
// found again and again); the lost worker's other job is rescued as usual.
TEST_P(LivenessConformance, StoredValueRescueDeadLettersAPoisonRowOfALostWorker) {
  StoredValues values(GetParam(), *storage);
  auto lost = registration("test-worker");
  lost.started_at = store->register_worker(lost);
  const auto good = errand::enqueue(*store, RecordJob{.tag = 1});
  const auto poison = errand::enqueue(*store, RecordJob{.tag = 2});
  ASSERT_EQ(store->claim("test-worker", 5, kLockTimeout).size(), 2u);
  const Corruption c{
      "jobs",       "error_count", "error_count = 2147483647", "error_count = 2147483647",
      "2147483647", "'2147483647'"};
  values.corrupt(c, "id = " + std::to_string(poison));
  clock->advance(1s);

  // The same worker id registering again: its jobs locked before are lost at once.
  errand::Worker<TestState> worker(store, registry, state, worker_options());
  worker.run_until_idle();
  EXPECT_EQ(state.total(), 0u);  // the rescued job waits out its backoff
  const auto job = find_job(good);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->error_count, 1);
  EXPECT_FALSE(job->locked_by);
  const auto dead = find_dead(poison);
  ASSERT_TRUE(dead);
  EXPECT_TRUE(contains(dead->last_error, "not run")) << dead->last_error;
  EXPECT_TRUE(contains(dead->last_error, values.said(c))) << dead->last_error;
  EXPECT_EQ(dead->error_count, 2147483646);
  EXPECT_EQ(worker.stats().rescued, 2u);
  bool logged = false;
  for (const auto& [level, line] : logs.lines())
    logged = logged || (contains(line, "of lost worker") && contains(line, values.said(c)));
  EXPECT_TRUE(logged);
}

// A lock held at an invalid time is no lease: rescue skips it (it is reported by inspection)
// instead of failing, or finding it again and again.
TEST_P(LivenessConformance, StoredValueRescueSkipsALockAtAnInvalidTime) {
  StoredValues values(GetParam(), *storage);
  auto lost = registration("lost");
  lost.started_at = store->register_worker(lost);
  const auto good = errand::enqueue(*store, RecordJob{.tag = 1});
  const auto bad = errand::enqueue(*store, RecordJob{.tag = 2});
  ASSERT_EQ(store->claim("lost", 5, kLockTimeout).size(), 2u);
  const Corruption c{"jobs",         "locked_at", "locked_at = 'abc'", "locked_at = 'infinity'",
                     "'abc' (TEXT)", "'infinity'"};
  values.corrupt(c, "id = " + std::to_string(bad));
  clock->advance(1h);
  const auto found = store->find_lost_jobs(30s, 500);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].job.id, good);
  EXPECT_FALSE(found[0].job.invalid);
  expect_refusal([&] { all_jobs(); }, values.table_name("jobs"), "id " + std::to_string(bad),
                 values.said(c));
}

}  // namespace
}  // namespace errand_test
