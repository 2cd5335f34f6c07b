// The CLI test table's fixture (see cli_table.hpp): prepares the row's database on the store
// under test, snapshots it, runs errand, snapshots again and checks the row.
#include "cli/cli_table.hpp"
#include "support/password_shapes.hpp"
#include "support/silent_server.hpp"

#include "cli/cli_run.hpp"
#include "support/jobs.hpp"
#include "support/postgres_storage.hpp"
#include "support/sqlite_db.hpp"
#include "support/temp_dir.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace errand_test {
namespace {

using namespace std::chrono_literals;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

bool is_root() {
  return ::geteuid() == 0;
}

// Substrings no errand output may ever contain: CLI11's 309-digit bound, crash reports.
const std::vector<std::string> kNeverAnywhere = {"179769313486231570", "terminate called",
                                                 "Segmentation fault", "Assertion"};

// The standard data set (see Setup::standard); the ids go into `vars`.
void fill_standard(errand::Store& store, std::map<std::string, std::string>& vars) {
  const auto claim_one = [&](errand::JobId expected) {
    auto claimed = store.claim("cli-test", 1, 2h);
    if (claimed.size() != 1 || claimed[0].id != expected) {
      throw std::runtime_error("cli table: the set-up claimed an unexpected job");
    }
    return claimed[0];
  };
  const auto settle = [&](errand::JobId id, errand::Outcome::Kind kind, std::string error) {
    const auto job = claim_one(id);
    const errand::Outcome outcome[] = {{.id = id,
                                        .locked_at = job.locked_at,
                                        .kind = kind,
                                        .error = std::move(error),
                                        .retry_delay = 1h}};
    if (!store.settle("cli-test", outcome).empty()) throw std::runtime_error("settle lost");
  };
  errand::WorkerRegistration worker{
      .id = "cli-test", .host = "table-host", .pid = 4242, .concurrency = 8};
  worker.started_at = store.register_worker(worker);
  errand::enqueue(store, RecordJob{.tag = 1});
  errand::enqueue(store, RecordJob{.tag = 2});
  errand::enqueue(store, RecordJob{.tag = 3}, {.delay = std::chrono::hours{1}});
  const auto running = errand::enqueue(store, RecordJob{.tag = 4}, "", 100);
  claim_one(running);
  const auto failing = errand::enqueue(store, FailJob{.message = "flaky"}, "", 99);
  settle(failing, errand::Outcome::Kind::retry, "flaky");
  const auto dead_a = errand::enqueue(store, FailJob{.message = "a"}, "ctx-a", 98);
  settle(dead_a, errand::Outcome::Kind::dead_letter, "broken beyond repair");
  const auto dead_b = errand::enqueue(store, TextJob{.text = "b"}, "ctx-b", 97);
  settle(dead_b, errand::Outcome::Kind::dead_letter, "also broken");
  vars["{running}"] = std::to_string(running);
  vars["{dead_a}"] = std::to_string(dead_a);
  vars["{dead_b}"] = std::to_string(dead_b);
}

// Setup::queues's queues beside the standard data set's "default" (see cli_table.hpp).
void fill_queues(errand::Store& store, std::map<std::string, std::string>& vars) {
  const auto mail = [&](int tag, std::string key) {
    return errand::enqueue(
        store, RecordJob{.tag = tag},
        errand::EnqueueOptions{.queue = "mail", .partition_key = std::move(key)});
  };
  const auto mail_job = mail(10, "alice");
  mail(11, "bob");
  mail(12, "bob");
  errand::enqueue(store, RecordJob{.tag = 13}, errand::EnqueueOptions{.queue = "reports"});
  store.update_queue("mail", {.global = 50, .per_key = 2, .rate = errand::parse_rate("10/h")},
                     false);
  store.update_queue("reports", {.paused = true}, false);
  errand::ClaimRequest request;
  request.queues = {{.queue = "mail", .max = 2}};  // keys take turns: alice's, then one of bob's
  const auto claimed = store.claim("cli-test", request, 2h);
  const auto is_mail_job = [&](const errand::ClaimedJob& job) { return job.id == mail_job; };
  if (claimed.size() != 2 || std::none_of(claimed.begin(), claimed.end(), is_mail_job)) {
    throw std::runtime_error("cli table: the queues set-up claimed unexpected jobs");
  }
  vars["{mail_job}"] = std::to_string(mail_job);
}

void fill(errand::Store& store, Setup setup, std::map<std::string, std::string>& vars) {
  switch (setup) {
    case Setup::queues:
      fill_standard(store, vars);
      fill_queues(store, vars);
      return;
    case Setup::standard:
    case Setup::read_only:
    case Setup::read_only_live:
    case Setup::old_schema:
    case Setup::bad_version:
    case Setup::bad_values:
      fill_standard(store, vars);
      return;
    case Setup::dead_only: {
      const auto id = errand::enqueue(store, FailJob{.message = "a"}, "ctx-a");
      auto claimed = store.claim("cli-test", 1, 2h);
      const errand::Outcome outcome[] = {{.id = id,
                                          .locked_at = claimed.at(0).locked_at,
                                          .kind = errand::Outcome::Kind::dead_letter,
                                          .error = "gone"}};
      store.settle("cli-test", outcome);
      vars["{dead_a}"] = std::to_string(id);
      return;
    }
    case Setup::worker_only:
      store.register_worker({.id = "lonely", .host = "h", .pid = 1, .concurrency = 1});
      return;
    case Setup::empty:
    case Setup::missing:
    case Setup::foreign:
      return;
  }
}

// The SQL that stores Setup::bad_version's or bad_values' invalid values ("" for another setup).
// `table` gives a table's SQL name; `bad_time`: a time errand cannot represent on this store.
std::string corruption_sql(Setup setup, const std::function<std::string(std::string_view)>& table,
                           const std::string& bad_time) {
  if (setup == Setup::bad_version) {
    return "UPDATE " + table("meta") + " SET value = '-2' WHERE key = 'schema_version'";
  }
  if (setup != Setup::bad_values) return "";
  return "UPDATE " + table("jobs") + " SET run_at = " + bad_time +
         " WHERE id = (SELECT min(id) FROM " + table("jobs") + "); UPDATE " +
         table("finished_jobs") + " SET created_at = " + bad_time + "; UPDATE " + table("workers") +
         " SET pid = 0";
}

// Rows as sorted "a|b|NULL" lines.
std::vector<std::string> sorted_lines(const std::vector<Row>& rows) {
  std::vector<std::string> lines;
  for (const Row& row : rows) {
    std::string line;
    for (const auto& cell : row)
      line += (cell ? "'" + *cell + "'" : std::string("NULL")) + "|";
    lines.push_back(std::move(line));
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines)
    out += line + "\n";
  return out;
}

// A database prepared for one row.
class Prepared {
 public:
  virtual ~Prepared() = default;
  virtual std::string url() const = 0;
  // Every row of every table (and what else tells a change), as text.
  virtual std::string snapshot() = 0;
  virtual CliRunOptions run_options() const = 0;
  std::map<std::string, std::string> vars;
};

// Every row of every table of a SQLite file, read as immutable (creating and locking nothing).
std::string sqlite_rows(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return "(no database file)\n";
  sqlite3* db = nullptr;
  const std::string uri = "file:" + path.string() + "?immutable=1";
  if (sqlite3_open_v2(uri.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) !=
      SQLITE_OK) {
    const std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return "(cannot open: " + message + ")\n";
  }
  const auto query = [&](const std::string& sql) {
    std::vector<Row> rows;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      rows.push_back({std::string("(error: ") + sqlite3_errmsg(db) + ")"});
      return rows;
    }
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      Row row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
        row.push_back(text ? std::optional<std::string>(text) : std::nullopt);
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    return rows;
  };
  const auto schema = query("SELECT type, name, sql FROM sqlite_master");
  std::string out = joined(sorted_lines(schema));
  for (const Row& object : schema) {
    if (object.at(0) != "table") continue;
    out += "table " + object.at(1).value_or("") + ":\n";
    out += joined(sorted_lines(query("SELECT * FROM \"" + object.at(1).value_or("") + "\"")));
  }
  sqlite3_close(db);
  return out;
}

