// PostgreSQL connection targets as errand reads them: a postgres:// or postgresql:// URL, or a
// libpq key=value string, parsed by errand itself (as libpq would) into keyword/value pairs. libpq
// then gets only the pairs (PQconnectdbParams, no dbname expansion), never the text, so none of its
// messages can echo a piece of the text, and every message errand makes from these is free of
// passwords by construction. Pure: no I/O, tested and fuzzed on its own (fuzz/fuzz_url.cpp).
#pragma once

#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace errand::detail {

// The keywords whose values are secrets: never printed, in any form.
bool is_secret_keyword(std::string_view keyword);
// A secret keyword, or one that looks like a mistyped one (pasword, Password, passwd...): its
// value is treated as a secret too, and left out of descriptions.
bool treated_as_secret(std::string_view keyword);

struct PgConnInfo {
  // libpq keywords and their decoded values, in the order given; each keyword at most once (a
  // later value replaces an earlier one). Keywords are not checked against libpq's list here.
  std::vector<std::pair<std::string, std::string>> params;
  // Every secret as it appeared in the text (percent-encoded or quoted) and decoded: what
  // scrub_secrets removes from any message as a last line of defence.
  std::vector<std::string> secrets;
  // errand's own URL parameters, taken out of the URL (libpq never sees them).
  std::optional<std::string> schema;        // schema=NAME
  std::optional<bool> listen;               // listen=on|off
  std::optional<bool> transaction_pooler;   // pooler=transaction|none
  std::optional<bool> asynchronous_claims;  // claim_commit=async|durable

  const std::string* find(std::string_view keyword) const;
  // Sets `keyword` to `value`, replacing an earlier value; an empty value removes the keyword
  // (libpq takes an empty value as none).
  void set(std::string_view keyword, std::string value);
  // Sets `keyword` only when it has no value yet.
  void set_default(std::string_view keyword, std::string value);
  // A postgres:// URL with the same target, safe to print: a password shows as ***, other
  // secrets are left out. errand's parameters are not included.
  std::string describe() const;
};

// Parses a postgres:// / postgresql:// URL (libpq's grammar: user and password end at the first
// '@' before any '/'; hosts, ports, dbname and query values percent-decoded; ssl=true means
// sslmode=require) or a key=value conninfo string. Refuses what libpq would read differently
// from what the text seems to say (an '@' after the user information, which is a password that
// needed percent-encoding), bad percent-encodings, NUL bytes and query items without '='.
// With `known` (libpq's keywords), a parameter it does not hold is refused too, named by its
// position and the closest known keyword. Throws ConfigError; no message holds any byte of the
// text's user information or of a secret value, nor any unknown parameter name (which may be a
// mistyped password).
using KeywordSet = std::set<std::string, std::less<>>;
PgConnInfo parse_pg_conninfo(std::string_view text, const KeywordSet* known = nullptr);

// "1st", "2nd", "3rd", "4th" ...: parameters are named by position, never by their text.
std::string ordinal(std::size_t n);

// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);

// `message` with every occurrence of each secret of 4 bytes or more replaced by ***.
std::string scrub_secrets(std::string message, std::span<const std::string> secrets);

}  // namespace errand::detail
