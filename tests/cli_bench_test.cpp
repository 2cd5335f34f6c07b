// errand bench on SQLite, interrupted: Ctrl-C / SIGTERM remove every scratch file, a kill -9's
// leftovers are removed by the next run, a running bench's files and anything that is not a bench
// store are left alone, and the worker processes get the URL through the environment.
#include "support/bench_process.hpp"
#include "support/jobs.hpp"
#include "support/sqlite_db.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"
#include "support/wait.hpp"

#include <errand/admin.hpp>
#include <errand/errand.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using errand_test::CliProcess;
using errand_test::lines_starting;
using errand_test::TempDir;
using namespace std::chrono_literals;

namespace {

using errand_test::contains;

// Workloads long enough that the bench is still in the phase when the test signals it (the test
// waits for the phase to begin, never for a time). The drain's 20,000 jobs, one at a time, take
// about 10 s in a Release build, longer under the sanitizers; more only lengthen the enqueue
// before it (200,000 took over 30 s under ThreadSanitizer).
const std::vector<std::string> kLongSingle = {"--enqueue-single", "10000000"};
const std::vector<std::string> kLongDrain = {"--skip",        "enqueue", "--jobs",     "20000",
                                             "--concurrency", "1",       "--prefetch", "0"};
const std::vector<std::string> kLongLatency = {"--skip", "enqueue,drain", "--latency-samples",
                                               "1000000"};
const std::vector<std::string> kShort = {
    "--jobs", "50", "--enqueue-single", "5", "--latency-samples", "3", "--json"};

class BenchCli : public ::testing::Test {
 protected:
  std::string db() const { return "--db=sqlite:" + (dir.path() / "b.db").string(); }

  std::unique_ptr<CliProcess> start(const std::vector<std::string>& workload) {
    std::vector<std::string> args = {"bench", db()};
    args.insert(args.end(), workload.begin(), workload.end());
    return std::make_unique<CliProcess>(ERRAND_CLI, args, logs.path());
  }

  errand_test::CliRun run(const std::vector<std::string>& workload) {
    std::vector<std::string> args = {"bench", db()};
    args.insert(args.end(), workload.begin(), workload.end());
    return errand_test::run_cli(ERRAND_CLI, args, logs.path());
  }

  // The names in the store directory.
  std::set<std::string> files() const {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir.path()))
      names.insert(entry.path().filename().string());
    return names;
  }

  // Waits until a file whose name ends with `suffix` exists (while `bench` runs); returns its
  // name.
  std::string wait_for_file(const CliProcess& bench, std::string_view suffix) const {
    std::string found;
    errand_test::eventually([&] {
      for (const auto& name : files()) {
        if (name.ends_with(suffix)) found = name;
      }
      return !found.empty() || errand_test::process_gone(bench.pid());
    });
    EXPECT_FALSE(found.empty()) << "no file *" << suffix << " appeared in " << dir.path() << "\n"
                                << bench.err();
    return found;
  }

  TempDir dir;   // the stores
  TempDir logs;  // the commands' stdout and stderr
};

struct Interrupt {
  const char* phase;
  int signo;
  int exit_code;
};

class BenchInterrupt : public BenchCli, public ::testing::WithParamInterface<Interrupt> {};

