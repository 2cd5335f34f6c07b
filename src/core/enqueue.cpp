#include <errand/enqueue.hpp>

#include "core/stored_values.hpp"
#include "core/text.hpp"

#include <fmt/format.h>

namespace errand::detail {

void throw_serialization_error(std::string_view name, const char* what) {
  throw EnqueueError(EnqueueError::Kind::serialization,
                     fmt::format("cannot serialize job '{}' to JSON: {}", name, what));
}

NewJob make_row(std::string_view name, const nlohmann::json& payload, EnqueueOptions options) {
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
  row.priority = options.priority;
  row.run_at = options.run_at;
  if (!row.run_at) row.delay = options.delay;
  if (const std::string problem = schedule_problem(row); !problem.empty()) {
    throw EnqueueError(EnqueueError::Kind::serialization,
                       fmt::format("cannot enqueue job '{}': {}", name, problem));
  }
  return row;
}

std::vector<JobId> insert_rows(Store& store, std::span<const NewJob> rows) {
  if (rows.empty()) return {};
  try {
    return store.enqueue(rows);
  } catch (const StoreError& e) {
    throw EnqueueError(EnqueueError::Kind::storage,
                       fmt::format("cannot enqueue {} job{} into {}: {}", rows.size(),
                                   rows.size() == 1 ? "" : "s", store.describe(), e.what()));
  }
}

}  // namespace errand::detail
