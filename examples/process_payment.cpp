// The seed's second example: a job that reaches the application's own database through AppState,
// made idempotent (errand runs a job at least once: a worker killed after the INSERT but before
// errand records the success runs it again) by a key that says which payment it is.
#include <errand/errand.hpp>

#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

// The application's state. Jobs run on several threads at once, so the connection is guarded.
struct MyAppState {
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db{nullptr, &sqlite3_close};
  std::mutex db_mutex;
};

// Runs one statement with integer parameters; calls `row` for each result row.
template <class RowFn>
void query(sqlite3* db, std::string_view sql, std::initializer_list<std::int64_t> params,
           RowFn row) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
      SQLITE_OK) {
    throw std::runtime_error(sqlite3_errmsg(db));
  }
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, &sqlite3_finalize);
  int index = 0;
  for (std::int64_t param : params)
    sqlite3_bind_int64(raw, ++index, param);
  int rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW)
    row(raw);
  if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db));
}

struct ProcessPaymentJob {
  static constexpr std::string_view name = "ProcessPaymentJob";
  std::int64_t order_id = 0;  // the order this pays for: one payment per order
  std::int64_t user_id = 0;
  std::int64_t amount_cents = 0;

  void run(MyAppState& app) const {
    std::lock_guard lock(app.db_mutex);
    std::string user_name;
    query(app.db.get(), "SELECT name FROM users WHERE id = ?", {user_id}, [&](sqlite3_stmt* row) {
      user_name = reinterpret_cast<const char*>(sqlite3_column_text(row, 0));
    });
    // Throwing fails this attempt: it is retried after 2 s, 4 s, 8 s ...
    if (user_name.empty()) throw std::runtime_error(fmt::format("no user with id {}", user_id));
    fmt::print("Processing payment of {} cents for user {} #{}\n", amount_cents, user_name,
               user_id);
    // A second run of the same job (at least once) inserts nothing: payments.order_id is unique.
    // A call to a payment provider would pass the order id as its idempotency key likewise.
    query(app.db.get(),
          "INSERT INTO payments (order_id, user_id, amount_cents) VALUES (?, ?, ?)"
          " ON CONFLICT (order_id) DO NOTHING",
          {order_id, user_id, amount_cents}, [](sqlite3_stmt*) {});
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ProcessPaymentJob, order_id, user_id, amount_cents)

int main() {
  // Scratch databases, removed at exit: errand's jobs and the application's own data.
  const auto dir =
      std::filesystem::temp_directory_path() / fmt::format("errand-payment-{}", getpid());
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};

  MyAppState app;
  sqlite3* db = nullptr;
  const int rc = sqlite3_open((dir / "app.db").c_str(), &db);
  app.db.reset(db);
  if (rc != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
  sqlite3_exec(db,
               "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
               "CREATE TABLE payments (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL UNIQUE,"
               " user_id INTEGER, amount_cents INTEGER, created_at TEXT DEFAULT "
               "CURRENT_TIMESTAMP);"
               "INSERT INTO users VALUES (1, 'Alice');",
               nullptr, nullptr, nullptr);

  std::shared_ptr<errand::Store> store = errand::open_sqlite(dir / "jobs.db");
  const ProcessPaymentJob payment{.order_id = 1001, .user_id = 1, .amount_cents = 1999};
  errand::enqueue(*store, payment, "checkout");
  // The same payment once more, as if its first run had been cut off after the INSERT.
  errand::enqueue(*store, payment, "checkout");
  errand::enqueue(*store, ProcessPaymentJob{.order_id = 1002, .user_id = 42, .amount_cents = 500},
                  "checkout");

  errand::Registry<MyAppState> registry;
  registry.add<ProcessPaymentJob>();
  errand::Worker<MyAppState> worker(store, registry, app);
  worker.run_until_idle();

  // The job for the missing user failed; it waits for its retry with the error recorded.
  for (const errand::JobInfo& job : store->list_jobs({})) {
    fmt::print("job {} ({}) failed {} time(s): {}\n", job.id, job.payload, job.error_count,
               job.last_error.value_or(""));
  }
  query(db, "SELECT count(*) FROM payments", {}, [](sqlite3_stmt* row) {
    fmt::print("payments recorded: {} (order 1001 ran twice, paid once)\n",
               sqlite3_column_int64(row, 0));
  });
}
