// Queues and limits: payments to a provider that allows 10 calls per second and at most 2 at
// once per customer, e-mails beside them, and a nightly report that must never run twice at once.
#include <errand/errand.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

struct App {
  std::atomic<int> charged{0}, mailed{0}, reports{0};
};

struct ChargeCard {
  static constexpr std::string_view name = "ChargeCard";
  static constexpr std::string_view queue = "payments";
  static constexpr std::string_view partition_by = "customer_id";  // the per-key limit's key
  std::int64_t customer_id = 0;
  std::int64_t cents = 0;
  void run(App& app) { ++app.charged; }  // call the provider here
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ChargeCard, customer_id, cents)

struct SendReceipt {
  static constexpr std::string_view name = "SendReceipt";
  static constexpr std::string_view queue = "mail";
  std::int64_t customer_id = 0;
  void run(App& app) { ++app.mailed; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SendReceipt, customer_id)

struct NightlyReport {
  static constexpr std::string_view name = "NightlyReport";
  static constexpr std::string_view queue = "nightly";
  std::string day;
  void run(App& app) { ++app.reports; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NightlyReport, day)

int main() {
  const auto path = std::filesystem::temp_directory_path() / "errand-queues-example.db";
  std::filesystem::remove(path);
  auto store = errand::open_store("sqlite:" + path.string());

  // Settings live in the store: every worker of every process follows them, and they can be
  // changed while workers run (`errand queues limit payments --rate 10/s --per-key 2`).
  store->update_queue("payments", {.per_key = 2, .rate = errand::parse_rate("10/s")},
                      /*create=*/true);
  store->update_queue("nightly", {.global = 1}, /*create=*/true);

  for (std::int64_t customer = 1; customer <= 5; ++customer) {
    for (int i = 0; i < 4; ++i)
      errand::enqueue(*store, ChargeCard{customer, 500 + i});
    errand::enqueue(*store, SendReceipt{customer});
  }
  errand::enqueue(*store, NightlyReport{"2026-12-02"});

  errand::Registry<App> registry;
  registry.add<ChargeCard>().add<SendReceipt>().add<NightlyReport>();
  App app;
  errand::WorkerOptions options;
  // Each queue has slots of its own: a backlog of payments never holds up the e-mails.
  options.queues = {{"payments", 4}, {"mail", 8}, {"nightly", 1}};
  options.poll_interval = std::chrono::milliseconds{100};
  errand::Worker<App> worker(store, registry, app, options);
  const auto started = std::chrono::steady_clock::now();
  {
    std::jthread running([&](std::stop_token stop) { worker.run(stop); });
    // The payments wait out their rate: 20 at 10/s take about a second.
    while ((app.charged < 20 || app.mailed < 5 || app.reports < 1) &&
           std::chrono::steady_clock::now() - started < std::chrono::seconds{10}) {
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
  }  // stops the worker
  const auto took = std::chrono::steady_clock::now() - started;

  for (const errand::QueueInfo& q : store->list_queues()) {
    fmt::print("{:<9} paused={} ready={} running={}\n", q.name, q.paused, q.ready, q.running);
  }
  fmt::print("charged {} (20 at 10/s: about 1 s, took {} ms), mailed {}, reports {}\n",
             app.charged.load(),
             std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), app.mailed.load(),
             app.reports.load());
  std::filesystem::remove(path);
  return app.charged == 20 && app.mailed == 5 && app.reports == 1 ? 0 : 1;
}
