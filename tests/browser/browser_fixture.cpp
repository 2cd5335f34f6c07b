// The store side of the dashboard's browser tests (tests/browser/dashboard.mjs):
//   errand_browser_fixture seed URL          untrusted payloads, dead jobs, a scheduled job
//   errand_browser_fixture enqueue URL TYPE N  N jobs of TYPE (Note or Sleeper)
//   errand_browser_fixture work URL          a worker of every type until SIGTERM
//   errand_browser_fixture fill URL N        N jobs across states for bench/web-pages: 20%
//                                            completed (kept), 10% dead, then 60% ready in
//                                            queues q0..q3 and 10% scheduled
// Note completes; Doomed always throws (dead at once: max_retries 0); Sleeper waits for its stop
// token (a cancel) for up to 120 s.
#include <errand/errand.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

struct State {};

struct Note {
  static constexpr std::string_view name = "Note";
  std::string text;
  int customer_id = 0;
  void run(State&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Note, text, customer_id)

struct Doomed {
  static constexpr std::string_view name = "Doomed";
  std::string why;
  void run(State&) { throw std::runtime_error(why); }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Doomed, why)

struct Sleeper {
  static constexpr std::string_view name = "Sleeper";
  int n = 0;
  void run(State&, std::stop_token token) {
    for (int i = 0; i < 1200 && !token.stop_requested(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (token.stop_requested()) throw std::runtime_error("stopped by its cancel");
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Sleeper, n)

errand::Registry<State> registry() {
  errand::Registry<State> r;
  r.add<Note>().add<Doomed>().add<Sleeper>();
  return r;
}

errand::WorkerOptions options() {
  errand::WorkerOptions o;
  o.concurrency = 4;
  o.max_retries = 0;
  o.poll_interval = std::chrono::milliseconds(200);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string command = argc > 2 ? argv[1] : "";
    const std::string url = argc > 2 ? argv[2] : "";
    if (command == "seed" && argc == 3) {
      auto store = errand::open_store(url);
      errand::enqueue(*store, Note{.text = "<script>alert(1)</script>", .customer_id = 42});
      errand::enqueue(*store, Note{.text = "\"><img src=x onerror=alert(2)>", .customer_id = 7});
      errand::enqueue(*store, Note{.text = "later", .customer_id = 42},
                      errand::EnqueueOptions{.delay = std::chrono::hours(1)});
      for (int i = 0; i < 3; ++i) {
        errand::enqueue(*store, Doomed{.why = fmt::format("doomed <b>{}</b>", i)},
                        errand::EnqueueOptions{.queue = "doomed"});
      }
      errand::WorkerOptions o = options();
      o.queues = {{"doomed", 1}};
      State state;
      const auto types = registry();
      errand::Worker<State> worker(store, types, state, o);
      worker.run_until_idle();
      return 0;
    }
    if (command == "enqueue" && argc == 5) {
      auto store = errand::open_store(url);
      const int n = std::atoi(argv[4]);
      for (int i = 0; i < n; ++i) {
        if (std::string(argv[3]) == "Sleeper") {
          fmt::print("{}\n", errand::enqueue(*store, Sleeper{.n = i}).id);
        } else {
          fmt::print("{}\n", errand::enqueue(*store, Note{.text = "quick", .customer_id = i}).id);
        }
      }
      return 0;
    }
    if (command == "fill" && argc == 4) {
      auto store = errand::open_store(url);
      const long n = std::atol(argv[3]);
      const auto add = [&](long count, auto make) {
        for (long done = 0; done < count;) {
          errand::Batch batch;
          for (int i = 0; i < 1000 && done < count; ++i, ++done)
            make(batch, done);
          errand::enqueue(*store, batch);
        }
      };
      // The finished ones first (a worker runs them, keeping the completed), then the rest.
      add(n / 5, [](errand::Batch& b, long i) {
        b.add(Note{.text = "done", .customer_id = static_cast<int>(i % 10'000)},
              errand::EnqueueOptions{.queue = "done"});
      });
      add(n / 10, [](errand::Batch& b, long i) {
        b.add(Doomed{.why = fmt::format("failure {}", i % 100)},
              errand::EnqueueOptions{.queue = "doomed"});
      });
      errand::WorkerOptions o = options();
      o.concurrency = 16;
      o.queues = {{"done", 16}, {"doomed", 16}};
      o.retention.completed = std::chrono::hours(24 * 365);
      State state;
      const auto types = registry();
      errand::Worker<State> worker(store, types, state, o);
      worker.run_until_idle();
      const long rest = n - n / 5 - n / 10;
      add(rest, [&](errand::Batch& b, long i) {
        errand::EnqueueOptions e{.priority = static_cast<std::int32_t>(i % 5),
                                 .queue = fmt::format("q{}", i % 4)};
        if (i % 7 == 0) e.delay = std::chrono::hours(1 + i % 48);
        b.add(Note{.text = fmt::format("note {}", i), .customer_id = static_cast<int>(i % 10'000)},
              e);
      });
      return 0;
    }
    if (command == "work" && argc == 3) {
      errand::StopOnSignals signals;
      auto store = errand::open_store(url);
      State state;
      const auto types = registry();
      errand::Worker<State> worker(store, types, state, options());
      worker.run(signals.token());
      return 0;
    }
    fmt::print(stderr,
               "usage: errand_browser_fixture seed|work URL, enqueue URL TYPE N, fill URL N\n");
    return 64;
  } catch (const std::exception& e) {
    fmt::print(stderr, "errand_browser_fixture: {}\n", e.what());
    return 1;
  }
}
