// Bad input (issue 4): malformed JSON payload rows, huge payloads, non-UTF-8 text, SQL
// metacharacters in names, contexts, payloads and filters, huge and non-UTF-8 exception messages.
// Each gets a clear error and loses nothing; every assertion is on the stored rows.
//
// The tests use the existing conformance fixtures (so ERRAND_INSTANTIATE_CONFORMANCE runs them on
// every store); their names all start with "BadInput" (`ctest -R BadInput`).
#include "support/conformance.hpp"
#include "utf8_reference.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>

using errand::EnqueueError;
using errand::Outcome;
using errand::WorkerEvent;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

constexpr std::size_t kMaxErrorBytes = 16 * 1024;
constexpr std::string_view kTruncatedMark = " ... (truncated)";

// Well-formed UTF-8 without NUL bytes (what PostgreSQL text can hold), by the fuzz targets'
// reference validator: written from the Unicode Standard's table, independent of the library's.
bool valid_utf8(std::string_view text) {
  return errand_fuzz::is_clean(text);
}

// Bytes as C-escaped text, for failure messages about binary strings (long ones shortened).
std::string escaped(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < 400; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  if (text.size() > 400) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

// Throws a std::runtime_error whose message is not valid UTF-8 (stray bytes, a lone lead byte,
// an encoded surrogate). (A NUL byte could not get through: what() is a C string.)
struct ThrowBadUtf8Job {
  static constexpr std::string_view name = "ThrowBadUtf8";
  int tag = 0;
  void run(TestState& state) {
    state.record("ThrowBadUtf8:" + std::to_string(tag));
    using namespace std::string_literals;
    throw std::runtime_error(
        "bad \xff\xfe bytes, lone \xc3 lead, surrogate \xed\xa0\x80, \xc3\xa9nd"s);
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ThrowBadUtf8Job, tag)

// (1) A stored row whose payload is not JSON: a recorded, readable failure, retried with the
// usual backoff, finally dead-lettered with the payload kept byte for byte. Other jobs still run.
TEST_P(WorkerConformance, BadInputMalformedJsonPayloadIsRetriedThenDeadLetteredVerbatim) {
  const std::string payload = "{\"tag\": 1, \"s\": \"caf\xc3\xa9 \\\"q\\\"\",\t[1, 2,  \n";
  const auto id = enqueue_raw({.name = "Record", .payload = payload, .context = "broken row"});
  const auto good = errand::enqueue(*store, RecordJob{.tag = 9}, "", -1);
  EXPECT_EQ(column("jobs", "payload", id), payload);

  auto options = worker_options();
  options.max_retries = 2;
  errand::Worker worker(store, registry, state, options);
  const auto failed_at = clock->now();
  EXPECT_EQ(worker.run_until_idle(), 2u);
  EXPECT_EQ(state.snapshot(), std::vector<std::string>{"Record:9"})
      << "the bad row must not stop other jobs (nor run)";
  EXPECT_FALSE(find_job(good));

  auto job = find_job(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->error_count, 1);
  EXPECT_EQ(job->locked_by, std::nullopt);
  EXPECT_EQ(us(job->run_at), us(failed_at + 2s));
  EXPECT_EQ(job->payload, payload) << "the payload must be kept as it was";
  ASSERT_TRUE(job->last_error);
  const std::string first_error = *job->last_error;
  EXPECT_TRUE(contains(first_error, "Record")) << first_error;
  EXPECT_TRUE(contains(lower(first_error), "json")) << first_error;
  EXPECT_TRUE(valid_utf8(first_error)) << escaped(first_error);
  EXPECT_LE(first_error.size(), kMaxErrorBytes + kTruncatedMark.size()) << first_error;
  EXPECT_EQ(column("jobs", "last_error", id), first_error);
  EXPECT_EQ(column("jobs", "error_count", id), "1");

  EXPECT_EQ(runs_until_gone(worker, *store, *clock, id), 2u);
  EXPECT_EQ(worker.stats().retried, 2u);
  EXPECT_EQ(worker.stats().dead_lettered, 1u);
  EXPECT_EQ(state.total(), 1u);
  EXPECT_EQ(rows_in("jobs"), 0);
  auto dead = find_dead(id);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->name, "Record");
  EXPECT_EQ(dead->context, "broken row");
  EXPECT_EQ(dead->error_count, 3);
  EXPECT_TRUE(dead->payload == payload) << escaped(dead->payload);
  EXPECT_EQ(column("finished_jobs", "payload", id), payload);
  EXPECT_TRUE(contains(lower(dead->last_error), "json")) << dead->last_error;
  EXPECT_TRUE(valid_utf8(dead->last_error)) << escaped(dead->last_error);

  // Retried from the dead-letter table, it is still the same bytes.
  EXPECT_TRUE(store->retry_dead(id));
  ASSERT_TRUE(find_job(id));
  EXPECT_EQ(find_job(id)->payload, payload);
}

// (2) A 10 MB payload (a job with a 10 MB std::string member) enqueues, is stored whole, runs
// with the whole string, and round-trips through the dead-letter table too.
TEST_P(WorkerConformance, BadInputTenMegabytePayloadRoundTrips) {
  std::string big;
  big.reserve(10 * 1024 * 1024 + 64);
  const std::string_view pattern =
      "0123456789 abcdefghijklmnopqrstuvwxyz \"quoted\" \\ caf\xc3\xa9\n";
  while (big.size() < 10 * 1024 * 1024)
    big += pattern;
  const std::string expected_payload = nlohmann::json(TextJob{.text = big}).dump();
  ASSERT_GT(expected_payload.size(), 10u * 1024 * 1024);

  const auto id = errand::enqueue(*store, TextJob{.text = big}, "big");
  {
    auto job = find_job(id);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->payload.size(), expected_payload.size());
    EXPECT_TRUE(job->payload == expected_payload) << "stored payload differs";
    EXPECT_TRUE(column("jobs", "payload", id) == expected_payload) << "raw column differs";
  }

  // A claim returns it whole; a retry keeps it whole.
  auto claimed = store->claim("w", 1, kLockTimeout);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_TRUE(claimed[0].payload == expected_payload) << "claimed payload differs";
  const Outcome retry[] = {{.id = id,
                            .locked_at = claimed[0].locked_at,
                            .kind = Outcome::Kind::retry,
                            .error = "again",
                            .retry_delay = 0s}};
  EXPECT_TRUE(store->settle("w", retry).empty());
  EXPECT_TRUE(find_job(id)->payload == expected_payload) << "payload changed by a retry";

  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 1u);
  const auto runs = state.snapshot();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].size(), 5 + big.size());
  EXPECT_TRUE(runs[0] == "Text:" + big) << "the job ran with a different text";
  EXPECT_FALSE(find_job(id));
  EXPECT_EQ(rows_in("jobs"), 0);
  EXPECT_EQ(rows_in("finished_jobs"), 0);
}

