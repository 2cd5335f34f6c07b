// The one definition of a valid value read back from errand's database, shared by every store
// (docs/reliability.md, "Bad input"). What is not valid is never used: inspection throws
// StoreError naming the store, table, row, column, the value and what was expected; a claimed or
// rescued job holding such a value is dead-lettered without running (ClaimedJob::invalid).
#pragma once

#include <errand/clock.hpp>
#include <errand/store.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace errand::detail {

// Times: microseconds since the Unix epoch from 0001-01-01T00:00:00Z up to (not including)
// 10000-01-01T00:00:00Z, the years errand prints as four digits. Finite, so that differences
// of two stored times and the store's now never overflow a Duration.
inline constexpr std::int64_t kFirstStoredMicros = -62'135'596'800'000'000;
inline constexpr std::int64_t kEndStoredMicros = 253'402'300'800'000'000;
inline constexpr std::string_view kTimeRange = "0001-01-01 to 9999-12-31 (UTC)";

inline constexpr std::int64_t kInt32Min = std::numeric_limits<std::int32_t>::min();
inline constexpr std::int64_t kInt32Max = std::numeric_limits<std::int32_t>::max();
inline constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// Ranges by column (both ends included). error_count stays below INT32_MAX so that counting one
// more failure cannot overflow; pid and concurrency are what a worker process can register.
struct StoredRange {
  std::int64_t min;
  std::int64_t max;
  std::string_view expected;  // for messages
};
inline constexpr StoredRange kIdRange{1, kInt64Max, "a whole number from 1"};
inline constexpr StoredRange kPriorityRange{kInt32Min, kInt32Max,
                                            "a whole number from -2147483648 to 2147483647"};
inline constexpr StoredRange kErrorCountRange{0, kInt32Max - 1,
                                              "a whole number from 0 to 2147483646"};
inline constexpr StoredRange kCountRange{0, kInt64Max, "a whole number from 0"};
inline constexpr StoredRange kPidRange{1, kInt32Max, "a process id from 1 to 2147483647"};
inline constexpr StoredRange kConcurrencyRange{1, kInt32Max, "a whole number from 1 to 2147483647"};

constexpr bool in_range(std::int64_t value, const StoredRange& range) {
  return value >= range.min && value <= range.max;
}
constexpr bool valid_stored_micros(std::int64_t us) {
  return us >= kFirstStoredMicros && us < kEndStoredMicros;
}

// A delay errand accepts at enqueue: at most 1000 years either way, so that now + delay stays a
// time errand can store.
inline constexpr std::int64_t kMaxDelayMicros = 1000LL * 36525 * 864'000'000;  // 1000 years

// What is wrong with a job's schedule (run_at outside the stored range, a delay beyond
// kMaxDelayMicros), or "" when nothing is: such a job could be written but not read back.
std::string schedule_problem(const NewJob& job);
// What is wrong with a job's queue name or partition key (errand/queues.hpp), or "".
std::string routing_problem(const NewJob& job);
// Why `job`'s uniqueness fields cannot be stored (a key that is not detail::unique_key's 64 hex
// digits, states that are no UniqueState set, a period not above zero), or empty.
std::string unique_problem(const NewJob& job);
// Throws StoreError (nothing inserted) for the first job with a schedule_problem or a
// routing_problem.
void check_new_jobs(std::span<const NewJob> jobs);

// Where rows are read from, for messages: e.g. {"SQLite database", "/srv/errand.db",
// "errand_jobs"} or {"PostgreSQL at", "postgres://app:***@db/app", "errand.jobs"}.
struct StoredTable {
  std::string_view store_kind;
  std::string_view location;
  std::string_view table;
};

// `text` for a message: in single quotes, quotes, backslashes, control characters and invalid
// UTF-8 escaped (\', \\, \n, \xNN), cut after 60 bytes (then "... (N bytes)").
std::string quoted_value(std::string_view text);

// "<kind> '<location>': <table> row <row>: <column> is <value>; expected <expected>".
// `row` names the row ("id 42"), or is empty for an aggregate.
std::string invalid_value_message(const StoredTable& where, std::string_view row,
                                  std::string_view column, std::string_view value,
                                  std::string_view expected);

// What inspection appends to invalid_value_message in its StoreError.
inline constexpr std::string_view kRefusalAdvice =
    " (errand does not use a row it cannot read: correct the row or delete it)";

// The stored schema version (the text of <table>.schema_version), strictly: a whole number from
// 0, digits only. Throws StoreError otherwise, naming the store and the value.
int parse_schema_version(std::string_view text, const StoredTable& where);

// A worker's queues as its row stores them: a JSON array of their names; nullopt (NULL) for
// every queue (an empty list).
std::optional<std::string> worker_queues_text(const std::vector<std::string>& queues);
// The reverse: false, leaving `queues` empty, unless `text` is a JSON array of strings.
bool parse_worker_queues(std::string_view text, std::vector<std::string>& queues);

}  // namespace errand::detail
