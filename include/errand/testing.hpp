// errand::testing: a toolkit for testing your own jobs, with any test framework.
//
//   TestStore          a throwaway SQLite store on a ManualClock you advance (testing/store.hpp)
//   drain(...)         runs the due jobs through the real worker engine and reports each run:
//                      succeeded, retried (with its error and next run time) or dead-lettered
//                      (testing/drain.hpp)
//   require_enqueued<J>(store, pred) / refute_enqueued<J>(store, pred), all_enqueued<J>,
//   check_enqueued<J> / check_not_enqueued<J>   what is in the queue (testing/enqueued.hpp)
//
// How a failed check surfaces. liberrand depends on no test framework, so the checks come in
// two forms:
// - require_enqueued / refute_enqueued throw errand::testing::ExpectationFailed. Every C++
//   test framework (GoogleTest, Catch2, doctest, Boost.Test) fails a test that lets an
//   exception escape and prints what(): here, what was expected and the jobs in the store
//   (type, id, payload, state, run_at, failed attempts). It stops the test, like ASSERT_*,
//   and require_enqueued returns the matching jobs for further checks.
// - check_enqueued / check_not_enqueued return a Check (true, or false with that message), for
//   a check that should not stop the test. With GoogleTest, include <errand/testing/gtest.hpp>
//   and write EXPECT_TRUE(errand::testing::enqueued<J>(...)): its AssertionResult prints the
//   message.
//
// The README's "Testing your jobs" has a complete GoogleTest example
// (tests/consumer/testing_example_test.cpp).
//
// Not part of <errand/errand.hpp>. Note: with `using namespace errand;` the name `testing`
// is ambiguous with GoogleTest's ::testing; qualify (errand::testing::) or use an alias.
#pragma once

#include <errand/testing/drain.hpp>
#include <errand/testing/enqueued.hpp>
#include <errand/testing/store.hpp>