TEST_P(StoreConformance, BadInputTenMegabytePayloadSurvivesTheDeadLetterTable) {
  const std::string payload = "\"" + std::string(10 * 1024 * 1024, 'z') + "\"";
  const auto id = enqueue_raw({.name = "Big", .payload = payload, .context = "big"});
  auto claimed = store->claim("w", 1, kLockTimeout);
  ASSERT_EQ(claimed.size(), 1u);
  const Outcome dead[] = {{.id = id,
                           .locked_at = claimed[0].locked_at,
                           .kind = Outcome::Kind::dead_letter,
                           .error = "too big to care"}};
  EXPECT_TRUE(store->settle("w", dead).empty());
  auto row = find_dead(id);
  ASSERT_TRUE(row);
  EXPECT_TRUE(row->payload == payload) << "dead payload differs: " << row->payload.size();
  EXPECT_TRUE(store->retry_dead(id));
  auto back = find_job(id);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->payload == payload) << "retried payload differs: " << back->payload.size();
}

// (3a) Through the typed API, invalid UTF-8 in the payload is a serialization error and
// nothing of the batch is written.
TEST_P(EnqueueConformance, BadInputNonUtf8InATypedPayloadIsASerializationErrorInAnyBatch) {
  errand::Batch batch;
  batch.add(RecordJob{.tag = 1}, {.context = "first"});
  try {
    batch.add(TextJob{.text = "ok then \xc3\x28 and \xff"}, {.context = "second"});
    batch.add(RecordJob{.tag = 3});
    errand::enqueue(*store, batch);
    FAIL() << "expected EnqueueError";
  } catch (const EnqueueError& e) {
    EXPECT_EQ(e.kind(), EnqueueError::Kind::serialization) << e.what();
    EXPECT_TRUE(contains(e.what(), "Text")) << e.what();
    EXPECT_TRUE(contains(lower(e.what()), "utf-8")) << e.what();
  }
  EXPECT_EQ(rows_in("jobs"), 0);
  EXPECT_EQ(rows_in("finished_jobs"), 0);
}

