// Small text helpers shared by the tests.
#pragma once

#include <string_view>

namespace errand_test {

// True when `part` occurs in `text`.
inline bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace errand_test
