// The seed's first example: an EmailJob, enqueued with a context string and run by a worker.
#include <errand/errand.hpp>

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

// The application's state, shared by every job; this example needs nothing in it.
struct MyAppState {};

struct EmailJob {
  static constexpr std::string_view name = "EmailJob";
  std::string to;
  std::string subject;
  std::string body;

  void run(MyAppState&) const {
    // Send email logic here.
    fmt::print("Sending email to {} with subject: {}\n", to, subject);
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(EmailJob, to, subject, body)

int main() {
  // A scratch job database, removed at exit.
  const auto dir =
      std::filesystem::temp_directory_path() / fmt::format("errand-email-{}", getpid());
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};

  std::shared_ptr<errand::Store> store = errand::open_sqlite(dir / "jobs.db");

  // Enqueue the job with a context string for debugging; priority 0 by default.
  const EmailJob job{"user@example.com", "Welcome!", "Thank you for signing up!"};
  errand::enqueue(*store, job, "user-signup");
  // Low-priority background work runs after everything with a higher priority.
  errand::enqueue(*store, EmailJob{"team@example.com", "Weekly digest", "..."}, "digest", -10);

  errand::Registry<MyAppState> registry;
  registry.add<EmailJob>();
  MyAppState app;
  errand::Worker<MyAppState> worker(store, registry, app);
  const std::size_t runs = worker.run_until_idle();
  fmt::print("{} jobs ran\n", runs);
}