class SqlitePrepared final : public Prepared {
 public:
  explicit SqlitePrepared(Setup setup) : setup_(setup) {
    if (setup == Setup::missing) {
      path_ = dir_.file("missing.db");
      return;
    }
    if (setup == Setup::foreign) {
      SqliteDb db(path_, 5000ms, /*create=*/true);
      db.exec(
          "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); "
          "INSERT INTO notes (text) VALUES ('keep me')");
      return;
    }
    {
      auto store = errand::open_sqlite(path_);
      fill(*store, setup, vars);
    }  // closed: SQLite folds the WAL into the file and removes the -wal and -shm files
    if (const std::string sql = corruption_sql(
            setup, [](std::string_view t) { return "errand_" + std::string(t); }, "'abc'");
        !sql.empty()) {
      SqliteDb(path_).exec(sql);
    }
    if (setup == Setup::old_schema) {
      SqliteDb db(path_);
      db.exec(
          "DROP TABLE errand_workers; "
          "UPDATE errand_meta SET value = '1' WHERE key = 'schema_version'");
    }
    if (setup == Setup::read_only_live) {
      // A connection of the test's own stays open with one more ready job in its WAL.
      live_ = errand::open_sqlite(path_);
      errand::enqueue(*live_, RecordJob{.tag = 5});
    }
    if (setup == Setup::read_only || setup == Setup::read_only_live) make_read_only();
  }

