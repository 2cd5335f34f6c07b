// The databases written by errand at schema version 2 (tests/fixtures/README.md), and what each
// must hold once migrated: every job in the state it had, under its id, nothing lost.
#pragma once

#include <errand/clock.hpp>
#include <errand/store.hpp>

#include <filesystem>
#include <string>

namespace errand_test {

// tests/fixtures/<name>.
std::filesystem::path v2_fixture(const std::string& name);

// A time just after the fixtures were written (their jobs' created_at), to open them on a
// ManualClock: then their scheduled jobs are still scheduled and their running ones running.
errand::TimePoint v2_fixture_time(errand::TimePoint first_created_at);

// Checks (GoogleTest expectations) that `store`, migrated from the fixture, holds its 11 jobs in
// their states and values; `unicode_payload` is job 11's payload as read before migrating.
void expect_v2_jobs_migrated(errand::Store& store, const std::string& unicode_payload);

// Then that the migrated store works: a new id follows the old ones, the dead jobs can be
// retried, the ready jobs run.
void expect_v2_store_works(errand::Store& store);

}  // namespace errand_test