// (3b) Through the typed API, invalid UTF-8 in the context: the same clear serialization error
// as in the payload, whatever the store, and nothing written.
TEST_P(EnqueueConformance, BadInputNonUtf8InATypedContextIsASerializationError) {
  const std::string context = "signup of \xff\xfe user";
  try {
    const auto id = errand::enqueue(*store, RecordJob{.tag = 1}, context);
    ADD_FAILURE() << "expected EnqueueError(serialization); the store took it as job " << id
                  << " with context " << escaped(column("jobs", "context", id).value_or("?"));
  } catch (const EnqueueError& e) {
    EXPECT_EQ(e.kind(), EnqueueError::Kind::serialization) << e.what();
    EXPECT_TRUE(contains(lower(e.what()), "context")) << e.what();
    EXPECT_EQ(rows_in("jobs"), 0);
  }
  EXPECT_EQ(rows_in("finished_jobs"), 0);
}

// (3c) Through Store::enqueue, invalid UTF-8 in a context or payload: either every row is stored
// verbatim and the jobs still run (SQLite), or a clear StoreError and no row of the batch is
// written (PostgreSQL text holds only UTF-8). Never a half-written batch.
TEST_P(WorkerConformance, BadInputNonUtf8InARawBatchIsStoredVerbatimOrRejectedWhole) {
  const std::string bad_context = "ctx \xff\xfe \xc3( end";
  const std::string bad_payload = "{\"tag\": 3, \"s\": \"\xff\xfe\"}";
  const std::vector<errand::NewJob> rows = {
      {.name = "Record", .payload = R"({"tag": 1})", .context = "good before", .priority = 3},
      {.name = "Record", .payload = R"({"tag": 2})", .context = bad_context, .priority = 2},
      {.name = "Record", .payload = bad_payload, .context = "bad payload", .priority = 1},
      {.name = "Record", .payload = R"({"tag": 4})", .context = "good after", .priority = 0},
  };
  std::vector<errand::JobId> ids;
  try {
    ids = store->enqueue(rows);
  } catch (const errand::StoreError& e) {
    SCOPED_TRACE(std::string("rejected: ") + e.what());
    RecordProperty("store_behaviour", std::string("rejected: ") + e.what());
    const std::string message = lower(e.what());
    EXPECT_TRUE(contains(message, "utf8") || contains(message, "utf-8") ||
                contains(message, "encoding") || contains(message, "byte sequence"))
        << "the error should say what is wrong: " << e.what();
    EXPECT_EQ(rows_in("jobs"), 0) << "a rejected batch must write nothing";
    EXPECT_EQ(rows_in("finished_jobs"), 0);

    // The same through errand::enqueue's Batch path: refused (when added, or when enqueued),
    // nothing written.
    try {
      errand::Batch batch;
      batch.add(RecordJob{.tag = 1}, {.context = "good"});
      batch.add(RecordJob{.tag = 2}, {.context = bad_context});
      errand::enqueue(*store, batch);
      ADD_FAILURE() << "the typed batch was accepted although the raw one was not";
    } catch (const EnqueueError& typed) {
      EXPECT_TRUE(contains(lower(typed.what()), "utf") || contains(lower(typed.what()), "encoding"))
          << typed.what();
    }
    EXPECT_EQ(rows_in("jobs"), 0);
    return;
  }
  // Accepted: every row stored byte for byte.
  ASSERT_EQ(ids.size(), rows.size());
  EXPECT_EQ(rows_in("jobs"), 4);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE("row " + std::to_string(i));
    auto job = find_job(ids[i]);
    ASSERT_TRUE(job);
    EXPECT_TRUE(job->context == rows[i].context) << escaped(job->context);
    EXPECT_TRUE(job->payload == rows[i].payload) << escaped(job->payload);
    EXPECT_TRUE(column("jobs", "context", ids[i]) == rows[i].context);
    EXPECT_TRUE(column("jobs", "payload", ids[i]) == rows[i].payload);
  }
  // The job with the bad context still runs; the bad payload is a recorded, readable failure.
  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 4u);
  EXPECT_EQ(state.snapshot(), (std::vector<std::string>{"Record:1", "Record:2", "Record:4"}));
  EXPECT_EQ(rows_in("jobs"), 1);
  auto failed = find_job(ids[2]);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->error_count, 1);
  EXPECT_TRUE(failed->payload == bad_payload) << escaped(failed->payload);
  ASSERT_TRUE(failed->last_error);
  EXPECT_TRUE(contains(*failed->last_error, "Record")) << escaped(*failed->last_error);
  EXPECT_TRUE(valid_utf8(*failed->last_error)) << escaped(*failed->last_error);
}

