// The GoogleTest adapter of errand::testing (header-only; liberrand does not use GoogleTest):
// the checks as ::testing::AssertionResult, so a failed EXPECT_TRUE prints the jobs that are in
// the store.
//
//   EXPECT_TRUE(errand::testing::enqueued<EmailJob>(*store, [](const EmailJob& job) {
//     return job.to == "ada@example.com";
//   }));
//   EXPECT_TRUE(errand::testing::not_enqueued<EmailJob>(*store));
#pragma once

#include <errand/testing.hpp>

#include <gtest/gtest.h>

namespace errand::testing {

inline ::testing::AssertionResult to_assertion(const Check& check) {
  if (check) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << check.message();
}

// check_enqueued<J> as an AssertionResult.
template <class J, JobPredicate<J> P = AnyJob>
::testing::AssertionResult enqueued(Store& store, const P& predicate = {}) {
  return to_assertion(check_enqueued<J>(store, predicate));
}

// check_not_enqueued<J> as an AssertionResult.
template <class J, JobPredicate<J> P = AnyJob>
::testing::AssertionResult not_enqueued(Store& store, const P& predicate = {}) {
  return to_assertion(check_not_enqueued<J>(store, predicate));
}

}  // namespace errand::testing