TEST_P(BenchInterrupt, RemovesEveryScratchFileSaysSoAndExitsWith128PlusTheSignal) {
  const Interrupt& p = GetParam();
  const std::string phase = p.phase;
  auto bench = start(phase == "single"  ? kLongSingle
                     : phase == "drain" ? kLongDrain
                                        : kLongLatency);
  const std::string store = wait_for_file(*bench, "-" + phase + ".db");
  pid_t worker = -1;
  if (phase == "drain") worker = errand_test::wait_for_bench_worker(*bench);
  ASSERT_TRUE(files().count(store)) << store;

  bench->signal(p.signo);
  errand_test::expect_exit_code(*bench, p.exit_code);
  const auto said = lines_starting(bench->err(), "bench: interrupted");
  ASSERT_EQ(said.size(), 1u) << bench->err();
  EXPECT_TRUE(contains(said[0], p.signo == SIGINT ? "SIGINT" : "SIGTERM")) << said[0];
  EXPECT_TRUE(contains(said[0], "removed ")) << said[0];
  EXPECT_TRUE(contains(said[0], store)) << said[0];
  EXPECT_TRUE(contains(said[0], phase == "drain" ? "stopped 1 worker" : "stopped 0 worker"))
      << said[0];
  EXPECT_TRUE(files().empty()) << "left behind: " << *files().begin();
  if (worker > 0) {
    EXPECT_TRUE(errand_test::process_gone(worker)) << "worker " << worker;
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryPhaseBothSignals, BenchInterrupt,
    ::testing::Values(Interrupt{"single", SIGINT, 130}, Interrupt{"single", SIGTERM, 143},
                      Interrupt{"drain", SIGINT, 130}, Interrupt{"drain", SIGTERM, 143},
                      Interrupt{"latency", SIGINT, 130}, Interrupt{"latency", SIGTERM, 143}),
    [](const auto& info) {
      return std::string(info.param.phase) + (info.param.signo == SIGINT ? "Sigint" : "Sigterm");
    });

TEST_F(BenchCli, TheNextRunRemovesTheLeftoversOfAKilledRunOnceItsWorkersAreGone) {
  auto killed = start(kLongDrain);
  const std::string store = wait_for_file(*killed, "-drain.db");
  const pid_t worker = errand_test::wait_for_bench_worker(*killed);
  killed->signal(SIGKILL);
  ASSERT_TRUE(killed->wait(errand_test::kDeadline));
  // Its worker sees its stdin close and ends; until then it holds the run's lock.
  ASSERT_TRUE(errand_test::eventually([&] { return errand_test::process_gone(worker); }));
  const auto leftovers = files();
  ASSERT_TRUE(leftovers.count(store));
  const auto lock = std::find_if(leftovers.begin(), leftovers.end(),
                                 [](const std::string& name) { return name.ends_with(".lock"); });
  ASSERT_NE(lock, leftovers.end()) << "no lock file";

  const auto next = run(kShort);
  ASSERT_TRUE(WIFEXITED(next.status) && WEXITSTATUS(next.status) == 0) << next.err;
  const auto said = lines_starting(next.err, "bench: removed the leftovers");
  ASSERT_EQ(said.size(), 1u) << next.err;
  EXPECT_TRUE(contains(said[0], store)) << said[0];
  EXPECT_TRUE(contains(said[0], *lock)) << said[0];
  EXPECT_TRUE(files().empty()) << "left behind: " << *files().begin();
}

TEST_F(BenchCli, ARunningBenchsFilesAreLeftAlone) {
  auto running = start(kLongDrain);
  const std::string store = wait_for_file(*running, "-drain.db");
  errand_test::wait_for_bench_worker(*running);
  const auto before = files();

  const auto other = run(kShort);
  ASSERT_TRUE(WIFEXITED(other.status) && WEXITSTATUS(other.status) == 0) << other.err;
  EXPECT_TRUE(lines_starting(other.err, "bench: removed").empty()) << other.err;
  EXPECT_EQ(files(),
            before);  // the other run's own files are gone, the running one's are all there

  running->signal(SIGINT);
  errand_test::expect_exit_code(*running, 130);
  EXPECT_TRUE(files().empty()) << "left behind: " << *files().begin();
}

TEST_F(BenchCli, NothingButAnEarlierRunsBenchStoresIsRemoved) {
  const std::string tag = "0123456789abcdef";
  // A dead run's lock file (nobody holds it) beside files that are not errand databases...
  errand_test::write_file(dir.file("b-" + tag + ".db.lock"), "");
  errand_test::write_file(dir.file("b-" + tag + "-drain.db"), "not a database");
  {
    errand_test::SqliteDb foreign(dir.file("b-" + tag + "-latency.db"), 5s, true);
    foreign.exec("CREATE TABLE mine (x); INSERT INTO mine VALUES (1)");
  }
  // ...and errand databases whose names are not an unkept bench run's.
  const std::vector<std::string> others = {
      "b-" + tag + "-other.db",     "b-keep-" + tag + "-drain.db", "b-0123-drain.db",
      "b-" + tag + "-drain.sqlite", "c-" + tag + "-drain.db",      "b-" + tag + "-drain.db.bak",
      "b-0123456789ABCDEF-drain.db"};
  for (const auto& name : others)
    errand::open_sqlite(dir.file(name));
  std::map<std::string, std::string> contents;
  for (const auto& name : files())
    contents[name] = errand_test::read_file(dir.file(name));

  const auto result = run(kShort);
  ASSERT_TRUE(WIFEXITED(result.status) && WEXITSTATUS(result.status) == 0) << result.err;
  // Both files of the dead run are refused (and so its lock file stays), each with a reason.
  const auto refused = lines_starting(result.err, "bench: left alone:");
  ASSERT_EQ(refused.size(), 2u) << result.err;
  EXPECT_TRUE(contains(refused[0] + refused[1], "is not a SQLite database")) << result.err;
  EXPECT_TRUE(contains(refused[0] + refused[1], "is not an errand database")) << result.err;
  EXPECT_TRUE(lines_starting(result.err, "bench: removed").empty()) << result.err;
  std::set<std::string> expected;
  for (const auto& [name, content] : contents) {
    expected.insert(name);
    EXPECT_EQ(errand_test::read_file(dir.file(name)), content) << name << " changed";
  }
  EXPECT_EQ(files(), expected);
}

TEST_F(BenchCli, KeptFilesStayWhenInterruptedAndNoOtherRunRemovesThem) {
  std::vector<std::string> workload = kLongDrain;
  workload.push_back("--keep");
  auto kept = start(workload);
  const std::string store = wait_for_file(*kept, "-drain.db");
  EXPECT_TRUE(store.starts_with("b-keep-")) << store;
  errand_test::wait_for_bench_worker(*kept);
  kept->signal(SIGINT);
  errand_test::expect_exit_code(*kept, 130);
  const auto said = lines_starting(kept->err(), "bench: interrupted by SIGINT");
  ASSERT_EQ(said.size(), 1u) << kept->err();
  EXPECT_TRUE(contains(said[0], "kept ")) << said[0];
  const auto left = files();
  EXPECT_TRUE(left.count(store));

  const auto other = run(kShort);
  ASSERT_TRUE(WIFEXITED(other.status) && WEXITSTATUS(other.status) == 0) << other.err;
  EXPECT_TRUE(lines_starting(other.err, "bench: removed").empty()) << other.err;
  EXPECT_EQ(files(), left);
}

TEST_F(BenchCli, WorkerProcessesGetTheDatabaseUrlInTheEnvironmentNotOnTheirCommandLine) {
  auto bench = start(kLongDrain);
  const std::string store = wait_for_file(*bench, "-drain.db");
  const pid_t worker = errand_test::wait_for_bench_worker(*bench);
  const std::string args = errand_test::cmdline(worker);
  const auto env = errand_test::environment(worker);
  bench->signal(SIGINT);
  errand_test::expect_exit_code(*bench, 130);

  EXPECT_FALSE(contains(args, "--db")) << args;
  EXPECT_FALSE(contains(args, dir.path().string())) << args;
  const std::string expected = "ERRAND_DB=sqlite:" + (dir.path() / store).string();
  EXPECT_EQ(std::count(env.begin(), env.end(), expected), 1) << "no " << expected;
}

TEST_F(BenchCli, DbDefaultsToTheErrandDbVariable) {
  std::vector<std::string> args = {"bench"};
  args.insert(args.end(), kShort.begin(), kShort.end());
  const auto result = errand_test::run_cli(ERRAND_CLI, args, logs.path(),
                                           {"ERRAND_DB=sqlite:" + (dir.path() / "b.db").string()});
  ASSERT_TRUE(WIFEXITED(result.status) && WEXITSTATUS(result.status) == 0) << result.err;
  EXPECT_TRUE(contains(result.out, "\"store\":\"sqlite\"")) << result.out;
  EXPECT_TRUE(contains(result.err, "drain:")) << result.err;
  EXPECT_TRUE(files().empty()) << "left behind: " << *files().begin();
}

// --- errand::remove_store on SQLite ---------------------------------------------------------

class RemoveSqliteStore : public ::testing::Test {
 protected:
  std::string url(const std::string& name) const { return "sqlite:" + dir.file(name).string(); }
  bool exists(const std::string& name) const { return fs::exists(dir.file(name)); }
  TempDir dir;
};

TEST_F(RemoveSqliteStore, RemovesAnErrandDatabaseWithItsWalAndShmFiles) {
  auto store = errand::open_sqlite(dir.file("s.db"));
  errand::enqueue(*store, errand_test::RecordJob{.tag = 1});
  ASSERT_TRUE(exists("s.db-wal"));
  EXPECT_TRUE(errand::remove_store(url("s.db")));
  store.reset();
  for (const char* name : {"s.db", "s.db-wal", "s.db-shm", "s.db-journal"})
    EXPECT_FALSE(exists(name)) << name;
  EXPECT_FALSE(errand::remove_store(url("s.db")));  // nothing left
}

TEST_F(RemoveSqliteStore, RemovesTheCompanionFilesOfADatabaseThatIsGone) {
  errand_test::write_file(dir.file("s.db-wal"), "stale");
  errand_test::write_file(dir.file("s.db-shm"), "stale");
  EXPECT_TRUE(errand::remove_store(url("s.db")));
  EXPECT_FALSE(exists("s.db-wal"));
  EXPECT_FALSE(exists("s.db-shm"));
}

TEST_F(RemoveSqliteStore, LeavesEverythingElseUntouchedAndSaysWhy) {
  errand_test::write_file(dir.file("text.db"), "not a database");
  errand_test::write_file(dir.file("empty.db"), "");
  {
    errand_test::SqliteDb foreign(dir.file("foreign.db"), 5s, true);
    foreign.exec("CREATE TABLE mine (x)");
  }
  {
    errand_test::SqliteDb bare(dir.file("bare.db"), 5s, true);
    bare.exec("PRAGMA user_version = 7");
  }
  {
    errand_test::SqliteDb newer(dir.file("newer.db"), 5s, true);
    newer.exec(
        "CREATE TABLE errand_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO errand_meta VALUES ('schema_version', '999')");
  }
  {
    errand_test::SqliteDb odd(dir.file("odd.db"), 5s, true);
    odd.exec(
        "CREATE TABLE errand_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO errand_meta VALUES ('schema_version', '-2')");
  }
  errand::open_sqlite(dir.file("real.db"));
  fs::create_symlink(dir.file("real.db"), dir.file("link.db"));
  fs::create_directory(dir.file("dir.db"));
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"text.db", "is not a SQLite database"},   {"empty.db", "is empty"},
      {"foreign.db", "no errand_meta table"},    {"bare.db", "holds no tables"},
      {"newer.db", "written by a newer errand"}, {"odd.db", "not a version number"},
      {"link.db", "is not a regular file"},      {"dir.db", "is not a regular file"}};
  std::map<std::string, std::string> before;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    if (entry.is_regular_file()) before[entry.path().filename()] = errand_test::read_file(entry);
  for (const auto& [name, why] : refused) {
    try {
      errand::remove_store(url(name));
      ADD_FAILURE() << name << " was removed";
    } catch (const errand::StoreError& e) {
      EXPECT_TRUE(contains(e.what(), why)) << name << ": " << e.what();
      EXPECT_TRUE(contains(e.what(), "untouched")) << name << ": " << e.what();
    }
  }
  std::map<std::string, std::string> after;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    if (entry.is_regular_file()) after[entry.path().filename()] = errand_test::read_file(entry);
  EXPECT_EQ(after, before);
  EXPECT_TRUE(fs::is_symlink(dir.file("link.db")));
  EXPECT_TRUE(fs::is_directory(dir.file("dir.db")));
  // allow_empty: an empty file, or a database without tables, is removed.
  EXPECT_TRUE(errand::remove_store(url("empty.db"), {.allow_empty = true}));
  EXPECT_TRUE(errand::remove_store(url("bare.db"), {.allow_empty = true}));
  EXPECT_FALSE(exists("empty.db"));
  EXPECT_FALSE(exists("bare.db"));
}

}  // namespace
