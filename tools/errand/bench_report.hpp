// What `errand bench` prints on stdout once the phases are done: a markdown table followed by
// how each figure was measured, or with --json one JSON object on one line. A skipped figure is
// "skipped" in the table and null in the JSON; latencies are given as nearest-rank percentiles.
#pragma once

#include "bench_options.hpp"
#include "bench_phases.hpp"
#include "bench_scratch.hpp"

namespace errand::cli {

// Prints the report of `result` (sorting its latencies) for a run on `scratch` with `opts`.
void print_report(const Scratch& scratch, const BenchOptions& opts, Result& result);

}  // namespace errand::cli
