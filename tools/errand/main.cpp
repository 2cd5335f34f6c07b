// errand: inspect and administer an errand job database, and run the demo.
#include "bench.hpp"
#include "commands.hpp"
#include "numbers.hpp"

#include <fmt/format.h>
#include <errand/open.hpp>
#include <errand/version.hpp>

#include <exception>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  using namespace errand::cli;

  CLI::App app{"errand: durable background jobs for C++", "errand"};
  app.set_version_flag("--version", fmt::format("errand {}", errand::version()));
  app.require_subcommand(1);
  app.fallthrough();  // --db may also follow the subcommand

  Globals globals;
  globals.program = argc > 0 ? argv[0] : "errand";
  globals.db_url = std::string(errand::default_database_url);
  // $ERRAND_DB when --db is not given: keeps a URL with a password off the command line, which
  // every user of the machine can read (ps); errand bench passes it to its workers so.
  globals.db_option =
      app.add_option("--db", globals.db_url,
                     fmt::format("job database URL, sqlite:PATH or postgres://... (default: "
                                 "$ERRAND_DB when set, else {}; for demo: sqlite:errand-demo.db, "
                                 "for bench: sqlite:errand-bench.db)",
                                 errand::default_database_url))
          ->envname("ERRAND_DB");
  add_number(
      app, "--timeout", globals.timeout_s, kSeconds,
      "PostgreSQL: seconds one statement of status, jobs, dead, workers, queues or migrate may "
      "take, "
      "a wait for a lock included, before the command gives up");

  std::vector<Command> commands;
  add_demo(app, globals, commands);
  add_status(app, globals, commands);
  add_jobs(app, globals, commands);
  add_workers(app, globals, commands);
  add_dead(app, globals, commands);
  add_queues(app, globals, commands);
  add_cron(app, globals, commands);
  add_web(app, globals, commands);
  add_migrate(app, globals, commands);
  add_bench(app, globals, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    // Nested subcommands come after their parent, so the last parsed one is the deepest.
    for (auto it = commands.rbegin(); it != commands.rend(); ++it) {
      if (it->app->parsed()) return it->run();
    }
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "errand: {}\n", e.what());
    return 1;
  } catch (...) {
    fmt::print(stderr, "errand: unknown error\n");
    return 1;
  }
}
