// Parsing of the database URLs open_store takes (the CLI's --db). Pure: no I/O, no store opened,
// so it is tested and fuzzed on its own (fuzz/fuzz_url.cpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace errand::detail {

struct StoreUrl {
  enum class Kind { sqlite, postgres };
  Kind kind = Kind::sqlite;
  std::string sqlite_path;  // Kind::sqlite: the database file, never empty
  std::string conninfo;     // Kind::postgres: the URL for libpq, errand's parameters removed
  std::optional<std::string> schema;  // Kind::postgres: ?schema=NAME (the last one given)
  std::optional<bool> listen;         // Kind::postgres: ?listen=on|off (the last one given)
};

// `sqlite:PATH`, `sqlite:///ABSOLUTE/PATH`, or `postgres://` / `postgresql://` URLs with errand's
// own query parameters schema= and listen=, looked for where libpq finds the query: after the
// first '?' that follows the user name and password (which may hold a '?'). Throws ConfigError
// for anything else, and for a URL holding a NUL byte; the message never holds the password.
StoreUrl parse_store_url(std::string_view url);

// Where the query ('?') of a scheme://user:password@host/... URL starts, as libpq finds it:
// after the user name and password, which end at the first '@' before any '/' (a password may
// hold a '?'); npos when there is none.
std::size_t url_query_start(std::string_view url);

// scheme://user:secret@host/... → scheme://user:***@host/... (for error messages): masks from
// the first ':' after "://" to the last '@'.
std::string redact_password(std::string_view url);

}  // namespace errand::detail
