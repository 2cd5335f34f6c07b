// Whether this test build runs under a sanitizer (CMake's ERRAND_SANITIZE), which makes errand's
// code 5 to 20 times slower: the heaviest repetitions run scaled down there, and in full in the
// plain build (scripts/test's unit stage).
#pragma once

namespace errand_test {

#ifdef ERRAND_TEST_SANITIZED
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// `full` repetitions in the plain build, a quarter of them (at least one) under a sanitizer.
constexpr int repetitions(int full) {
  return kSanitized ? (full / 4 > 0 ? full / 4 : 1) : full;
}

}  // namespace errand_test
