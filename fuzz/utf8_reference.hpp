// A reference UTF-8 validator for the fuzz targets, written from the Unicode Standard's table of
// well-formed byte sequences (chapter 3, table 3-7) and independent of src/core/text.cpp: it
// checks byte ranges where text.cpp decodes code points and compares them with limits.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace errand_fuzz {

// Length of the well-formed UTF-8 sequence starting at text[i] that is not U+0000, or 0.
inline std::size_t well_formed_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) -> int {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : -1;
  };
  const auto in = [](int b, int low, int high) { return b >= low && b <= high; };
  const auto tail = [&](std::size_t k) { return in(byte(k), 0x80, 0xBF); };
  const int lead = byte(0);
  if (in(lead, 0x01, 0x7F)) return 1;
  if (in(lead, 0xC2, 0xDF)) return tail(1) ? 2 : 0;
  if (lead == 0xE0) return in(byte(1), 0xA0, 0xBF) && tail(2) ? 3 : 0;
  if (in(lead, 0xE1, 0xEC) || in(lead, 0xEE, 0xEF)) return tail(1) && tail(2) ? 3 : 0;
  if (lead == 0xED) return in(byte(1), 0x80, 0x9F) && tail(2) ? 3 : 0;  // no surrogates
  if (lead == 0xF0) return in(byte(1), 0x90, 0xBF) && tail(2) && tail(3) ? 4 : 0;
  if (in(lead, 0xF1, 0xF3)) return tail(1) && tail(2) && tail(3) ? 4 : 0;
  if (lead == 0xF4) return in(byte(1), 0x80, 0x8F) && tail(2) && tail(3) ? 4 : 0;
  return 0;  // 0x00, a continuation byte, C0/C1 (overlong) or F5..FF
}

// Well-formed UTF-8 without NUL bytes: what PostgreSQL text columns accept.
inline bool is_clean(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = well_formed_length(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

}  // namespace errand_fuzz
