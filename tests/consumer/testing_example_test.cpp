// Tests of an application's job with errand::testing and GoogleTest. This file is the README's
// "Testing your jobs" example, word for word (a test checks that they match); it is built by
// errand's test suite and, against the installed package, by tests/consumer.
#include <errand/errand.hpp>
#include <errand/testing/gtest.hpp>  // errand/testing.hpp, plus EXPECT_TRUE-friendly checks

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace et = errand::testing;

// The application: its state, a job, and the code that enqueues it.
struct Mailer {
  int failures_left = 0;  // sends that fail before the server is back
  std::vector<std::string> sent;
};

struct WelcomeEmailJob {
  static constexpr std::string_view name = "WelcomeEmailJob";
  static constexpr int max_retries = 3;  // at most 4 runs

  std::string to;

  void run(Mailer& mailer) {
    if (mailer.failures_left > 0) {
      --mailer.failures_left;
      throw std::runtime_error("mail server unavailable");
    }
    mailer.sent.push_back(to);
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(WelcomeEmailJob, to)

void sign_up(errand::Store& store, const std::string& email) {
  errand::enqueue(store, WelcomeEmailJob{email}, "sign-up");
}

// The tests.
class WelcomeEmailTest : public ::testing::Test {
 protected:
  WelcomeEmailTest() { registry.add<WelcomeEmailJob>(); }

  et::TestStore store;  // a throwaway SQLite file on a clock that moves when told
  errand::Registry<Mailer> registry;
  Mailer mailer;
};

TEST_F(WelcomeEmailTest, SigningUpEnqueuesAWelcomeEmail) {
  sign_up(*store, "ada@example.com");

  // On failure these print every job in the store: type, id, payload, state, run_at, attempts.
  EXPECT_TRUE(et::enqueued<WelcomeEmailJob>(
      *store, [](const WelcomeEmailJob& job) { return job.to == "ada@example.com"; }));
  EXPECT_TRUE(et::not_enqueued<WelcomeEmailJob>(
      *store, [](const WelcomeEmailJob& job) { return job.to == "bob@example.com"; }));
}

TEST_F(WelcomeEmailTest, IsRetriedWhenTheClockReachesItsBackoff) {
  mailer.failures_left = 1;
  sign_up(*store, "ada@example.com");

  // drain runs what is due through a real worker, and reports each run.
  et::DrainReport report = et::drain(store, registry, mailer);
  ASSERT_EQ(report.retried, 1u) << report;
  EXPECT_EQ(report.runs[0].error, "mail server unavailable");
  EXPECT_EQ(report.runs[0].next_run_at, store.now() + 2s);  // the default backoff: 2 s
  // require_enqueued throws (failing the test, with the list of jobs) if there is none.
  auto queued = et::require_enqueued<WelcomeEmailJob>(*store);
  EXPECT_EQ(queued[0].info.error_count, 1);

  // Time stands still: the retry is not due yet.
  EXPECT_TRUE(et::drain(store, registry, mailer).runs.empty());

  store.advance(2s);
  report = et::drain(store, registry, mailer);
  EXPECT_EQ(report.succeeded, 1u) << report;
  EXPECT_EQ(mailer.sent, std::vector<std::string>{"ada@example.com"});
  et::refute_enqueued<WelcomeEmailJob>(*store);
}

TEST_F(WelcomeEmailTest, IsDeadLetteredWhenTheServerStaysDown) {
  mailer.failures_left = 100;
  sign_up(*store, "ada@example.com");

  // advance_clock: whenever nothing is due, jump to the next retry (2 s, 4 s, 8 s later).
  const et::DrainReport report = et::drain(store, registry, mailer, {.advance_clock = true});
  EXPECT_EQ(report.runs.size(), 4u) << report;
  EXPECT_EQ(report.retried, 3u) << report;
  EXPECT_EQ(report.dead_lettered, 1u) << report;
  EXPECT_TRUE(mailer.sent.empty());
  EXPECT_EQ(store->counts(2h).dead, 1);
}
