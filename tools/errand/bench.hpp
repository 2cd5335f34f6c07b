// errand bench: enqueue and drain throughput, enqueue-to-run latency, CPU and memory of worker
// processes, against a fresh schema (PostgreSQL) or fresh files (SQLite) of the --db store.
#pragma once

#include "commands.hpp"

#include <CLI/CLI.hpp>

#include <vector>

namespace errand::cli {

// `errand bench` and the hidden `errand bench-worker` it spawns for the drain.
void add_bench(CLI::App& app, const Globals& globals, std::vector<Command>& commands);

}  // namespace errand::cli
