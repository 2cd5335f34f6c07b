// SQLite on a read-only or a full disk: each is a clear StoreError naming the file and the cause,
// and the database loses nothing.
//
// The store under test runs in a child process (errand_test_worker probe / fill-settle), which
// can do what the test process must not: drop root's privileges (root ignores file modes, and CI
// runs as root), or lower its own file size limit (RLIMIT_FSIZE: a write past it fails with
// EFBIG, as on a full disk; unprivileged, so it works everywhere). Every check is made
// afterwards, on the real file, by this process. Nothing depends on timing: waits have generous
// deadlines only.
#include "support/mark_job.hpp"
#include "support/process.hpp"
#include "support/sqlite_db.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"
#include "support/wait.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifndef ERRAND_TEST_WORKER
#error "ERRAND_TEST_WORKER must be the path of the errand_test_worker program"
#endif

using errand_test::ChildProcess;
using errand_test::kDeadline;
using errand_test::read_file;
using errand_test::SqliteDb;
using errand_test::TempDir;

namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

bool is_root() {
  return ::geteuid() == 0;
}

using errand_test::contains;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

// What an `errand_test_worker probe` run reported: its exit status and one line per step.
struct ProbeResult {
  int exit_code = -1;
  std::vector<std::string> lines;

  // The line of `step` ("" when the probe stopped before it).
  std::string line(std::string_view step) const {
    for (const auto& l : lines)
      if (l.starts_with(std::string(step) + " ")) return l;
    return {};
  }
  bool ok(std::string_view step) const { return line(step).starts_with(std::string(step) + " ok"); }
  std::string dump() const {
    std::string out = "probe exited with " + std::to_string(exit_code) + ":\n";
    for (const auto& l : lines)
      out += "  " + l + "\n";
    return out;
  }
};

// Runs `errand_test_worker probe RESULT URL ARGS...` to its end. With `unprivileged`, as root,
// the probe runs as nobody (root would ignore the file modes under test).
ProbeResult probe(const TempDir& results, const std::filesystem::path& db,
                  std::vector<std::string> args, bool unprivileged = false) {
  static int serial = 0;
  const auto result = results.file("probe-" + std::to_string(++serial) + ".txt");
  std::vector<std::string> all{"probe", result.string(), "sqlite:" + db.string()};
  if (unprivileged && is_root())
    all.push_back("as=" + std::to_string(kNobody) + ":" + std::to_string(kNogroup));
  all.insert(all.end(), args.begin(), args.end());
  ChildProcess child(ERRAND_TEST_WORKER, all);
  ProbeResult out;
  const auto status = child.wait(kDeadline);
  if (!status) {
    ADD_FAILURE() << "the probe did not end within " << kDeadline.count() << " s";
    return out;
  }
  if (WIFEXITED(*status)) out.exit_code = WEXITSTATUS(*status);
  out.lines = lines_of(read_file(result));
  EXPECT_NE(out.exit_code, 2) << "the probe could not set itself up (see its stderr); "
                              << ChildProcess::describe(*status);
  return out;
}

void set_mode(const std::filesystem::path& path, mode_t mode) {
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path << ": " << std::strerror(errno);
}

void set_owner(const std::filesystem::path& path, uid_t uid, gid_t gid) {
  ASSERT_EQ(::chown(path.c_str(), uid, gid), 0) << path << ": " << std::strerror(errno);
}

