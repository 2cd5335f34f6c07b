// The registry on its own: registration, dispatch by name, readable dispatch errors, concepts.
#include "support/jobs.hpp"
#include "support/text.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

using errand_test::TestState;

namespace errand_test {
namespace {

using errand_test::contains;

// Not jobs, for the concept checks.
struct NoName {
  int x = 0;
  void run(TestState&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NoName, x)
struct NoRun {
  static constexpr std::string_view name = "NoRun";
  int x = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NoRun, x)
struct NoJson {
  static constexpr std::string_view name = "NoJson";
  void run(TestState&) {}
};
struct OtherState {};

static_assert(errand::Job<RecordJob, TestState>);
static_assert(errand::Job<HookJob, TestState>);
static_assert(errand::CancellableJob<HookJob, TestState>);
static_assert(!errand::CancellableJob<RecordJob, TestState>);
static_assert(errand::PlainJob<RecordJob, TestState>);
static_assert(!errand::Job<RecordJob, OtherState>, "run() takes the registry's AppState");
static_assert(!errand::Job<NoName, TestState>);
static_assert(!errand::Job<NoRun, TestState>);
static_assert(!errand::Job<NoJson, TestState>);
static_assert(!errand::EnqueueableJob<NoJson>);
static_assert(errand::EnqueueableJob<NoRun>, "enqueueing needs no run()");
static_assert(errand::HasMaxRetries<LimitedFailJob>);
static_assert(!errand::HasMaxRetries<RecordJob>);

TEST(Registry, AddingTheSameTypeTwiceIsAConfigError) {
  errand::Registry<TestState> registry;
  registry.add<RecordJob>();
  try {
    registry.add<RecordJob>();
    FAIL() << "expected ConfigError";
  } catch (const errand::ConfigError& e) {
    EXPECT_TRUE(contains(e.what(), "Record")) << e.what();
  }
  EXPECT_EQ(registry.names(), std::vector<std::string>{"Record"});
}

TEST(Registry, TwoTypesWithOneNameIsAConfigError) {
  errand::Registry<TestState> registry;
  registry.add<RecordJob>();
  EXPECT_THROW(registry.add<SameNameJob>(), errand::ConfigError);
  // The first registration is kept.
  TestState state;
  registry.run("Record", R"({"tag": 5})", state, {});
  EXPECT_EQ(state.snapshot(), std::vector<std::string>{"Record:5"});
}

TEST(Registry, RunsTheJobNamedInTheRow) {
  errand::Registry<TestState> registry;
  registry.add<RecordJob>().add<TextJob>();
  EXPECT_TRUE(registry.contains("Record"));
  EXPECT_TRUE(registry.contains("Text"));
  EXPECT_FALSE(registry.contains("Fail"));
  TestState state;
  registry.run("Text", R"({"text": "hi"})", state, {});
  registry.run("Record", R"({"tag": 1})", state, {});
  EXPECT_EQ(state.snapshot(), (std::vector<std::string>{"Text:hi", "Record:1"}));
}

TEST(Registry, UnknownNameIsADispatchErrorNamingIt) {
  errand::Registry<TestState> registry;
  registry.add<RecordJob>();
  TestState state;
  try {
    registry.run("SendEmail", "{}", state, {});
    FAIL() << "expected DispatchError";
  } catch (const errand::DispatchError& e) {
    EXPECT_TRUE(contains(e.what(), "SendEmail")) << e.what();
    EXPECT_TRUE(contains(lower(e.what()), "registered") || contains(lower(e.what()), "unknown"))
        << e.what();
  }
}

TEST(Registry, PayloadThatIsNotJsonIsADispatchErrorNamingTheJob) {
  errand::Registry<TestState> registry;
  registry.add<RecordJob>();
  TestState state;
  try {
    registry.run("Record", "{tag: oops", state, {});
    FAIL() << "expected DispatchError";
  } catch (const errand::DispatchError& e) {
    EXPECT_TRUE(contains(e.what(), "Record")) << e.what();
    EXPECT_TRUE(contains(lower(e.what()), "json")) << e.what();
  }
  EXPECT_EQ(state.total(), 0u);
}

TEST(Registry, PayloadOfTheWrongShapeIsADispatchErrorNamingTheJobAndField) {
  errand::Registry<TestState> registry;
  registry.add<RecordJob>();
  TestState state;
  for (const char* payload : {R"({"other": 1})", R"({"tag": "not a number"})", "[1, 2]"}) {
    SCOPED_TRACE(payload);
    try {
      registry.run("Record", payload, state, {});
      FAIL() << "expected DispatchError";
    } catch (const errand::DispatchError& e) {
      EXPECT_TRUE(contains(e.what(), "Record")) << e.what();
    }
  }
  try {
    registry.run("Record", R"({"other": 1})", state, {});
  } catch (const errand::DispatchError& e) {
    EXPECT_TRUE(contains(e.what(), "tag")) << e.what();
  }
  EXPECT_EQ(state.total(), 0u);
}

TEST(Registry, ExceptionsFromRunPropagateUnchanged) {
  errand::Registry<TestState> registry;
  registry.add<FailJob>().add<ThrowIntJob>().add<ThrowCustomJob>();
  TestState state;
  try {
    registry.run("Fail", R"({"message": "exact words"})", state, {});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "exact words");
  }
  EXPECT_THROW(registry.run("ThrowInt", R"({"value": 3})", state, {}), int);
  EXPECT_THROW(registry.run("ThrowCustom", R"({"code": 3})", state, {}), CustomFailure);
}

TEST(Registry, CancellableJobsReceiveTheStopToken) {
  errand::Registry<TestState> registry;
  registry.add<HookJob>();
  TestState state;
  bool stop_possible = false;
  bool stop_requested = false;
  state.hook = [&](const std::string&, std::stop_token token) {
    stop_possible = token.stop_possible();
    stop_requested = token.stop_requested();
  };
  std::stop_source source;
  registry.run("Hook", R"({"tag": "t"})", state, source.get_token());
  EXPECT_TRUE(stop_possible);
  EXPECT_FALSE(stop_requested);
  source.request_stop();
  registry.run("Hook", R"({"tag": "t"})", state, source.get_token());
  EXPECT_TRUE(stop_requested);
}

TEST(Registry, MaxRetriesComesFromTheJobType) {
  errand::Registry<TestState> registry;
  registry.add<LimitedFailJob>().add<RecordJob>();
  EXPECT_EQ(registry.max_retries("LimitedFail"), 2);
  EXPECT_EQ(registry.max_retries("Record"), std::nullopt);
  EXPECT_EQ(registry.max_retries("Unknown"), std::nullopt);
}

}  // namespace
}  // namespace errand_test
