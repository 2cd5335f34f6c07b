#include "chaos_restart.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace chaos {

namespace {

// The server's own arguments from DATA/postmaster.opts (what `pg_ctl restart` reuses), without
// the program and -D, for `pg_ctl start -o`.
std::string postmaster_options(const fs::path& data) {
  FILE* file = std::fopen((data / "postmaster.opts").c_str(), "r");
  if (!file) throw std::runtime_error(fmt::format("cannot read {}/postmaster.opts", data.string()));
  std::string text;
  char buffer[4096];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, file)) > 0;)
    text.append(buffer, got);
  std::fclose(file);
  // /usr/lib/postgresql/15/bin/postgres "-D" "/path/data" "-p" "55432" ...
  std::vector<std::string> quoted;
  for (std::size_t pos = text.find('"'); pos != std::string::npos;) {
    const auto close = text.find('"', pos + 1);
    if (close == std::string::npos) break;
    quoted.push_back(text.substr(pos, close - pos + 1));
    pos = text.find('"', close + 1);
  }
  std::string options;
  for (std::size_t i = 0; i < quoted.size(); ++i) {
    if (quoted[i] == "\"-D\"") {
      ++i;
      continue;
    }
    if (quoted[i].find('\'') != std::string::npos)
      throw std::runtime_error("postmaster.opts holds a single quote: cannot pass it on");
    options += (options.empty() ? "" : " ") + quoted[i];
  }
  return options;
}

}  // namespace

PgServer server_from_environment(PgServer server) {
  if (server.pg_ctl.empty()) {
    const char* env = std::getenv("ERRAND_TEST_PG_CTL");
    if (!env || !*env) throw std::runtime_error("restarting needs --pg-ctl or ERRAND_TEST_PG_CTL");
    server.pg_ctl = env;
  }
  if (server.pg_data.empty()) {
    const char* env = std::getenv("ERRAND_TEST_PG_DATA");
    if (env) server.pg_data = env;
  }
  return server;
}

int run_shell(const std::string& command, const fs::path& log) {
  const std::string line = fmt::format("{} >>'{}' 2>&1 </dev/null", command, log.string());
  return std::system(line.c_str());
}

std::string restart_server(const PgServer& server, const std::string& spec, const fs::path& log) {
  const auto colon = spec.find(':');
  const std::string mode = spec.substr(0, colon);
  if (colon == std::string::npos) {
    const int status =
        run_shell(fmt::format("{} restart -m {} -w -t 60", server.pg_ctl, mode), log);
    return exited_cleanly(status) ? "" : "pg_ctl restart: " + describe_status(status);
  }
  const std::string options = postmaster_options(server.pg_data);
  int status = run_shell(fmt::format("{} stop -m {} -w -t 60", server.pg_ctl, mode), log);
  if (!exited_cleanly(status)) return "pg_ctl stop: " + describe_status(status);
  pause_for(milliseconds{std::stoi(spec.substr(colon + 1))});
  status = run_shell(fmt::format("{} start -w -t 60 -o '{}'", server.pg_ctl, options), log);
  return exited_cleanly(status) ? "" : "pg_ctl start: " + describe_status(status);
}

}  // namespace chaos