// (3d) A NUL byte in a raw context or payload: stored verbatim, or a clear error and nothing
// written. Never silently cut short.
TEST_P(EnqueueConformance, BadInputNulByteInARawRowIsStoredVerbatimOrRejectedWhole) {
  const std::string context("before\0after", 12);
  const std::string payload("{\"s\": \"a\0b\"}", 12);
  const std::vector<errand::NewJob> rows = {
      {.name = "Record", .payload = R"({"tag": 1})", .context = "good"},
      {.name = "Record", .payload = R"({"tag": 2})", .context = context},
      {.name = "Record", .payload = payload, .context = "nul payload"},
  };
  std::vector<errand::JobId> ids;
  try {
    ids = store->enqueue(rows);
  } catch (const errand::StoreError& e) {
    SCOPED_TRACE(std::string("rejected: ") + e.what());
    RecordProperty("store_behaviour", std::string("rejected: ") + e.what());
    EXPECT_EQ(rows_in("jobs"), 0) << "a rejected batch must write nothing";
    return;
  }
  ASSERT_EQ(ids.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE("row " + std::to_string(i));
    auto job = find_job(ids[i]);
    ASSERT_TRUE(job);
    EXPECT_TRUE(job->context == rows[i].context) << escaped(job->context);
    EXPECT_TRUE(job->payload == rows[i].payload) << escaped(job->payload);
  }
}

// (4) SQL metacharacters and quotes in names, contexts and payload strings round-trip verbatim
// through enqueue, claim, run and the dead-letter table; the tables are still there afterwards.
const std::vector<std::string>& sql_metacharacters() {
  static const std::vector<std::string> texts = {
      "'; DROP TABLE jobs; --",
      "'; DROP TABLE errand_jobs; DROP TABLE errand_dead_jobs; --",
      "\"); DROP TABLE dead_jobs; --",
      "\"",
      "'",
      "''",
      "\\",
      "\\'",
      "%",
      "_",
      "a%",
      "a_",
      "$1",
      "$$ $tag$ x $tag$",
      "?",
      "?1",
      ":name @p {0} {}",
      "/* comment */ -- tail",
      "; SELECT pg_sleep(10); --",
  };
  return texts;
}

