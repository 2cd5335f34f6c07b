// Store::list_jobs beyond state, type and queue (errand/store.hpp): priority and creation-time
// ranges, the three orders, and keyset pages that cover every job exactly once.
#include "support/conformance.hpp"

#include <errand/job_search.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <functional>
#include <set>
#include <tuple>

using errand::JobFilter;
using errand::JobId;
using errand::JobOrder;
using errand::JobState;
using errand::Outcome;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

errand::NewJob job(std::int32_t priority, errand::TimePoint run_at) {
  return errand::NewJob{.name = "L", .payload = "{}", .priority = priority, .run_at = run_at};
}

std::vector<JobId> ids_of(const std::vector<errand::JobInfo>& jobs) {
  std::vector<JobId> ids;
  for (const auto& j : jobs)
    ids.push_back(j.id);
  return ids;
}

// Every page of `filter` (page size `size`), each from the cursor of the one before.
std::vector<JobId> paged(errand::Store& store, JobFilter filter, std::size_t size) {
  std::vector<JobId> ids;
  filter.limit = size;
  for (int pages = 0; pages < 100; ++pages) {
    const auto page = store.list_jobs(filter);
    for (const auto& j : page)
      ids.push_back(j.id);
    if (page.size() < size) return ids;
    filter.after = errand::cursor_of(page.back(), filter);
  }
  ADD_FAILURE() << "more than 100 pages";
  return ids;
}

TEST_P(ListingConformance, PriorityAndCreationTimeRangesSelectExactlyTheirJobs) {
  const auto start = clock->now();
  std::vector<JobId> ids;  // created 10 s apart, priorities -2..2
  for (std::int32_t p = -2; p <= 2; ++p) {
    ids.push_back(store->enqueue(std::vector{job(p, start)})[0]);
    clock->advance(10s);
  }
  JobFilter f;
  f.order = JobOrder::oldest;
  f.min_priority = 0;
  EXPECT_EQ(ids_of(store->list_jobs(f)), (std::vector{ids[2], ids[3], ids[4]}));
  f.max_priority = 1;
  EXPECT_EQ(ids_of(store->list_jobs(f)), (std::vector{ids[2], ids[3]}));
  JobFilter t;
  t.order = JobOrder::oldest;
  t.created_from = start + 10s;    // inclusive
  t.created_before = start + 30s;  // exclusive
  EXPECT_EQ(ids_of(store->list_jobs(t)), (std::vector{ids[1], ids[2]}));
  t.min_priority = 2;
  EXPECT_TRUE(store->list_jobs(t).empty());
  JobFilter none;
  none.created_from = start + 1h;
  EXPECT_TRUE(store->list_jobs(none).empty());
}

TEST_P(ListingConformance, KeysetPagesCoverEveryJobOnceInEachOrder) {
  const auto now = clock->now();
  // Ties on priority and on run_at, so the id decides between them.
  for (int i = 0; i < 23; ++i)
    store->enqueue(std::vector{job(i % 3, now - std::chrono::seconds{i % 4})});
  for (const JobOrder order : {JobOrder::natural, JobOrder::newest, JobOrder::oldest}) {
    JobFilter f;
    f.order = order;
    f.limit = 1000;
    const auto whole = ids_of(store->list_jobs(f));
    ASSERT_EQ(whole.size(), 23u);
    for (const std::size_t size : {1u, 4u, 23u, 50u})
      EXPECT_EQ(paged(*store, f, size), whole)
          << "order " << static_cast<int>(order) << " size " << size;
  }
  JobFilter newest;
  newest.order = JobOrder::newest;
  newest.limit = 1000;
  auto ids = ids_of(store->list_jobs(newest));
  EXPECT_TRUE(std::is_sorted(ids.rbegin(), ids.rend()));
  // The natural order is the claim order: priority descending, then run_at, then id.
  JobFilter natural;
  natural.limit = 1000;
  const auto jobs = store->list_jobs(natural);
  for (std::size_t i = 1; i < jobs.size(); ++i) {
    const auto& a = jobs[i - 1];
    const auto& b = jobs[i];
    EXPECT_TRUE(a.priority > b.priority ||
                (a.priority == b.priority &&
                 (a.run_at < b.run_at || (a.run_at == b.run_at && a.id < b.id))))
        << a.id << " before " << b.id;
  }
}

