// Mounts errand's dashboard as an application would, with errand::web from the installed
// package: answers its API through errand::Web::handle (no server of its own), then serves it
// with errand::WebServer on a free loopback port. Exits 0 on success, 1 on any failure.
//
//   errand_consumer_web DATABASE_PATH
#include "checks.hpp"

#include <errand/errand.hpp>
#include <errand/web.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  using consumer::check;
  using consumer::failures;
  using consumer::remove_database;
  if (argc != 2) {
    std::fprintf(stderr, "usage: errand_consumer_web DATABASE_PATH\n");
    return 64;
  }
  const std::filesystem::path db = argv[1];
  remove_database(db);
  try {
    auto store = errand::open_sqlite(db);
    const errand::NewJob job{.name = "GreetJob", .payload = R"({"who": "the dashboard"})"};
    store->enqueue(std::span<const errand::NewJob>(&job, 1));

    errand::Web web(store, errand::WebOptions{.store_label = "consumer"});
    const errand::WebResponse jobs =
        web.handle(errand::WebRequest{.method = "GET", .path = "/api/jobs", .remote = "local"});
    const auto body = nlohmann::json::parse(jobs.body, nullptr, false);
    check(jobs.status == 200 && body.is_object() && body["jobs"].size() == 1 &&
              body["jobs"][0]["payload"]["who"] == "the dashboard",
          "Web::handle answers GET /api/jobs with the enqueued job");
    const errand::WebResponse post =
        web.handle(errand::WebRequest{.method = "POST", .path = "/api/queues/default/pause"});
    check(post.status == 403, "a POST without the CSRF token is refused");

    errand::WebServer server(store, errand::WebOptions{.listen = "127.0.0.1:0"});
    server.start();
    check(server.port() > 0, "WebServer serves on a free loopback port");
    server.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "errand_consumer_web: %s\n", e.what());
    ++failures;
  }
  remove_database(db);
  std::printf("errand_consumer_web: %s\n", failures == 0 ? "passed" : "FAILED");
  return failures == 0 ? 0 : 1;
}
