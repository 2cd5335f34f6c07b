// Small text helpers shared by the tests.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace errand_test {

// True when `part` occurs in `text`.
inline bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// `text` in ASCII lower case, for checks that ignore case.
inline std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace errand_test