  ~SqlitePrepared() override {
    // Writable again, so TempDir can remove it.
    ::chmod(dir_.path().c_str(), 0700);
    ::chmod(path_.c_str(), 0600);
  }

  std::string url() const override { return "sqlite:" + path_.string(); }

  std::string snapshot() override {
    std::string out = "files:";
    std::set<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path()))
      names.insert(entry.path().filename().string());
    for (const auto& name : names)
      out += " " + name;
    return out + "\n" + sqlite_rows(path_);
  }

  CliRunOptions run_options() const override {
    CliRunOptions options;
    options.cwd = dir_.path();
    if (read_only_ && is_root()) {
      options.uid = kNobody;
      options.gid = kNogroup;
    }
    return options;
  }

 private:
  // As root, the binary runs as nobody, for whom the root-owned file (0644) and directory (0755)
  // are read-only; as another user, the write bits go.
  void make_read_only() {
    read_only_ = true;
    if (is_root()) {
      ::chmod(dir_.path().c_str(), 0755);
      ::chmod(path_.c_str(), 0644);
      for (const char* suffix : {"-wal", "-shm"})
        ::chmod((path_.string() + suffix).c_str(), 0644);
    } else {
      ::chmod(path_.c_str(), 0444);
      ::chmod(dir_.path().c_str(), 0555);
    }
  }

  Setup setup_;
  TempDir dir_;
  std::filesystem::path path_ = dir_.file("errand.db");
  std::shared_ptr<errand::Store> live_;
  bool read_only_ = false;
};

class PostgresPrepared final : public Prepared {
 public:
  PostgresPrepared(const std::string& server, Setup setup) : storage_(server) {
    url_ = storage_.url();
    if (setup != Setup::missing) {
      auto store = storage_.open(nullptr);
      fill(*store, setup, vars);
    }
    const std::string sql = corruption_sql(
        setup, [&](std::string_view t) { return storage_.table(t); }, "'infinity'");
    if (!sql.empty()) storage_.rows(sql);
    if (setup == Setup::read_only) {
      url_ = with_conninfo_parameter(url_, "options", "-c default_transaction_read_only=on");
    }
  }

  std::string url() const override { return url_; }

  std::string snapshot() override {
    const std::string schema = "'" + storage_.schema() + "'";  // errand_t_<digits>_<hex>
    std::string out =
        "schemas: " +
        storage_.text("SELECT count(*) FROM pg_namespace WHERE nspname = " + schema).value_or("?") +
        "\n";
    for (const Row& table :
         storage_.rows("SELECT tablename FROM pg_tables WHERE schemaname = " + schema)) {
      const std::string name = table.at(0).value_or("");
      out += "table " + name + ":\n";
      out += joined(sorted_lines(storage_.rows(
          "SELECT * FROM " + quote_identifier(storage_.schema()) + "." + quote_identifier(name))));
    }
    return out;
  }