TEST_P(WorkerConformance, BadInputSqlMetacharactersRoundTripVerbatimAndTablesSurvive) {
  const auto& texts = sql_metacharacters();
  std::vector<errand::NewJob> rows;
  for (const auto& text : texts) {
    rows.push_back({.name = text,
                    .payload = nlohmann::json{{"s", text}}.dump(),
                    .context = "ctx " + text,
                    .priority = 0});
  }
  const auto ids = store->enqueue(rows);
  ASSERT_EQ(ids.size(), texts.size());
  // Typed jobs carrying the same texts in their payload and context, run by the worker.
  std::vector<errand::JobId> typed;
  for (const auto& text : texts)
    typed.push_back(errand::enqueue(*store, TextJob{.text = text}, text, 1));

  ASSERT_EQ(rows_in("jobs"), static_cast<std::int64_t>(2 * texts.size()));
  for (std::size_t i = 0; i < texts.size(); ++i) {
    SCOPED_TRACE("text " + texts[i]);
    auto job = find_job(ids[i]);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->name, texts[i]);
    EXPECT_EQ(job->context, "ctx " + texts[i]);
    EXPECT_EQ(job->payload, rows[i].payload);
    EXPECT_EQ(column("jobs", "name", ids[i]), texts[i]);
    EXPECT_EQ(column("jobs", "context", ids[i]), "ctx " + texts[i]);
    EXPECT_EQ(column("jobs", "payload", ids[i]), rows[i].payload);
    EXPECT_EQ(column("jobs", "context", typed[i]), texts[i]);
  }

  // The typed jobs run (priority 1, first) with their texts intact; the raw ones have names no
  // type is registered under: recorded failures quoting the name, then dead-lettered.
  auto options = worker_options();
  options.max_retries = 0;
  errand::Worker worker(store, registry, state, options);
  EXPECT_EQ(worker.run_until_idle(), 2 * texts.size());
  std::vector<std::string> expected_runs;
  for (const auto& text : texts)
    expected_runs.push_back("Text:" + text);
  auto runs = state.snapshot();
  std::sort(runs.begin(), runs.end());
  std::sort(expected_runs.begin(), expected_runs.end());
  EXPECT_EQ(runs, expected_runs);

  EXPECT_EQ(rows_in("jobs"), 0);
  EXPECT_EQ(rows_in("finished_jobs"), static_cast<std::int64_t>(texts.size()));
  for (std::size_t i = 0; i < texts.size(); ++i) {
    SCOPED_TRACE("text " + texts[i]);
    auto dead = find_dead(ids[i]);
    ASSERT_TRUE(dead);
    EXPECT_EQ(dead->name, texts[i]);
    EXPECT_EQ(dead->context, "ctx " + texts[i]);
    EXPECT_EQ(dead->payload, rows[i].payload);
    EXPECT_TRUE(contains(dead->last_error, texts[i])) << dead->last_error;
    EXPECT_EQ(column("finished_jobs", "name", ids[i]), texts[i]);
    EXPECT_EQ(column("finished_jobs", "payload", ids[i]), rows[i].payload);
  }
  // Both tables still exist and work.
  const auto counts = store->counts(kLockTimeout);
  EXPECT_EQ(counts.dead, static_cast<std::int64_t>(texts.size()));
  EXPECT_EQ(counts.ready + counts.scheduled + counts.running + counts.abandoned, 0);
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  EXPECT_EQ(worker.run_until_idle(), 1u);
  EXPECT_FALSE(find_job(id));
  EXPECT_EQ(state.count("Record:1"), 1u);
}

// Settle errors (the recorded last_error) with metacharacters are stored verbatim too.
TEST_P(StoreConformance, BadInputSqlMetacharactersInRecordedErrorsRoundTrip) {
  const auto& texts = sql_metacharacters();
  std::vector<errand::NewJob> rows;
  for (std::size_t i = 0; i < texts.size(); ++i)
    rows.push_back({.name = "Job" + std::to_string(i), .payload = "{}"});
  const auto ids = store->enqueue(rows);
  auto claimed = store->claim("w", texts.size(), kLockTimeout);
  ASSERT_EQ(claimed.size(), texts.size());
  std::vector<Outcome> outcomes;
  for (const auto& job : claimed) {
    const auto i =
        static_cast<std::size_t>(std::find(ids.begin(), ids.end(), job.id) - ids.begin());
    outcomes.push_back({.id = job.id,
                        .locked_at = job.locked_at,
                        .kind = i % 2 == 0 ? Outcome::Kind::retry : Outcome::Kind::dead_letter,
                        .error = texts[i],
                        .retry_delay = 1s});
  }
  EXPECT_TRUE(store->settle("w", outcomes).empty());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    SCOPED_TRACE("text " + texts[i]);
    if (i % 2 == 0) {
      EXPECT_EQ(column("jobs", "last_error", ids[i]), texts[i]);
    } else {
      EXPECT_EQ(column("finished_jobs", "last_error", ids[i]), texts[i]);
    }
  }
}

