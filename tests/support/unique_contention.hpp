// Unique jobs under contention between processes: PROCESSES children of `errand_test_worker
// unique` each run THREADS threads that enqueue the same unique MarkJob CALLS times at once.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

namespace errand_test {

// How each call of a contention child enqueues MarkJob{7} (unique by its whole payload):
//   single  errand::enqueue, one job per call
//   batch   errand::enqueue_all of kUniqueBatchRows copies of it per call (one transaction)
//   period  errand::enqueue with a period of an hour and a run_at drawn from one hour of 2100
//           (one bucket), unique by the job type alone
inline constexpr int kUniqueBatchRows = 4;

// The child side (`errand_test_worker unique URL MODE THREADS CALLS OUT GO`): opens the store,
// creates OUT.ready, waits (60 s at most) for the file GO, then runs the threads; writes one
// line "ID OUTCOME" per job enqueued (a batch's rows included) to OUT. Exit status 0, else 1.
int run_unique_enqueuer(const std::string& url, std::string_view mode, int threads, int calls,
                        const std::filesystem::path& out, const std::filesystem::path& go);

// The parent side: starts `processes` children of `program` in `mode` against `url` with
// `threads` x `calls` each, releases them together, and expects (GoogleTest) that each exited
// cleanly, that the store holds exactly one job, that exactly one call reported it inserted and
// every other reported it a duplicate with its id. `scratch`: a directory for the outputs.
void expect_one_unique_job(const std::string& program, const std::string& url,
                           std::string_view mode, int processes, int threads, int calls,
                           const std::filesystem::path& scratch);

}  // namespace errand_test