  CliRunOptions run_options() const override { return {}; }

 private:
  PostgresStorage storage_;
  std::string url_;
};

std::string substituted(std::string text, const std::map<std::string, std::string>& vars) {
  for (const auto& [key, value] : vars) {
    for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
      text.replace(at, key.size(), value);
  }
  return text;
}

// `url` (postgres://USER@...) with kRowPassword, percent-encoded, after the user name.
std::string with_password(const std::string& url) {
  const auto at = url.find('@');
  if (!url.starts_with("postgres") || at == std::string::npos) return url;
  return url.substr(0, at) + ":" + percent_encoded(kRowPassword) + url.substr(at);
}

bool runs_on(const CliRow& row, const std::string& store) {
  const bool sqlite_only = row.stores == Stores::sqlite || row.setup == Setup::read_only_live ||
                           row.setup == Setup::old_schema || row.setup == Setup::foreign;
  if (store == "sqlite") return row.stores != Stores::postgres;
  return !sqlite_only;
}

}  // namespace

std::vector<CliRow> cli_rows_for(const std::string& store) {
  std::vector<CliRow> rows;
  std::set<std::string> names;
  for (CliRow& row : cli_rows()) {
    if (!names.insert(row.name).second) {
      throw std::logic_error("cli table: two rows are named " + row.name);
    }
    if (runs_on(row, store)) rows.push_back(std::move(row));
  }
  return rows;
}

void PrintTo(const CliCase& c, std::ostream* os) {
  *os << c.store << "/" << c.row.name;
}

TEST_P(CliTable, Row) {
  const CliCase& c = GetParam();
  const CliRow& row = c.row;
  std::unique_ptr<Prepared> db;
  if (c.store == "sqlite") {
    db = std::make_unique<SqlitePrepared>(row.setup);
  } else {
    const auto server = postgres_url_or_skip();
    if (!server) return;
    db = std::make_unique<PostgresPrepared>(*server, row.setup);
  }
  auto vars = db->vars;
  vars["{db}"] = db->url();
  // {db_password}: {db} with kRowPassword in it (trust authentication takes any password);
  // {silent}: a server that never answers (classes 1 and 4).
  vars["{db_password}"] = with_password(db->url());
  const SilentServer silent;
  vars["{silent}"] = "postgres://u:" + percent_encoded(kRowPassword) +
                     "@127.0.0.1:" + std::to_string(silent.port()) + "/db?connect_timeout=1";
  std::vector<std::string> args;
  std::string shown_args = "errand";
  for (const auto& arg : row.args) {
    args.push_back(substituted(arg, vars));
    shown_args += " '" + args.back() + "'";
  }
  TempDir scratch;
  const std::string before = db->snapshot();
  const CliResult result = run_cli(args, scratch.path(), db->run_options());
  const std::string after = db->snapshot();
  const std::string output = result.out + result.err;
  SCOPED_TRACE(shown_args + "\n" + result.how + "\nstdout:\n" + result.out + "stderr:\n" +
               result.err);

  EXPECT_EQ(result.exit_code, row.exit_code);
  for (const auto& part : row.says) {
    const std::string expected = substituted(part, vars);
    EXPECT_NE(output.find(expected), std::string::npos) << "should say: " << expected;
  }
  std::vector<std::string> never = row.never_says;
  never.insert(never.end(), kNeverAnywhere.begin(), kNeverAnywhere.end());
  for (const auto& part : never) {
    const std::string unexpected = substituted(part, vars);
    EXPECT_EQ(output.find(unexpected), std::string::npos) << "should not say: " << unexpected;
  }
  if (row.db == Db::unchanged) {
    EXPECT_EQ(after, before) << "the database changed";
  } else if (row.db == Db::changed) {
    EXPECT_NE(after, before) << "the database did not change";
  }
}

std::vector<CliCase> cli_cases(const std::string& store) {
  std::vector<CliCase> cases;
  for (CliRow& row : cli_rows_for(store))
    cases.push_back({store, std::move(row)});
  return cases;
}

std::string cli_case_name(const ::testing::TestParamInfo<CliCase>& info) {
  return info.param.row.name;
}

}  // namespace errand_test