// The claim order over every queue (list_jobs reads each queue's waiting jobs from the runnable
// index and the held ones apart, then merges them): the same as sorting every job, page by page.
TEST_P(ListingConformance, ClaimOrderOverEveryQueueMergesQueuesAndHeldJobsPageByPage) {
  const JobId held_a = held_by("w1");  // priority 0, due now: among the waiting ones' order
  const JobId held_b = held_by("w2");
  const auto now = clock->now();
  std::vector<errand::NewJob> jobs;
  for (int i = 0; i < 30; ++i) {
    errand::NewJob j = job((i * 7) % 5 - 2, now + std::chrono::seconds{(i * 11) % 9 - 4});
    j.queue = std::array{"alpha", "beta", "gamma"}[i % 3];
    if (i % 4 == 0) j.name = "M";
    jobs.push_back(j);
  }
  store->enqueue(jobs);
  JobFilter every;
  every.order = JobOrder::newest;  // read in id order, apart from the merge
  every.limit = 1000;
  std::vector<errand::JobInfo> all = store->list_jobs(every);
  ASSERT_EQ(all.size(), 32u);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return std::tuple(-a.priority, a.run_at, a.id) < std::tuple(-b.priority, b.run_at, b.id);
  });
  const auto expected = [&](const std::function<bool(const errand::JobInfo&)>& keep) {
    std::vector<JobId> ids;
    for (const auto& j : all)
      if (keep(j)) ids.push_back(j.id);
    return ids;
  };
  const std::vector<JobId> natural = expected([](const auto&) { return true; });
  ASSERT_NE(std::find(natural.begin(), natural.end(), held_a), natural.end());
  ASSERT_NE(std::find(natural.begin(), natural.end(), held_b), natural.end());
  JobFilter f;
  f.limit = 1000;
  EXPECT_EQ(ids_of(store->list_jobs(f)), natural);
  for (const std::size_t size : {1u, 4u, 7u, 32u})
    EXPECT_EQ(paged(*store, f, size), natural) << "size " << size;
  for (const JobState state : {JobState::ready, JobState::scheduled}) {
    JobFilter by_state = f;
    by_state.state = state;
    const auto want = expected([&](const auto& j) { return j.state == state && !j.locked_by; });
    ASSERT_FALSE(want.empty());
    EXPECT_EQ(paged(*store, by_state, 3), want) << errand::to_string(state);
  }
  JobFilter named = f;
  named.name = "M";
  named.queue = "beta";
  const auto want = expected([](const auto& j) { return j.name == "M" && j.queue == "beta"; });
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(paged(*store, named, 2), want);
  named.queue = "nowhere";
  EXPECT_TRUE(store->list_jobs(named).empty());
}

TEST_P(ListingConformance, APageGoesOnWhereTheLastEndedWhenJobsComeAndGo) {
  const auto now = clock->now();
  std::vector<JobId> ids;
  for (int i = 0; i < 6; ++i)
    ids.push_back(store->enqueue(std::vector{job(0, now)})[0]);
  JobFilter f;
  f.order = JobOrder::oldest;
  f.limit = 3;
  const auto first = store->list_jobs(f);
  ASSERT_EQ(ids_of(first), (std::vector{ids[0], ids[1], ids[2]}));
  // The first page's jobs end and new ones arrive: the next page neither skips nor repeats.
  auto claimed = store->claim("A", 3, kLockTimeout);
  std::vector<Outcome> done;
  for (const auto& c : claimed)
    done.push_back(Outcome{.id = c.id, .locked_at = c.locked_at, .kind = Outcome::Kind::completed});
  store->settle("A", done);
  const JobId late = store->enqueue(std::vector{job(0, now)})[0];
  f.after = errand::cursor_of(first.back(), f);
  EXPECT_EQ(ids_of(store->list_jobs(f)), (std::vector{ids[3], ids[4], ids[5]}));
  f.after = errand::cursor_of(store->list_jobs(f).back(), f);
  EXPECT_EQ(ids_of(store->list_jobs(f)), (std::vector{late}));
}

TEST_P(ListingConformance, FinishedJobsPageMostRecentlyFinishedFirst) {
  std::vector<JobId> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(store->enqueue(std::vector{job(0, clock->now())})[0]);
  // Dead-lettered one at a time, 1 s apart, in the order 3, 1, 4, 0, 2; two at the same time.
  for (const std::size_t at : {3u, 1u, 4u, 0u, 2u}) {
    auto claimed = store->claim("A", 5, kLockTimeout);
    std::vector<Outcome> dead, back;
    for (const auto& c : claimed) {
      (c.id == ids[at] ? dead : back)
          .push_back(Outcome{
              .id = c.id,
              .locked_at = c.locked_at,
              .kind = c.id == ids[at] ? Outcome::Kind::dead_letter : Outcome::Kind::released});
    }
    store->settle("A", dead);
    store->settle("A", back);
    if (at != 4) clock->advance(1s);  // 4 and 0 finish at the same time: the id decides
  }
  JobFilter f;
  f.state = JobState::discarded;
  f.limit = 100;
  const auto whole = ids_of(store->list_jobs(f));
  EXPECT_EQ(whole, (std::vector{ids[2], ids[4], ids[0], ids[1], ids[3]}));
  EXPECT_EQ(paged(*store, f, 2), whole);
  f.order = JobOrder::oldest;
  EXPECT_EQ(paged(*store, f, 2), (std::vector{ids[0], ids[1], ids[2], ids[3], ids[4]}));
}