// Name filters take the name literally: LIKE wildcards, quotes and placeholders match only rows
// of exactly that name, in list_jobs, list_dead, retry_dead_jobs and purge_dead_jobs.
TEST_P(StoreConformance, BadInputNameFiltersWithMetacharactersMatchOnlyThatName) {
  const std::vector<std::string> names = {
      "%", "_", "a%", "a_", "ab", "abc", "'; DROP TABLE jobs; --", "\"", "\\", "$1", "?"};
  auto add_all = [&] {
    std::vector<errand::NewJob> rows;
    for (const auto& name : names)
      rows.push_back({.name = name, .payload = "{}", .context = name});
    return store->enqueue(rows);
  };
  add_all();
  for (const auto& name : names) {
    SCOPED_TRACE("name " + name);
    errand::JobFilter filter;
    filter.name = name;
    auto listed = store->list_jobs(filter);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].name, name);
  }
  {
    errand::JobFilter filter;
    filter.name = "%%";  // would match everything as a LIKE pattern
    EXPECT_TRUE(store->list_jobs(filter).empty());
    filter.name = "'' OR 1=1 --";
    EXPECT_TRUE(store->list_jobs(filter).empty());
  }

  // Dead-letter every job, twice over (a second set of the same names).
  add_all();
  const auto claimed = store->claim("w", 1000, kLockTimeout);
  ASSERT_EQ(claimed.size(), 2 * names.size());
  std::vector<Outcome> outcomes;
  for (const auto& job : claimed) {
    outcomes.push_back({.id = job.id,
                        .locked_at = job.locked_at,
                        .kind = Outcome::Kind::dead_letter,
                        .error = "dead " + job.name});
  }
  EXPECT_TRUE(store->settle("w", outcomes).empty());
  ASSERT_EQ(rows_in("finished_jobs"), static_cast<std::int64_t>(2 * names.size()));
  ASSERT_EQ(rows_in("jobs"), 0);

  for (const auto& name : names) {
    SCOPED_TRACE("name " + name);
    errand::DeadFilter filter;
    filter.name = name;
    auto listed = store->list_dead(filter);
    ASSERT_EQ(listed.size(), 2u);
    for (const auto& dead : listed)
      EXPECT_EQ(dead.name, name);
  }
  EXPECT_EQ(store->purge_dead_jobs(errand::DeadSelection::named("%%")), 0u);
  EXPECT_EQ(store->retry_dead_jobs(errand::DeadSelection::named("' OR '1'='1")), 0u);
  EXPECT_EQ(rows_in("finished_jobs"), static_cast<std::int64_t>(2 * names.size()));

  // Retrying "%" and "a_" moves back only those names.
  EXPECT_EQ(store->retry_dead_jobs(errand::DeadSelection::named("%")), 2u);
  EXPECT_EQ(store->retry_dead_jobs(errand::DeadSelection::named("a_")), 2u);
  EXPECT_EQ(rows_in("jobs"), 4);
  for (const auto& job : all_jobs())
    EXPECT_TRUE(job.name == "%" || job.name == "a_") << job.name;
  // Purging the injection-looking name deletes only its two rows.
  EXPECT_EQ(store->purge_dead_jobs(errand::DeadSelection::named("'; DROP TABLE jobs; --")), 2u);
  EXPECT_EQ(store->purge_dead_jobs(errand::DeadSelection::named("_")), 2u);
  EXPECT_EQ(store->purge_dead_jobs(errand::DeadSelection::named("\\")), 2u);
  EXPECT_EQ(rows_in("finished_jobs"), static_cast<std::int64_t>(2 * (names.size() - 5)));
  for (const auto& dead : all_dead()) {
    EXPECT_TRUE(dead.name != "%" && dead.name != "a_" && dead.name != "_" && dead.name != "\\" &&
                dead.name != "'; DROP TABLE jobs; --")
        << dead.name;
  }
  EXPECT_EQ(rows_in("jobs"), 4) << "the jobs table must be untouched";
}

