// UTF-8 checks for text errand stores: PostgreSQL text holds only valid UTF-8 without NULs,
// so errand refuses (user input) or repairs (its own error messages) anything else.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace errand::detail {

// Length of the valid, non-NUL UTF-8 character at text[i], or 0 if there is none.
std::size_t utf8_char_length(std::string_view text, std::size_t i);

// True when `text` is valid UTF-8 without NUL bytes.
bool is_clean_utf8(std::string_view text);

// `text` with invalid sequences and NULs replaced by U+FFFD, cut at a character boundary to at
// most about `max_bytes` (then ending in " ... (truncated)").
std::string to_clean_utf8(std::string_view text, std::size_t max_bytes);

}  // namespace errand::detail
