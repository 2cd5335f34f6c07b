// Fuzzes the UTF-8 cleaning of text errand stores (src/core/text.hpp): utf8_char_length,
// is_clean_utf8 and to_clean_utf8, which repairs the error messages the worker records.
//
// Input: two bytes of cap (max_bytes, big-endian, 0..8191), then the text.
// Properties, checked against the independent validator of utf8_reference.hpp:
//   - utf8_char_length and is_clean_utf8 agree with the reference at every position;
//   - to_clean_utf8's output is clean (well-formed, no NUL) and at most cap + 3 bytes, plus
//     " ... (truncated)" when it was cut;
//   - it is exactly the text with each byte that starts no well-formed character replaced by
//     U+FFFD, cut at the first character boundary at or past cap;
//   - clean text no longer than cap comes back unchanged, so cleaning is idempotent.
#include "core/text.hpp"
#include "utf8_reference.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kTruncated = " ... (truncated)";

[[noreturn]] void fail(const char* property, std::string_view text, std::size_t cap) {
  std::fprintf(stderr, "fuzz_text: property violated: %s (cap %zu, %zu bytes of text)\n", property,
               cap, text.size());
  std::abort();
}

// The specified output of to_clean_utf8, built on the reference validator.
std::string expected_clean(std::string_view text, std::size_t cap) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size() && out.size() < cap) {
    if (const std::size_t length = errand_fuzz::well_formed_length(text, i)) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.append(kReplacement);
      ++i;
    }
  }
  if (i < text.size()) out.append(kTruncated);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t cap = ((std::size_t{data[0]} << 8) | data[1]) & 0x1FFF;
  const std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);

  for (std::size_t i = 0; i < text.size(); ++i) {
    if (errand::detail::utf8_char_length(text, i) != errand_fuzz::well_formed_length(text, i)) {
      fail("utf8_char_length differs from the reference", text, cap);
    }
  }
  const bool clean = errand_fuzz::is_clean(text);
  if (errand::detail::is_clean_utf8(text) != clean) {
    fail("is_clean_utf8 differs from the reference", text, cap);
  }

  const std::string out = errand::detail::to_clean_utf8(text, cap);
  if (!errand_fuzz::is_clean(out) || out.find('\0') != std::string::npos) {
    fail("to_clean_utf8 returned text that is not clean UTF-8", text, cap);
  }
  const bool truncated = out.size() > cap + 3;
  if (truncated && (out.size() > cap + 3 + kTruncated.size() || !out.ends_with(kTruncated))) {
    fail("to_clean_utf8 returned more than cap + 3 bytes (+ the truncation note)", text, cap);
  }
  if (out != expected_clean(text, cap)) {
    fail("to_clean_utf8 differs from the specified output", text, cap);
  }
  if (clean && text.size() <= cap && out != text) {
    fail("to_clean_utf8 changed clean text within the cap", text, cap);
  }
  if (errand::detail::to_clean_utf8(out, out.size()) != out) {
    fail("to_clean_utf8 is not idempotent", text, cap);
  }
  return 0;
}
