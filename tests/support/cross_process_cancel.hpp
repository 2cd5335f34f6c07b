// A cancel requested in this process reaching a job running in another (errand_test_worker
// block): the run's stop token fires, it throws, and the job ends cancelled.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace errand_test {

// Starts `program block URL ...` with a heartbeat every `heartbeat`, enqueues one BlockJob,
// waits until it runs, cancels it through a store of this process's own, and expects (GoogleTest)
// that the run sees its stop token within 30 s and that the job ends `cancelled`. With a
// heartbeat longer than that, only a notification can have told the worker (PostgreSQL's
// NOTIFY). `scratch`: a directory for the worker's output file.
void expect_cancel_reaches_another_process(const std::string& program, const std::string& url,
                                           std::chrono::milliseconds heartbeat,
                                           const std::filesystem::path& scratch);

}  // namespace errand_test