// A name filter with a NUL byte names no stored job (none can have it on every store): it must
// match nothing, or fail clearly; never be cut at the NUL and match the shorter name.
TEST_P(StoreConformance, BadInputNameFilterWithANulByteIsNotCutShort) {
  const std::string_view cut("X\0Y", 3);
  auto ids = store->enqueue(
      std::vector<errand::NewJob>{{.name = "X", .payload = "{}"}, {.name = "X", .payload = "{}"}});
  auto claimed = store->claim("w", 1, kLockTimeout);
  ASSERT_EQ(claimed.size(), 1u);
  const Outcome dead[] = {{.id = claimed[0].id,
                           .locked_at = claimed[0].locked_at,
                           .kind = Outcome::Kind::dead_letter,
                           .error = "x"}};
  EXPECT_TRUE(store->settle("w", dead).empty());
  try {
    errand::JobFilter jobs;
    jobs.name = std::string(cut);
    EXPECT_TRUE(store->list_jobs(jobs).empty()) << "matched the name cut at the NUL";
    errand::DeadFilter dead_filter;
    dead_filter.name = std::string(cut);
    EXPECT_TRUE(store->list_dead(dead_filter).empty()) << "matched the name cut at the NUL";
    EXPECT_EQ(store->retry_dead_jobs(errand::DeadSelection::named(std::string(cut))), 0u)
        << "retried jobs of the name cut at the NUL";
    EXPECT_EQ(store->purge_dead_jobs(errand::DeadSelection::named(std::string(cut))), 0u)
        << "purged jobs of the name cut at the NUL";
  } catch (const errand::StoreError& e) {
    RecordProperty("store_behaviour", std::string("rejected: ") + e.what());
  }
  EXPECT_EQ(rows_in("jobs"), 1);
  EXPECT_EQ(rows_in("finished_jobs"), 1);
  (void)ids;
}

// (5) A 1 MB exception message is recorded cut to 16 KiB at a character boundary and marked
// " ... (truncated)"; the job is retried normally.
TEST_P(WorkerConformance, BadInputHugeErrorMessageIsTruncatedAndTheJobRetried) {
  // One ASCII byte, then 2-byte characters: 16 KiB falls in the middle of a character.
  std::string message = "A";
  while (message.size() < 1024 * 1024)
    message += "\xc3\xa9";
  const auto id = errand::enqueue(*store, FailJob{.message = message}, "huge");
  auto options = worker_options();
  options.max_retries = 1;
  errand::Worker worker(store, registry, state, options);
  const auto failed_at = clock->now();
  EXPECT_EQ(worker.run_until_idle(), 1u);
  auto job = find_job(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->error_count, 1);
  EXPECT_EQ(us(job->run_at), us(failed_at + 2s));
  EXPECT_EQ(job->locked_by, std::nullopt);
  ASSERT_TRUE(job->last_error);
  const std::string& error = *job->last_error;
  EXPECT_LE(error.size(), kMaxErrorBytes + kTruncatedMark.size() + 4) << error.size();
  EXPECT_GE(error.size(), kMaxErrorBytes - 4) << error.size();
  EXPECT_TRUE(error.ends_with(kTruncatedMark)) << escaped(error.substr(error.size() - 40));
  const std::string kept = error.substr(0, error.size() - kTruncatedMark.size());
  EXPECT_TRUE(message.starts_with(kept)) << "the kept part must be the message's beginning";
  EXPECT_TRUE(valid_utf8(error)) << "cut inside a character: " << escaped(error.substr(16370));
  EXPECT_EQ(column("jobs", "last_error", id), error);
  EXPECT_EQ(column("jobs", "error_count", id), "1");
  ASSERT_EQ(events.count(WorkerEvent::Kind::retry_scheduled), 1u);

  // Retried normally, then dead-lettered with the same truncated message.
  clock->set(job->run_at);
  EXPECT_EQ(worker.run_until_idle(), 1u);
  EXPECT_EQ(state.count("Fail:" + message), 2u);
  EXPECT_FALSE(find_job(id));
  auto dead = find_dead(id);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->error_count, 2);
  EXPECT_EQ(dead->last_error, error);
  EXPECT_EQ(column("finished_jobs", "last_error", id), error);
  EXPECT_EQ(dead->payload, nlohmann::json(FailJob{.message = message}).dump());
}