TEST_P(ListingConformance, APayloadSearchReadsAtMostItsScanLimitAndGoesOnFromWhereItStopped) {
  std::vector<JobId> ids;
  for (int i = 0; i < 7; ++i) {
    const std::string payload = i == 1 ? "not json"
                                : i == 2
                                    ? "[1]"
                                    : fmt::format(R"({{"customer_id": {}}})", i % 3 == 0 ? 42 : i);
    ids.push_back(store->enqueue(std::vector{errand::NewJob{.name = "P", .payload = payload}})[0]);
  }
  // customer_id 42: jobs 0, 3 and 6; 1 and 2 are not JSON objects (they match nothing).
  errand::JobSearch search;
  search.filter.order = JobOrder::oldest;
  search.filter.limit = 10;
  search.payload = {{"customer_id", "42"}};
  auto page = errand::search_jobs(*store, search);
  EXPECT_EQ(ids_of(page.jobs), (std::vector{ids[0], ids[3], ids[6]}));
  EXPECT_EQ(page.scanned, 7u);
  EXPECT_FALSE(page.scan_limited);
  EXPECT_FALSE(page.next);

  search.scan_limit = 3;  // reads jobs 0..2, finds 0, stops
  page = errand::search_jobs(*store, search);
  EXPECT_EQ(ids_of(page.jobs), (std::vector{ids[0]}));
  EXPECT_TRUE(page.scan_limited);
  ASSERT_TRUE(page.next);
  EXPECT_EQ(page.next->id, ids[2]);
  search.filter.after = page.next;  // reads 3..5
  page = errand::search_jobs(*store, search);
  EXPECT_EQ(ids_of(page.jobs), (std::vector{ids[3]}));
  search.filter.after = page.next;  // reads 6, the end
  page = errand::search_jobs(*store, search);
  EXPECT_EQ(ids_of(page.jobs), (std::vector{ids[6]}));
  EXPECT_FALSE(page.scan_limited);
  EXPECT_FALSE(page.next);

  search.scan_limit = 0;
  EXPECT_THROW(errand::search_jobs(*store, search), errand::ConfigError);
  search.scan_limit = 10;
  search.payload = {{"", "1"}};
  EXPECT_THROW(errand::search_jobs(*store, search), errand::ConfigError);
}

// A payload search in claim order over every queue reads the queues apart and merges them (each
// queue in growing batches): the same jobs in the same order as the claim-order listing checked
// row by row, whole or in pages that stop at a scan limit and go on from there.
TEST_P(ListingConformance, APayloadSearchInClaimOrderOverEveryQueueFindsWhatTheListingHolds) {
  const JobId held = held_by("w1");  // {"tag": 1}: matches nothing below
  const auto now = clock->now();
  std::vector<errand::NewJob> jobs;
  for (int i = 0; i < 600; ++i) {  // more than a queue's first batches (kScanBatch / 3, then 2x)
    errand::NewJob j = job(i % 3 - 1, now + std::chrono::seconds{(i * 13) % 11 - 5});
    j.queue = std::array{"alpha", "beta", "gamma"}[(i / 7) % 3];
    j.payload = fmt::format(R"({{"customer_id": {}}})", i % 5);
    jobs.push_back(j);
  }
  store->enqueue(jobs);
  JobFilter every;
  every.order = JobOrder::newest;
  every.limit = 1000;
  std::vector<errand::JobInfo> all = store->list_jobs(every);
  ASSERT_EQ(all.size(), 601u);
  ASSERT_TRUE(std::any_of(all.begin(), all.end(), [&](const auto& j) { return j.id == held; }));
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return std::tuple(-a.priority, a.run_at, a.id) < std::tuple(-b.priority, b.run_at, b.id);
  });
  const auto expected = [&](const std::function<bool(const errand::JobInfo&)>& keep) {
    std::vector<JobId> ids;
    for (const auto& j : all)
      if (keep(j) && j.payload.find("\"customer_id\": 3}") != std::string::npos)
        ids.push_back(j.id);
    return ids;
  };
  errand::JobSearch search;
  search.filter.limit = 1000;
  search.payload = {{"customer_id", "3"}};
  const auto whole = errand::search_jobs(*store, search);
  EXPECT_EQ(ids_of(whole.jobs), expected([](const auto&) { return true; }));
  EXPECT_EQ(whole.jobs.size(), 120u);
  EXPECT_EQ(whole.scanned, 601u);
  EXPECT_FALSE(whole.next);

  // Pages of 7 that also stop after reading 40 rows: together, the same jobs once each.
  search.filter.state = JobState::ready;
  search.filter.limit = 7;
  search.scan_limit = 40;
  std::vector<JobId> found;
  std::size_t scanned = 0;
  for (int pages = 0; pages < 200; ++pages) {
    const auto page = errand::search_jobs(*store, search);
    EXPECT_LE(page.scanned, 40u);
    scanned += page.scanned;
    for (const auto& j : page.jobs)
      found.push_back(j.id);
    if (!page.next) break;
    search.filter.after = page.next;
  }
  const auto ready =
      expected([](const auto& j) { return j.state == JobState::ready && !j.locked_by; });
  ASSERT_FALSE(ready.empty());
  EXPECT_EQ(found, ready);
  EXPECT_EQ(scanned,
            static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [](const auto& j) {
              return j.state == JobState::ready && !j.locked_by;
            })));
}

