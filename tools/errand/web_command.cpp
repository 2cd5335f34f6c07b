// `errand web`: the dashboard, its JSON API and /metrics (errand/web.hpp) over --db, until
// SIGINT or SIGTERM. Secrets come from the environment or files, never from the command line
// (where other users of the machine could read them).
#include "command_support.hpp"

#include <errand/signals.hpp>
#include <errand/web.hpp>

#include <fmt/format.h>

#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>

namespace errand::cli {

namespace {

struct WebCommandOptions {
  std::string listen = "127.0.0.1:8080";
  std::string token_file;
  std::string basic_user;
  std::string basic_password_file;
  bool read_only = false;
  std::string base_path;
  std::int64_t count_limit = kDefaultCountLimit;
};

// The secret in `file` (its first line), or the environment variable `env` when no file is given.
std::string secret(const std::string& file, const char* env, std::string_view what) {
  if (file.empty()) {
    const char* value = std::getenv(env);
    return value ? value : "";
  }
  std::ifstream in(file);
  if (!in) throw ConfigError(fmt::format("cannot read the {} file {}", what, file));
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) throw ConfigError(fmt::format("the {} file {} is empty", what, file));
  return line;
}

int web(const Globals& globals, const WebCommandOptions& opts) {
  StopOnSignals signals;  // before any thread starts
  WebOptions options;
  options.listen = opts.listen;
  options.token = secret(opts.token_file, "ERRAND_WEB_TOKEN", "token");
  options.basic_user = opts.basic_user;
  if (!opts.basic_user.empty())
    options.basic_password = secret(opts.basic_password_file, "ERRAND_WEB_PASSWORD", "password");
  options.read_only = opts.read_only;
  options.base_path = opts.base_path;
  options.count_limit = opts.count_limit;
  options.audit = [](std::string_view line) {
    fmt::print(stderr, "{}\n", line);
    std::fflush(stderr);
  };
  auto store = open_db(globals, opts.read_only ? OpenMode::read_only : OpenMode::existing);
  WebServer server(store, options);
  server.start();
  fmt::print("errand web: serving {} at {}/{}{}\n", store->describe(), server.url(),
             opts.read_only ? " (read-only)" : "",
             options.token.empty() && options.basic_user.empty() ? "" : " (sign-in required)");
  std::fflush(stdout);
  std::mutex mutex;
  std::condition_variable_any cv;
  std::unique_lock lock(mutex);
  std::stop_token token = signals.token();
  cv.wait(lock, token, [] { return false; });
  server.stop();
  fmt::print("errand web: stopped\n");
  return 0;
}

}  // namespace

void add_web(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto opts = std::make_shared<WebCommandOptions>();
  auto* cmd = app.add_subcommand(
      "web",
      "Serve the web dashboard, its JSON API and Prometheus /metrics for --db until SIGINT or "
      "SIGTERM");
  cmd->add_option("--listen", opts->listen,
                  "HOST:PORT to listen on; any address but loopback needs a token or basic auth")
      ->capture_default_str();
  cmd->add_option("--token-file", opts->token_file,
                  "a file whose first line is the access token (default: $ERRAND_WEB_TOKEN)");
  cmd->add_option("--basic-user", opts->basic_user, "basic auth user name");
  cmd->add_option("--basic-password-file", opts->basic_password_file,
                  "a file whose first line is the basic auth password (default: "
                  "$ERRAND_WEB_PASSWORD)");
  cmd->add_flag("--read-only", opts->read_only,
                "show no action and refuse every change (opens the store read-only)");
  cmd->add_option("--base-path", opts->base_path,
                  "serve under this path, e.g. /errand behind a proxy (default: the root)");
  cmd->add_option("--count-limit", opts->count_limit,
                  "counts per queue and state stop here and show N+ (fast on big tables); 0: "
                  "exact, reading every row")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1'000'000'000'000}))
      ->capture_default_str();
  commands.push_back({cmd, [&globals, opts] { return web(globals, *opts); }});
}

}  // namespace errand::cli
