// The errand subcommands. Each add_* function declares a subcommand and its options on `app`
// and appends what to run when it is given; main() parses, then runs the deepest one given.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace errand::cli {

// Options of the errand command itself.
struct Globals {
  std::string program;  // argv[0], for hints that name commands
  std::string db_url;
  CLI::Option* db_option = nullptr;
  // --timeout: how long one PostgreSQL statement (or wait for a lock) of status, jobs, dead,
  // workers, queues and migrate may take (PostgresOptions::statement_timeout).
  std::int64_t timeout_s = 30;

  // --db when it was given, else `fallback`.
  std::string db_url_or(std::string_view fallback) const;
};

// A subcommand and what to run when it is the one given; run returns the exit status and
// throws on failure (main prints "errand: <message>" and exits with 1).
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

void add_migrate(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_status(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_jobs(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_workers(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_dead(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_queues(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_cron(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_web(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_demo(CLI::App& app, const Globals& globals, std::vector<Command>& commands);

}  // namespace errand::cli
