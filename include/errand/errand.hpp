// errand: durable background jobs for C++. Include this for the whole public API.
#pragma once

#include <errand/clock.hpp>
#include <errand/enqueue.hpp>
#include <errand/error.hpp>
#include <errand/job.hpp>
#include <errand/metrics.hpp>
#include <errand/open.hpp>
#include <errand/options.hpp>
#include <errand/postgres.hpp>
#include <errand/registry.hpp>
#include <errand/signals.hpp>
#include <errand/sqlite.hpp>
#include <errand/store.hpp>
#include <errand/store_wrapper.hpp>
#include <errand/version.hpp>
#include <errand/worker.hpp>
