#include "bench_scratch.hpp"

#include "core/url.hpp"
#include "postgres/admin.hpp"
#include "postgres/pq.hpp"

#include <fmt/format.h>
#include <errand/admin.hpp>
#include <errand/open.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>

namespace errand::cli {

namespace {

namespace fs = std::filesystem;

// Every phase that creates a store (bench.cpp).
constexpr std::array<std::string_view, 4> kPhases{"single", "drain", "latency", "listen"};
constexpr std::size_t kTagDigits = 16;

std::string random_tag() {
  std::random_device rd;
  const std::uint64_t value = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  return fmt::format("{:016x}", value);
}

bool is_tag(std::string_view s) {
  return s.size() == kTagDigits &&
         s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// The advisory lock of a tag: pg_try_advisory_xact_lock($1::int4, $2::int4) with the tag's two
// 32-bit halves (the two-key form, a key space apart from errand's one-key migration locks).
pg::Params lock_keys(std::string_view tag) {
  std::uint64_t value = 0;
  std::from_chars(tag.data(), tag.data() + tag.size(), value, 16);
  pg::Params params;
  params.add(static_cast<std::int64_t>(static_cast<std::int32_t>(value >> 32)))
      .add(static_cast<std::int64_t>(static_cast<std::int32_t>(value & 0xffffffffu)));
  return params;
}
constexpr std::string_view kTryLock = "SELECT pg_try_advisory_xact_lock($1::int4, $2::int4)";

// The tag of bench_<tag>_<phase> (a run that did not keep its stores); empty for anything else.
std::string tag_of_schema(std::string_view name) {
  constexpr std::string_view prefix = "bench_";
  if (!name.starts_with(prefix) || name.size() < prefix.size() + kTagDigits + 2) return {};
  const std::string_view tag = name.substr(prefix.size(), kTagDigits);
  const std::string_view rest = name.substr(prefix.size() + kTagDigits);
  if (!is_tag(tag) || rest[0] != '_') return {};
  for (const auto phase : kPhases) {
    if (rest.substr(1) == phase) return std::string(tag);
  }
  return {};
}

bool same_file(int fd, const fs::path& path) {
  struct stat open_file {};
  struct stat named {};
  return ::fstat(fd, &open_file) == 0 && ::lstat(path.c_str(), &named) == 0 &&
         open_file.st_dev == named.st_dev && open_file.st_ino == named.st_ino;
}

}  // namespace

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names)
    out += (out.empty() ? "" : ", ") + name;
  return out;
}

// PostgreSQL: the open transaction holding this run's advisory lock.
struct Scratch::Owner {
  explicit Owner(const std::string& conninfo) : connection(conninfo), transaction(connection) {}
  pg::Connection connection;
  pg::Transaction transaction;
};

Scratch::Scratch(const std::string& base_url, bool keep)
    : base_url_(base_url), tag_(random_tag()), keep_(keep) {
  const detail::StoreUrl parsed = detail::parse_store_url(base_url);
  if (parsed.kind == detail::StoreUrl::Kind::sqlite) {
    kind_ = "sqlite";
    const fs::path base(parsed.sqlite_path);
    directory_ = base.parent_path().empty() ? "." : base.parent_path().string();
    stem_ = base.stem().string();
    extension_ = base.extension().empty() ? ".db" : base.extension().string();
    if (stem_.empty() || stem_ == "." || stem_ == "..") {
      throw std::runtime_error(fmt::format(
          "bench: --db sqlite:{} names no file; give a file name beside which the benchmark's "
          "files go, e.g. sqlite:errand-bench.db",
          parsed.sqlite_path));
    }
  } else {
    kind_ = "postgres";
    conninfo_ = parsed.conninfo;
  }
  if (!keep_) acquire_lock();
  remove_leftovers();
}

Scratch::~Scratch() {
  try {
    const Outcome outcome = finish();
    if (outcome.kept && !entries_.empty()) fmt::print(stderr, "bench: kept {}\n", where());
    for (const auto& problem : outcome.problems)
      fmt::print(stderr, "bench: not removed: {}\n", problem);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench: clean-up failed: {}\n", e.what());
  }
}

std::string Scratch::store_name(std::string_view phase) const {
  const std::string_view keep = keep_ ? (kind_ == "sqlite" ? "keep-" : "keep_") : "";
  if (kind_ == "postgres") return fmt::format("bench_{}{}_{}", keep, tag_, phase);
  return fmt::format("{}-{}{}-{}{}", stem_, keep, tag_, phase, extension_);
}

std::string Scratch::where() const {
  if (kind_ == "postgres") return fmt::format("schemas {}", store_name("*"));
  return (fs::path(directory_) / store_name("*")).string();
}

void Scratch::acquire_lock() {
  if (kind_ == "postgres") {
    owner_ = std::make_unique<Owner>(conninfo_);
    if (owner_->connection.exec(kTryLock, lock_keys(tag_)).text(0, 0) != "t") {
      throw std::runtime_error("bench: another run holds this run's random tag; run it again");
    }
    // Idle in this transaction for the whole run. It must hold no snapshot, or VACUUM could not
    // remove the drain's dead rows: the lock's statement (extended protocol) left its portal and
    // snapshot open until the next query, and this simple-protocol one releases them.
    owner_->connection.exec("SET LOCAL idle_in_transaction_session_timeout = 0");
    return;
  }
  const fs::path path = fs::path(directory_) / fmt::format("{}-{}{}.lock", stem_, tag_, extension_);
  // Not close-on-exec: the worker processes inherit the lock (fork+exec shares the open file
  // description, which the flock belongs to).
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
  if (lock_fd_ < 0) {
    throw std::runtime_error(
        fmt::format("bench: cannot create the lock file {}: {}", path.string(), strerror(errno)));
  }
  // Another run's leftover removal may have taken and removed the new file before the flock.
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0 || !same_file(lock_fd_, path)) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw std::runtime_error(fmt::format(
        "bench: another errand bench took the new lock file {}; run it again", path.string()));
  }
}