// Which of the database file and its directory an unprivileged probe may write. As root the
// probe runs as nobody, so access is given by ownership (modes stay 0644 / 0755, readable by
// everyone); as another user, by the write bits. Gives both back on destruction.
class Access {
 public:
  Access(const TempDir& dir, const std::filesystem::path& db, bool file_writable, bool dir_writable)
      : dir_(dir.path()), db_(db) {
    if (is_root()) {
      // nobody must be able to reach the directory.
      for (auto p = dir_.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
        struct stat st {};
        if (::stat(p.c_str(), &st) == 0 && (st.st_mode & S_IXOTH) == 0) {
          ADD_FAILURE() << p << " cannot be crossed by other users, so the probe (running as "
                        << "nobody) cannot reach " << dir_ << "; point TMPDIR elsewhere";
        }
      }
      set_mode(dir_, 0755);
      set_mode(db, 0644);
      set_owner(dir_, dir_writable ? kNobody : 0, dir_writable ? kNogroup : 0);
      set_owner(db, file_writable ? kNobody : 0, file_writable ? kNogroup : 0);
    } else {
      set_mode(db, file_writable ? 0644 : 0444);
      set_mode(dir_, dir_writable ? 0755 : 0555);
    }
  }
  ~Access() {
    ::chmod(dir_.c_str(), 0755);
    ::chmod(db_.c_str(), 0644);
    if (is_root() && (::chown(dir_.c_str(), 0, 0) != 0 || ::chown(db_.c_str(), 0, 0) != 0)) {
      ADD_FAILURE() << "cannot give " << dir_ << " back to root";
    }
  }
  Access(const Access&) = delete;
  Access& operator=(const Access&) = delete;

 private:
  std::filesystem::path dir_;
  std::filesystem::path db_;
};

