// Parsing of the database URLs open_store takes (the CLI's --db). Pure: no I/O, no store opened,
// so it is tested and fuzzed on its own (fuzz/fuzz_url.cpp).
#pragma once

#include "core/conninfo.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace errand::detail {

struct StoreUrl {
  enum class Kind { sqlite, postgres };
  Kind kind = Kind::sqlite;
  std::string sqlite_path;  // Kind::sqlite: the database file, never empty
  std::string conninfo;     // Kind::postgres: the URL as given (open_postgres takes it)
  PgConnInfo postgres;      // Kind::postgres: the URL parsed (libpq keywords, errand's own)
  std::optional<std::string> schema;  // Kind::postgres: ?schema=NAME (the last one given)
  std::optional<bool> listen;         // Kind::postgres: ?listen=on|off (the last one given)
};

// `sqlite:PATH`, `sqlite:///ABSOLUTE/PATH`, or `postgres://` / `postgresql://` URLs (see
// parse_pg_conninfo) with errand's own query parameters schema=, listen= and pooler=. Refuses
// SQLite's special names (`:memory:`, `file:` URIs) and a '?' in a SQLite path. Throws
// ConfigError for anything else, and for a URL holding a NUL byte; no message holds a password.
StoreUrl parse_store_url(std::string_view url);

// Where the query ('?') of a scheme://user:password@host/... URL starts, as libpq finds it:
// after the user name and password, which end at the first '@' before any '/' (a password may
// hold a '?'); npos when there is none.
std::size_t url_query_start(std::string_view url);

}  // namespace errand::detail