void Scratch::release_lock(bool remove_lock_file) {
  owner_.reset();  // PostgreSQL: rolls back the owner's transaction, releasing the lock
  if (lock_fd_ < 0) return;
  if (remove_lock_file) {
    ::unlink((fs::path(directory_) / fmt::format("{}-{}{}.lock", stem_, tag_, extension_)).c_str());
  }
  ::close(lock_fd_);
  lock_fd_ = -1;
}

void Scratch::remove_leftovers() {
  std::vector<std::string> removed;
  std::vector<std::string> problems;
  try {
    if (kind_ == "postgres") {
      pg::Connection c(conninfo_);
      const pg::Result schemas = c.exec(
          "SELECT nspname FROM pg_catalog.pg_namespace WHERE left(nspname, 6) = 'bench_' "
          "ORDER BY 1");
      for (int row = 0; row < schemas.rows(); ++row) {
        const std::string name(schemas.text(row, 0));
        const std::string tag = tag_of_schema(name);
        if (tag.empty() || tag == tag_) continue;
        try {
          pg::Transaction transaction(c);
          if (c.exec(kTryLock, lock_keys(tag)).text(0, 0) != "t") continue;  // its run is alive
          if (pg::drop_errand_schema(c, name, /*allow_empty=*/true)) removed.push_back(name);
          transaction.commit();
        } catch (const std::exception& e) {
          problems.push_back(e.what());
        }
      }
    } else {
      const std::string prefix = stem_ + "-";
      const std::string suffix = extension_ + ".lock";
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(directory_, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.size() != prefix.size() + kTagDigits + suffix.size() ||
            !name.starts_with(prefix) || !name.ends_with(suffix)) {
          continue;
        }
        const std::string tag = name.substr(prefix.size(), kTagDigits);
        if (!is_tag(tag) || tag == tag_) continue;
        const int fd = ::open(entry.path().c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) continue;
        // Locked: its run (or one of its worker processes) is alive. Replaced: removed meanwhile.
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || !same_file(fd, entry.path())) {
          ::close(fd);
          continue;
        }
        bool all_gone = true;
        for (const auto phase : kPhases) {
          const fs::path store =
              fs::path(directory_) / fmt::format("{}-{}-{}{}", stem_, tag, phase, extension_);
          try {
            if (remove_store("sqlite:" + store.string(), {.allow_empty = true})) {
              removed.push_back(store.string());
            }
          } catch (const std::exception& e) {
            problems.push_back(e.what());
            all_gone = false;
          }
        }
        // The lock file goes last, so an interrupted removal is finished by a later run.
        if (all_gone && ::unlink(entry.path().c_str()) == 0)
          removed.push_back(entry.path().string());
        ::close(fd);
      }
    }
  } catch (const std::exception& e) {
    problems.push_back(
        fmt::format("could not look for the leftovers of earlier runs: {}", e.what()));
  }
  if (!removed.empty()) {
    fmt::print(stderr, "bench: removed the leftovers of interrupted runs: {}\n",
               join_names(removed));
  }
  for (const auto& problem : problems)
    fmt::print(stderr, "bench: left alone: {}\n", problem);
}

Scratch::Created Scratch::create(std::string_view phase) {
  std::lock_guard lock(mutex_);
  if (finished_) throw std::runtime_error("bench: stopping, no new store is created");
  const std::string name = store_name(phase);
  std::string url;
  std::string shown;
  if (kind_ == "postgres") {
    const char separator = detail::url_query_start(base_url_) == std::string::npos ? '?' : '&';
    url = fmt::format("{}{}schema={}", base_url_, separator, name);
    shown = name;
  } else {
    const fs::path path = fs::path(directory_) / name;
    std::error_code ec;
    if (fs::exists(fs::symlink_status(path, ec))) {
      throw std::runtime_error(fmt::format("bench: {} exists already", path.string()));
    }
    url = "sqlite:" + path.string();
    shown = path.string();
  }
  {
    // Listed before it exists, so that a half-created store is removed too.
    std::lock_guard entries_lock(entries_mutex_);
    entries_.push_back(Entry{shown, url});
  }
  return Created{url, open_store(url)};
}

Scratch::Outcome Scratch::finish() {
  std::lock_guard lock(mutex_);
  if (finished_) return outcome_;
  finished_ = true;
  if (keep_) {
    outcome_.kept = true;
    return outcome_;
  }
  std::vector<Entry> entries;
  {
    std::lock_guard entries_lock(entries_mutex_);
    entries = entries_;
  }
  for (const auto& entry : entries) {
    try {
      if (remove_store(entry.url, {.allow_empty = true})) outcome_.removed.push_back(entry.name);
      std::lock_guard entries_lock(entries_mutex_);
      std::erase_if(entries_, [&](const Entry& e) { return e.name == entry.name; });
    } catch (const std::exception& e) {
      outcome_.problems.push_back(e.what());
    }
  }
  // With a store left, the lock file stays: a later run retries once this one is gone.
  release_lock(outcome_.problems.empty());
  return outcome_;
}

std::vector<std::string> Scratch::remaining() const {
  std::lock_guard lock(entries_mutex_);
  std::vector<std::string> names;
  for (const auto& entry : entries_)
    names.push_back(entry.name);
  return names;
}

}  // namespace errand::cli
