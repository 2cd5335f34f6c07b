// Restarting the scenarios' PostgreSQL server (restart and cron scenarios): with pg_ctl, by its
// shutdown mode, or stopped for a while and started again with the same options.
#pragma once

#include "chaos_support.hpp"

#include <string>

namespace chaos {

// The server's pg_ctl (with -D) and data directory.
struct PgServer {
  std::string pg_ctl;   // default: $ERRAND_TEST_PG_CTL
  std::string pg_data;  // default: $ERRAND_TEST_PG_DATA (for MODE:MS)
};

// `server` with what it leaves empty from the environment; throws when there is no pg_ctl.
PgServer server_from_environment(PgServer server);

// Runs a shell command, its output appended to `log`; returns its wait status.
int run_shell(const std::string& command, const fs::path& log);

// Restarts the server: `spec` is a pg_ctl shutdown mode (restart), or MODE:MS (stop, wait MS
// ms, start again with the same options). Returns an error message, empty on success.
std::string restart_server(const PgServer& server, const std::string& spec, const fs::path& log);

}  // namespace chaos