// A file system mounted at `at` (created) for the life of the object; unmounted lazily. Needs
// the right to mount (root, CAP_SYS_ADMIN): mounted() says whether it worked, error() why not.
class Mount {
 public:
  Mount(const char* source, const std::filesystem::path& at, const char* type, unsigned long flags,
        const char* options)
      : at_(at) {
    std::filesystem::create_directory(at_);
    if (::mount(source, at_.c_str(), type, flags, options) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~Mount() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  // Makes a bind mount read-only; false (error() says why) when that fails.
  bool make_read_only() {
    if (::mount(nullptr, at_.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) == 0) {
      return true;
    }
    error_ = std::strerror(errno);
    return false;
  }

 private:
  std::filesystem::path at_;
  bool mounted_ = false;
  std::string error_;
};

// The numbers (MarkJob::n) of the jobs in the queue, and of the dead ones.
std::multiset<std::int64_t> queued_numbers(const std::filesystem::path& db) {
  SqliteDb raw(db);
  std::multiset<std::int64_t> numbers;
  for (const auto& row : raw.rows("SELECT json_extract(payload, '$.n') FROM errand_jobs"))
    numbers.insert(std::stoll(row.at(0).value_or("-1")));
  return numbers;
}

std::multiset<std::int64_t> range(std::int64_t first, std::int64_t last) {
  std::multiset<std::int64_t> numbers;
  for (auto n = first; n <= last; ++n)
    numbers.insert(n);
  return numbers;
}

void expect_intact(const std::filesystem::path& db) {
  SqliteDb raw(db);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok") << db;
  EXPECT_EQ(raw.integer("SELECT count(*) FROM errand_finished_jobs"), 0);
}

// A fresh errand database holding MarkJob{first} ... MarkJob{last}; the store is closed again.
void create_db(const std::filesystem::path& db, std::int64_t first, std::int64_t last) {
  auto store = errand::open_sqlite(db);
  std::vector<errand_test::MarkJob> jobs;
  for (auto n = first; n <= last; ++n)
    jobs.push_back({n});
  errand::enqueue_all(*store, jobs, {.context = "before"});
}

// Enqueues MarkJob{extra} in this process (no limits, full rights) and drains the whole queue
// with a Worker: the file is still a working errand database. Returns the numbers that ran.
std::multiset<std::int64_t> enqueue_and_drain(const std::filesystem::path& db, std::int64_t extra) {
  auto store = errand::open_sqlite(db);
  errand::enqueue(*store, errand_test::MarkJob{extra}, "after");
  std::mutex mutex;
  std::multiset<std::int64_t> ran;
  errand_test::MarkState state;
  state.record = [&](std::int64_t n) {
    std::lock_guard lock(mutex);
    ran.insert(n);
  };
  errand::Registry<errand_test::MarkState> registry;
  registry.add<errand_test::MarkJob>();
  errand::WorkerOptions options;
  options.concurrency = 4;
  errand::Worker worker(store, registry, state, options);
  worker.run_until_idle();
  EXPECT_EQ(store->counts(std::chrono::hours{2}).ready, 0);
  return ran;
}

// --- read-only -----------------------------------------------------------------------------------

// Neither the file nor its directory may be written (the usual read-only disk or a file
// owned by someone else): opening it for work fails at once, naming the file and saying why,
// and the file is left byte for byte as it was.
TEST(SqliteDisk, ReadOnlyFileAndDirectoryIsAClearStoreError) {
  TempDir dir;
  TempDir results;
  const auto db = dir.file("ro.db");
  create_db(db, 1, 3);
  const std::string before = read_file(db);
  {
    Access access(dir, db, /*file_writable=*/false, /*dir_writable=*/false);
    const auto work = probe(results, db, {"open", "enqueue:100:1:10", "claim"}, true);
    EXPECT_EQ(work.exit_code, 1) << work.dump();
    const std::string opened = work.line("open");
    EXPECT_TRUE(opened.starts_with("open error StoreError: ")) << work.dump();
    EXPECT_TRUE(contains(opened, "'" + db.string() + "'")) << opened;
    EXPECT_TRUE(contains(opened, "read-only")) << opened;
    EXPECT_TRUE(contains(opened, "ro.db-wal")) << opened;

    // Inspection (OpenMode::read_only, as `errand status` opens) reads the jobs.
    const auto look = probe(results, db, {"open-read-only", "counts", "list"}, true);
    EXPECT_EQ(look.exit_code, 0) << look.dump();
    EXPECT_EQ(look.line("counts"), "counts ok ready=3 dead=0") << look.dump();
    EXPECT_EQ(look.line("list"), "list ok 3") << look.dump();
  }
  EXPECT_EQ(read_file(db), before) << "the read-only file was modified";
  expect_intact(db);
  EXPECT_EQ(queued_numbers(db), range(1, 3));
}

// The file may not be written but its directory may (SQLite can create the -wal and -shm
// files): the store opens and reads it, and the first write — an enqueue, a worker's claim —
// fails naming the file and saying it is read-only, writing nothing.
TEST(SqliteDisk, ReadOnlyFileInAWritableDirectoryReadsButRefusesWrites) {
  TempDir dir;
  TempDir results;
  const auto db = dir.file("ro.db");
  create_db(db, 1, 3);
  const std::string before = read_file(db);
  {
    Access access(dir, db, /*file_writable=*/false, /*dir_writable=*/true);
    const auto look = probe(results, db, {"open", "counts", "list"}, true);
    EXPECT_EQ(look.exit_code, 0) << look.dump();
    EXPECT_EQ(look.line("counts"), "counts ok ready=3 dead=0") << look.dump();
    EXPECT_EQ(look.line("list"), "list ok 3") << look.dump();

    const auto enqueue = probe(results, db, {"open", "enqueue:100:1:10"}, true);
    EXPECT_EQ(enqueue.exit_code, 1) << enqueue.dump();
    const std::string failed = enqueue.line("enqueue:100:1:10");
    EXPECT_TRUE(
        failed.starts_with("enqueue:100:1:10 error EnqueueError(storage): cannot enqueue "
                           "1 job into sqlite:" +
                           db.string()))
        << enqueue.dump();
    EXPECT_TRUE(contains(failed, "'" + db.string() + "'")) << failed;
    EXPECT_TRUE(contains(failed, "database file is read-only")) << failed;

    const auto claim = probe(results, db, {"open", "claim"}, true);
    EXPECT_EQ(claim.exit_code, 1) << claim.dump();
    EXPECT_TRUE(claim.line("claim").starts_with("claim error StoreError: ")) << claim.dump();
    EXPECT_TRUE(contains(claim.line("claim"), "database file is read-only")) << claim.dump();
  }
  EXPECT_EQ(read_file(db), before) << "the read-only file was modified";
  expect_intact(db);
  EXPECT_EQ(queued_numbers(db), range(1, 3));
  SqliteDb raw(db);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM errand_jobs WHERE locked_by IS NOT NULL"), 0);
}

// The file may be written but its directory may not: SQLite cannot create the -wal and -shm
// files a WAL database needs, even to read. Opening fails, naming the directory and the files.
TEST(SqliteDisk, ReadOnlyDirectoryIsAClearStoreError) {
  TempDir dir;
  TempDir results;
  const auto db = dir.file("ro.db");
  create_db(db, 1, 3);
  ASSERT_FALSE(std::filesystem::exists(dir.file("ro.db-wal")));  // removed on the last close
  const std::string before = read_file(db);
  {
    Access access(dir, db, /*file_writable=*/true, /*dir_writable=*/false);
    const auto work = probe(results, db, {"open", "enqueue:100:1:10", "claim"}, true);
    EXPECT_EQ(work.exit_code, 1) << work.dump();
    const std::string opened = work.line("open");
    EXPECT_TRUE(opened.starts_with("open error StoreError: ")) << work.dump();
    EXPECT_TRUE(contains(opened, "'" + db.string() + "'")) << opened;
    EXPECT_TRUE(contains(opened, "directory '" + dir.path().string() + "' is read-only")) << opened;
    EXPECT_TRUE(contains(opened, "'ro.db-wal' and 'ro.db-shm'")) << opened;
  }
  EXPECT_EQ(read_file(db), before) << "the file was modified";
  expect_intact(db);
  EXPECT_EQ(queued_numbers(db), range(1, 3));
}

// A read-only file system (a read-only bind mount of the database's directory): even root
// cannot write there. Opening fails naming the file and the cause. Needs the right to mount.
TEST(SqliteDisk, ReadOnlyMountIsAClearStoreError) {
  TempDir dir;
  TempDir results;
  const auto source = dir.file("rw");
  std::filesystem::create_directory(source);
  create_db(source / "ro.db", 1, 3);
  const std::string before = read_file(source / "ro.db");
  {
    Mount view(source.c_str(), dir.file("ro"), nullptr, MS_BIND, nullptr);
    if (!view.mounted()) GTEST_SKIP() << "cannot bind-mount a directory (" << view.error() << ")";
    if (!view.make_read_only()) {
      GTEST_SKIP() << "cannot make a bind mount read-only (" << view.error() << ")";
    }
    const auto db = dir.file("ro") / "ro.db";
    const auto work = probe(results, db, {"open", "enqueue:100:1:10", "claim"});
    EXPECT_EQ(work.exit_code, 1) << work.dump();
    const std::string opened = work.line("open");
    EXPECT_TRUE(opened.starts_with("open error StoreError: ")) << work.dump();
    EXPECT_TRUE(contains(opened, "'" + db.string() + "'")) << opened;
    EXPECT_TRUE(contains(opened, "read-only")) << opened;
    EXPECT_TRUE(contains(opened, "Read-only file system")) << opened;
  }
  EXPECT_EQ(read_file(source / "ro.db"), before) << "the read-only file was modified";
  expect_intact(source / "ro.db");
  EXPECT_EQ(queued_numbers(source / "ro.db"), range(1, 3));
}

// --- full disk -------------------------------------------------------------------------------

// The checks after a failed big batch: the file is intact, holds exactly the jobs acknowledged
// before (1..acknowledged) and none of the batch, and still works.
void expect_batch_lost_nothing(const std::filesystem::path& db, std::int64_t acknowledged) {
  expect_intact(db);
  EXPECT_EQ(queued_numbers(db), range(1, acknowledged)) << "jobs of the failed batch are present";
  auto ran = enqueue_and_drain(db, 99);
  auto expected = range(1, acknowledged);
  expected.insert(99);
  EXPECT_EQ(ran, expected);
  EXPECT_TRUE(queued_numbers(db).empty());
}

// A file size limit makes the writes of a big batch fail (EFBIG) part way, as a full disk
// would (ENOSPC: see the tmpfs test below): a StoreError saying so, and all or nothing —
// jobs acknowledged before, even under the limit, are kept, and none of the batch is stored.
TEST(SqliteDisk, FullDiskFailsTheWholeBatchAndLosesNothing) {
  TempDir dir;
  TempDir results;
  const auto db = dir.file("full.db");
  create_db(db, 1, 10);
  const auto limit = std::filesystem::file_size(db) + 64 * 1024;
  // 5 small jobs fit under the limit; 2000 of 2 KiB (4 MiB) cannot.
  const auto run = probe(results, db,
                         {"fsize=" + std::to_string(limit), "open", "fsize", "enqueue:11:5:100",
                          "enqueue:1000:2000:2048"});
  EXPECT_EQ(run.exit_code, 1) << run.dump();
  EXPECT_EQ(run.line("enqueue:11:5:100"), "enqueue:11:5:100 ok 5") << run.dump();
  const std::string failed = run.line("enqueue:1000:2000:2048");
  EXPECT_TRUE(
      failed.starts_with("enqueue:1000:2000:2048 error EnqueueError(storage): cannot "
                         "enqueue 2000 jobs into sqlite:" +
                         db.string()))
      << run.dump();
  EXPECT_TRUE(contains(failed, "'" + db.string() + "'")) << failed;
  EXPECT_TRUE(contains(failed, "File too large")) << failed;
  EXPECT_TRUE(contains(failed, "as on a full disk")) << failed;

  expect_batch_lost_nothing(db, 15);
}

// A worker whose settle fails because the disk is full keeps the outcome and settles it once
// the disk has room again: the job ran once, and is recorded as done, not run again.
TEST(SqliteDisk, FullDiskWhileSettlingKeepsTheOutcome) {
  TempDir dir;
  const auto db = dir.file("settle.db");
  create_db(db, 1, 5);
  const auto marks = dir.file("marks.txt");
  const auto result = dir.file("result.txt");
  constexpr int kFailures = 3;
  ChildProcess child(ERRAND_TEST_WORKER, {"fill-settle", "sqlite:" + db.string(), marks.string(),
                                          result.string(), "5", std::to_string(kFailures)});
  errand_test::expect_clean_exit(child, kDeadline, "fill-settle worker");

  const auto report = lines_of(read_file(result));
  const auto value = [&](std::string_view key) {
    for (const auto& line : report)
      if (line.starts_with(std::string(key) + " ")) return line.substr(key.size() + 1);
    return std::string("(missing)");
  };
  const std::string all = read_file(result);
  EXPECT_EQ(value("storage_errors"), std::to_string(kFailures)) << all;
  EXPECT_EQ(value("errors_before_first_success"), std::to_string(kFailures))
      << "the first job's outcome was recorded before its settles failed\n"
      << all;
  EXPECT_EQ(value("succeeded"), "5") << all;
  EXPECT_EQ(value("started"), "5") << "a job ran more than once\n" << all;
  const std::string first_error = value("first_error");
  EXPECT_TRUE(contains(first_error, "storage error")) << all;
  EXPECT_TRUE(contains(first_error, "'" + db.string() + "'")) << all;
  EXPECT_TRUE(contains(first_error, "as on a full disk")) << all;

  std::multiset<std::int64_t> marked;
  for (const auto& line : lines_of(read_file(marks)))
    marked.insert(std::stoll(line));
  EXPECT_EQ(marked, range(1, 5)) << "every job runs exactly once";
  expect_intact(db);
  EXPECT_TRUE(queued_numbers(db).empty());
}

// A real full file system: a 1 MiB tmpfs, where writes fail with ENOSPC. Needs the right to
// mount (root, CAP_SYS_ADMIN); skipped otherwise.
TEST(SqliteDisk, FullTmpfsFailsTheWholeBatchAndLosesNothing) {
  TempDir dir;
  TempDir results;
  Mount fs("errand-test", dir.file("fs"), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs to fill (" << fs.error() << ")";
  const auto db = dir.file("fs") / "full.db";
  create_db(db, 1, 10);
  const auto run = probe(results, db, {"open", "enqueue:11:5:100", "enqueue:1000:2000:2048"});
  EXPECT_EQ(run.exit_code, 1) << run.dump();
  EXPECT_EQ(run.line("enqueue:11:5:100"), "enqueue:11:5:100 ok 5") << run.dump();
  const std::string failed = run.line("enqueue:1000:2000:2048");
  EXPECT_TRUE(
      failed.starts_with("enqueue:1000:2000:2048 error EnqueueError(storage): cannot "
                         "enqueue 2000 jobs into sqlite:" +
                         db.string()))
      << run.dump();
  EXPECT_TRUE(contains(failed, "'" + db.string() + "'")) << failed;
  EXPECT_TRUE(contains(failed, "disk holding the database is full")) << failed;

  expect_batch_lost_nothing(db, 15);
}

}  // namespace
