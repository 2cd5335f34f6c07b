#include "core/text.hpp"

#include <cstdint>

namespace errand::detail {

std::size_t utf8_char_length(std::string_view text, std::size_t i) {
  const auto byte = static_cast<unsigned char>(text[i]);
  std::size_t length = 0;
  std::uint32_t code = 0;
  if (byte < 0x80) {
    length = 1, code = byte;
  } else if ((byte & 0xE0) == 0xC0) {
    length = 2, code = byte & 0x1F;
  } else if ((byte & 0xF0) == 0xE0) {
    length = 3, code = byte & 0x0F;
  } else if ((byte & 0xF8) == 0xF0) {
    length = 4, code = byte & 0x07;
  }
  if (length == 0 || i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    const auto next = static_cast<unsigned char>(text[i + k]);
    if ((next & 0xC0) != 0x80) return 0;
    code = (code << 6) | (next & 0x3F);
  }
  constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};  // no overlong forms
  const bool valid =
      code != 0 && code >= kMinimum[length] && code <= 0x10FFFF && (code < 0xD800 || code > 0xDFFF);
  return valid ? length : 0;
}

bool is_clean_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = utf8_char_length(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string to_clean_utf8(std::string_view text, std::size_t max_bytes) {
  constexpr std::string_view replacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 16);
  std::size_t i = 0;
  while (i < text.size() && out.size() < max_bytes) {
    if (const std::size_t length = utf8_char_length(text, i)) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.append(replacement);
      ++i;
    }
  }
  if (i < text.size()) out += " ... (truncated)";
  return out;
}

}  // namespace errand::detail