// A store whose listings take `per_read` of the manual clock's time each.
class SlowListings final : public errand::StoreWrapper {
 public:
  SlowListings(std::shared_ptr<errand::Store> inner, errand::ManualClock& clock,
               errand::Duration per_read)
      : StoreWrapper(std::move(inner)), clock_(clock), per_read_(per_read) {}
  std::vector<errand::JobInfo> list_jobs(const JobFilter& filter) override {
    ++reads;
    clock_.advance(per_read_);
    return inner().list_jobs(filter);
  }
  int reads = 0;

 private:
  errand::ManualClock& clock_;
  errand::Duration per_read_;
};

// With a scan time limit a search starts no read once the time is up, says so, and goes on from
// where it stopped; every call gets on by at least one row; a negative limit is refused.
TEST_P(ListingConformance, APayloadSearchStopsReadingWhenItsTimeIsUpAndGoesOnFromThere) {
  std::vector<errand::NewJob> jobs;
  for (int i = 0; i < 3000; ++i) {
    const std::string payload =
        fmt::format(R"({{"customer_id": {}}})", i % 400 == 0 ? 42 : 1000 + i);
    jobs.push_back(errand::NewJob{.name = "P", .payload = payload});
  }
  const std::vector<JobId> ids = store->enqueue(jobs);
  SlowListings slow(store, *clock, 30ms);
  errand::JobSearch search;
  search.filter.order = JobOrder::oldest;  // one listing: reads of 500, 1000, 2000 rows
  search.filter.limit = 10;
  search.payload = {{"customer_id", "42"}};
  search.scan_time_limit = 50ms;
  // Reads 500 rows (at 30 ms) and 1,000 (at 60 ms); the next read would start too late.
  auto page = errand::search_jobs(slow, search);
  EXPECT_EQ(slow.reads, 2);
  EXPECT_TRUE(page.scan_limited);
  EXPECT_EQ(page.scanned, 1500u);
  EXPECT_EQ(ids_of(page.jobs), (std::vector{ids[0], ids[400], ids[800], ids[1200]}));
  ASSERT_TRUE(page.next);
  EXPECT_EQ(page.next->id, ids[1499]);
  search.filter.after = page.next;  // the next call has its own 50 ms: rows 1500..2999
  page = errand::search_jobs(slow, search);
  EXPECT_EQ(slow.reads, 4);
  EXPECT_TRUE(page.scan_limited);
  EXPECT_EQ(ids_of(page.jobs), (std::vector{ids[1600], ids[2000], ids[2400], ids[2800]}));
  ASSERT_TRUE(page.next);
  EXPECT_EQ(page.next->id, ids[2999]);
  search.filter.after = page.next;  // one read: nothing left
  page = errand::search_jobs(slow, search);
  EXPECT_EQ(slow.reads, 5);
  EXPECT_TRUE(page.jobs.empty());
  EXPECT_FALSE(page.scan_limited);
  EXPECT_FALSE(page.next);

  // A limit shorter than one read: each call still reads once, then stops.
  slow.reads = 0;
  search.filter.after.reset();
  search.scan_time_limit = 1ms;  // shorter than one read
  page = errand::search_jobs(slow, search);
  EXPECT_EQ(slow.reads, 1);
  EXPECT_TRUE(page.scan_limited);
  EXPECT_EQ(page.scanned, 500u);
  EXPECT_EQ(ids_of(page.jobs), (std::vector{ids[0], ids[400]}));

  search.scan_time_limit = -1ms;
  EXPECT_THROW(errand::search_jobs(slow, search), errand::ConfigError);
}

}  // namespace
}  // namespace errand_test
