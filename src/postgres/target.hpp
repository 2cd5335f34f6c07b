// Where and how errand connects to PostgreSQL: libpq's keywords as errand parsed them (never the
// text itself: see core/conninfo.hpp), errand's connection defaults, what may be printed, and
// what never may.
#pragma once

#include "core/conninfo.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace errand::pg {

// errand's defaults for what the URL does not say (each can be overridden by the URL's own
// libpq parameter of the same name): give up connecting after 10 s; TCP keepalives after 10 s
// idle, every 5 s, 3 unanswered probes, and at most 30 s for sent data to be acknowledged, so a
// connection to a server that vanished from the network fails within about 30 s.
inline constexpr std::pair<std::string_view, std::string_view> kConnectionDefaults[] = {
    {"connect_timeout", "10"},
    {"keepalives", "1"},
    {"keepalives_idle", "10"},
    {"keepalives_interval", "5"},
    {"keepalives_count", "3"},
    {"tcp_user_timeout", "30000"},
    {"fallback_application_name", "errand"},
};

struct Target {
  detail::PgConnInfo info;  // libpq keywords and values, defaults applied
  std::string description;  // a postgres:// URL without its password: safe to print
  // PgBouncer in transaction pooling mode: no named prepared statements (another client may get
  // the server connection next), settings transaction-local, no LISTEN.
  bool transaction_pooler = false;
  // Settings made on every new connection (set_config, session scope). Behind a transaction
  // pooler, where a session setting would leak to other clients, they are made transaction-local
  // instead, in front of every statement that takes parameters (see Connection).
  std::vector<std::pair<std::string, std::string>> session_settings;
  // How long to wait for the server's reply to one statement or pipeline before closing the
  // connection and throwing StoreError; 0: no limit (TCP keepalives still notice a dead peer).
  std::chrono::milliseconds reply_timeout{0};

  // `message` with every secret of the target masked.
  std::string scrub(std::string message) const {
    return detail::scrub_secrets(std::move(message), info.secrets);
  }
};

// Parses a postgres:// URL or key=value string (detail::parse_pg_conninfo), refuses keywords
// libpq does not know (without showing them: a mistyped keyword may be a password; the closest
// known keyword is suggested) and applies kConnectionDefaults. Throws ConfigError.
Target make_target(std::string_view conninfo);

}  // namespace errand::pg
