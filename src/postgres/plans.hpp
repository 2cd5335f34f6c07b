// The planner settings every errand connection makes (session settings; transaction-local behind
// a pooler): they fix the plans of errand's statements whatever the table's statistics say.
#pragma once

#include "postgres/target.hpp"

#include <string_view>
#include <utility>

namespace errand::pg {

// Generic plans: errand's statements are prepared once per connection and their best plan does
// not depend on the parameters; re-planning each execution (custom plans) cost about a third of
// the server's CPU in a drain.
//
// A generic plan is made again whenever the table's statistics change (every VACUUM and ANALYZE,
// errand's own and autovacuum's), from what they say at that moment, and with LIMIT $n assumed
// to keep a tenth of the rows. Made while the jobs table was empty, the claim sorted every
// runnable row (180 ms per claim of 100 on 200,000 rows); made after an ANALYZE mid-drain, it
// hashed (or merge-joined) the whole table to update 100 rows: 2,860 buffers and 90-150 ms per
// claim, a drain of 200,000 jobs at 2k jobs/s instead of 30k+ (docs/architecture.md, "Plans").
// Every statement errand runs often has an index path that is right at any table size, so the
// alternatives that were only ever chosen by mistake are switched off: the planner still uses
// them where nothing else can answer a statement (an administrative count of every row, about
// 15% slower on 1,000,000 rows without a parallel scan). Such a plan's cost then includes the
// switch's penalty (10^10), which would make the server compile it to machine code (JIT) on every
// execution: JIT is off.
inline constexpr std::pair<std::string_view, std::string_view> kPlannerSettings[] = {
    {"plan_cache_mode", "force_generic_plan"},
    {"enable_seqscan", "off"},
    {"enable_sort", "off"},
    {"enable_hashjoin", "off"},
    {"enable_mergejoin", "off"},
    {"jit", "off"},
};

inline void add_planner_settings(Target& target) {
  for (const auto& [name, value] : kPlannerSettings)
    target.session_settings.emplace_back(name, value);
}

}  // namespace errand::pg
