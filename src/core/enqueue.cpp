#include <errand/enqueue.hpp>
#include <errand/metrics.hpp>

#include "core/stored_values.hpp"
#include "core/text.hpp"
#include "core/unique_key.hpp"
#include "metrics/series.hpp"

#include <fmt/format.h>

namespace errand::detail {

void throw_serialization_error(std::string_view name, const char* what) {
  throw EnqueueError(EnqueueError::Kind::serialization,
                     fmt::format("cannot serialize job '{}' to JSON: {}", name, what));
}

namespace {

[[noreturn]] void refuse(std::string_view name, const std::string& why) {
  throw EnqueueError(EnqueueError::Kind::serialization,
                     fmt::format("cannot enqueue job '{}': {}", name, why));
}

// Counts what an insert did into default_metrics(), each run of rows of one queue and type with
// one lookup.
void count_enqueued(std::span<const NewJob> rows, const std::vector<Enqueued>& done) {
  Metrics& metrics = default_metrics();
  JobSeries* series = nullptr;
  for (std::size_t i = 0; i < rows.size() && i < done.size(); ++i) {
    if (!series || rows[i].queue != rows[i - 1].queue || rows[i].name != rows[i - 1].name)
      series = &metrics.series(rows[i].queue, rows[i].name);
    series->add(done[i].outcome == EnqueueOutcome::inserted ? JobCounter::enqueued
                                                            : JobCounter::unique_conflicts);
  }
}

// The partition key a payload gives in field `field`: a string as it is, a number or boolean as
// JSON writes it.
std::string key_from_payload(std::string_view name, const nlohmann::json& payload,
                             std::string_view field) {
  const std::string key(field);
  if (!payload.is_object() || !payload.contains(key)) {
    refuse(name, fmt::format("its payload has no field '{}', which its type names as its "
                             "partition key (partition_by); give EnqueueOptions::partition_key",
                             field));
  }
  const nlohmann::json& value = payload.at(key);
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number() || value.is_boolean()) return value.dump();
  refuse(name, fmt::format("its payload field '{}' (its partition key) is {}, not a string, "
                           "number or boolean",
                           field, value.type_name()));
}

}  // namespace

NewJob make_row(std::string_view name, const nlohmann::json& payload, EnqueueOptions options,
                Routing routing) {
  NewJob row;
  row.name = std::string(name);
  try {
    row.payload = payload.dump();  // throws on invalid UTF-8 in strings
  } catch (const std::exception& e) {
    throw_serialization_error(name, e.what());
  }
  if (!is_clean_utf8(options.context)) {
    throw EnqueueError(EnqueueError::Kind::serialization,
                       fmt::format("cannot enqueue job '{}': its context is not valid UTF-8 text "
                                   "(or contains a NUL byte)",
                                   name));
  }
  row.context = std::move(options.context);
  if (options.queue) {
    row.queue = std::move(*options.queue);
  } else if (!routing.queue.empty()) {
    row.queue = std::string(routing.queue);
  }
  if (options.partition_key) {
    row.partition_key = std::move(*options.partition_key);
  } else if (!routing.partition_by.empty()) {
    row.partition_key = key_from_payload(name, payload, routing.partition_by);
  }
  if (const std::string problem = routing_problem(row); !problem.empty()) refuse(name, problem);
  row.priority = options.priority;
  row.run_at = options.run_at;
  if (!row.run_at) row.delay = options.delay;
  if (const std::string problem = schedule_problem(row); !problem.empty()) refuse(name, problem);
  const UniqueOptions* unique = options.unique ? &*options.unique : routing.unique;
  if (unique != nullptr) {
    row.unique_key = unique_key_of(name, row.queue, payload, *unique);
    row.unique_period = unique->period;
    row.unique_states = unique->states;
    row.on_conflict = unique->on_conflict;
  }
  return row;
}

std::vector<Enqueued> insert_rows(Store& store, std::span<const NewJob> rows) {
  if (rows.empty()) return {};
  try {
    std::vector<Enqueued> done = store.insert_jobs(rows);
    count_enqueued(rows, done);
    return done;
  } catch (const StoreError& e) {
    throw EnqueueError(EnqueueError::Kind::storage,
                       fmt::format("cannot enqueue {} job{} into {}: {}", rows.size(),
                                   rows.size() == 1 ? "" : "s", store.describe(), e.what()));
  }
}

}  // namespace errand::detail