// (6) An exception message with invalid UTF-8: the failure is still recorded
// (PostgreSQL text takes only UTF-8, so the store must not choke on it), readable, retried, then
// dead-lettered.
TEST_P(WorkerConformance, BadInputNonUtf8ErrorMessageIsStillRecorded) {
  registry.add<ThrowBadUtf8Job>();
  const auto id = errand::enqueue(*store, ThrowBadUtf8Job{.tag = 5}, "bad message");
  const auto other = errand::enqueue(*store, RecordJob{.tag = 6}, "", -1);
  auto options = worker_options();
  options.max_retries = 1;
  errand::Worker worker(store, registry, state, options);
  const auto failed_at = clock->now();
  EXPECT_EQ(worker.run_until_idle(), 2u);
  EXPECT_EQ(state.snapshot(), (std::vector<std::string>{"ThrowBadUtf8:5", "Record:6"}));
  EXPECT_FALSE(find_job(other));
  EXPECT_EQ(logs.problems(), 0u) << logs.dump();
  auto job = find_job(id);
  ASSERT_TRUE(job) << logs.dump();
  EXPECT_EQ(job->error_count, 1) << logs.dump();
  EXPECT_EQ(us(job->run_at), us(failed_at + 2s));
  EXPECT_EQ(job->locked_by, std::nullopt) << "the failure was not settled: " << logs.dump();
  ASSERT_TRUE(job->last_error);
  const std::string& error = *job->last_error;
  EXPECT_TRUE(valid_utf8(error)) << escaped(error);
  EXPECT_TRUE(contains(error, "bad ")) << escaped(error);
  EXPECT_TRUE(contains(error, " bytes, lone ")) << escaped(error);
  EXPECT_TRUE(contains(error, "\xc3\xa9nd")) << escaped(error);
  EXPECT_EQ(column("jobs", "last_error", id), error);

  clock->set(job->run_at);
  EXPECT_EQ(worker.run_until_idle(), 1u);
  auto dead = find_dead(id);
  ASSERT_TRUE(dead) << logs.dump();
  EXPECT_EQ(dead->error_count, 2);
  EXPECT_EQ(dead->last_error, error);
  EXPECT_EQ(column("finished_jobs", "last_error", id), error);
  EXPECT_EQ(rows_in("jobs"), 0);
}

// (6, store level) The store itself, given an outcome whose error is not valid UTF-8 (as a
// custom worker or an older errand could send), either records it or fails with a clear
// StoreError and changes nothing; it must not record half of a settle.
TEST_P(StoreConformance, BadInputNonUtf8SettleErrorIsRecordedOrRejectedWhole) {
  const std::vector<errand::NewJob> rows = {{.name = "A", .payload = "{}"},
                                            {.name = "B", .payload = "{}"}};
  const auto ids = store->enqueue(rows);
  auto claimed = store->claim("w", 2, kLockTimeout);
  ASSERT_EQ(claimed.size(), 2u);
  std::sort(claimed.begin(), claimed.end(), [](auto& l, auto& r) { return l.id < r.id; });
  const std::string bad = "broken \xff\xfe message";
  const Outcome outcomes[] = {
      {.id = ids[0], .locked_at = claimed[0].locked_at, .kind = Outcome::Kind::completed},
      {.id = ids[1],
       .locked_at = claimed[1].locked_at,
       .kind = Outcome::Kind::retry,
       .error = bad,
       .retry_delay = 1s},
  };
  try {
    EXPECT_TRUE(store->settle("w", outcomes).empty());
  } catch (const errand::StoreError& e) {
    SCOPED_TRACE(std::string("rejected: ") + e.what());
    RecordProperty("store_behaviour", std::string("rejected: ") + e.what());
    EXPECT_TRUE(find_job(ids[0])) << "a failed settle must apply nothing";
    ASSERT_TRUE(find_job(ids[1]));
    EXPECT_EQ(find_job(ids[1])->error_count, 0);
    EXPECT_EQ(find_job(ids[1])->locked_by, "w");
    return;
  }
  EXPECT_FALSE(find_job(ids[0]));
  auto job = find_job(ids[1]);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->error_count, 1);
  ASSERT_TRUE(job->last_error);
  EXPECT_TRUE(*job->last_error == bad) << escaped(*job->last_error);
}

}  // namespace
}  // namespace errand_test
