// Unique jobs: a search index refreshed at most once per hour per customer, however many
// changes ask for it; a reminder whose latest text wins while it waits; a batch told per row.
#include <errand/errand.hpp>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <string>

struct App {};

// Unique by customer_id (not by `reason`), one per hour of run_at, blocking while scheduled,
// ready, running or (when kept) completed: the defaults of UniqueOptions::states.
struct RefreshIndex {
  static constexpr std::string_view name = "RefreshIndex";
  static inline const errand::UniqueOptions unique{.fields = {{"customer_id"}},
                                                   .period = std::chrono::hours{1}};
  std::int64_t customer_id = 0;
  std::string reason;
  void run(App&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RefreshIndex, customer_id, reason)

struct Remind {
  static constexpr std::string_view name = "Remind";
  std::int64_t user_id = 0;
  std::string text;
  void run(App&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Remind, user_id, text)

int main() {
  const auto path = std::filesystem::temp_directory_path() / "errand-unique-example.db";
  std::filesystem::remove(path);
  auto store = errand::open_sqlite(path.string());

  // The same customer twice in one hour: one job; the second call is told which one.
  const errand::Enqueued first = errand::enqueue(*store, RefreshIndex{42, "name changed"});
  const errand::Enqueued again = errand::enqueue(*store, RefreshIndex{42, "email changed"});
  fmt::print("refresh 42: {} #{}, then {} of #{}\n", errand::to_string(first.outcome), first.id,
             errand::to_string(again.outcome), again.id);

  // An enqueue may ask for uniqueness itself; replace gives a waiting job the new payload.
  const errand::UniqueOptions latest_wins{.fields = {{"user_id"}},
                                          .on_conflict = errand::OnConflict::replace};
  const auto remind = [&](std::string text) {
    return errand::enqueue(*store, Remind{7, std::move(text)},
                           {.delay = std::chrono::minutes{30}, .unique = latest_wins});
  };
  const errand::Enqueued reminder = remind("call Bob");
  const errand::Enqueued updated = remind("call Bob and Alice");
  fmt::print("reminder: {} #{}, then {} #{}: {}\n", errand::to_string(reminder.outcome),
             reminder.id, errand::to_string(updated.outcome), updated.id,
             store->find_job(updated.id, std::chrono::hours{2})->payload);

  // A batch reports each row: customer 42 is held, 43 is new, the second 43 is the batch's own.
  errand::Batch batch;
  batch.add(RefreshIndex{42, "bulk"}).add(RefreshIndex{43, "bulk"}).add(RefreshIndex{43, "bulk"});
  const std::vector<errand::Enqueued> rows = errand::enqueue(*store, batch);
  for (const errand::Enqueued& row : rows)
    fmt::print("batch row: {} #{}\n", errand::to_string(row.outcome), row.id);

  const auto counts = store->counts(std::chrono::hours{2});
  const bool as_told = again.id == first.id && updated.id == reminder.id &&
                       rows[0].id == first.id && rows[2].id == rows[1].id;
  fmt::print("jobs: {}, as told: {}\n", counts.ready + counts.scheduled, as_told ? "yes" : "no");
  std::filesystem::remove(path);
  return as_told && counts.ready + counts.scheduled == 3 ? 0 : 1;
}
