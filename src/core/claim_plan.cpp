// Deciding a claim from queue snapshots (core/claim_plan.hpp).
#include "core/claim_plan.hpp"

#include "core/rows.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>

namespace errand::detail {

std::vector<RateEntry> parse_rate_log(std::string_view text) {
  std::vector<RateEntry> log;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = text.find(' ', i);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view item = text.substr(i, end - i);
    i = end + 1;
    const std::size_t colon = item.find(':');
    if (colon == std::string_view::npos) continue;
    RateEntry entry;
    const char* at_end = item.data() + colon;
    const char* count_end = item.data() + item.size();
    const auto a = std::from_chars(item.data(), at_end, entry.at);
    const auto c = std::from_chars(at_end + 1, count_end, entry.count);
    if (a.ec != std::errc{} || a.ptr != at_end || c.ec != std::errc{} || c.ptr != count_end ||
        entry.count < 1 || !valid_stored_micros(entry.at)) {
      continue;
    }
    if (!log.empty() && entry.at < log.back().at) continue;  // out of order: not ours
    log.push_back(entry);
  }
  return log;
}

std::string format_rate_log(const std::vector<RateEntry>& log) {
  std::string text;
  for (const RateEntry& entry : log) {
    if (!text.empty()) text += ' ';
    text += fmt::format("{}:{}", entry.at, entry.count);
  }
  return text;
}

ConfigError unknown_queue_error(std::string_view name, std::string_view store,
                                const std::vector<std::string>& known) {
  return ConfigError(fmt::format(
      "no queue named {} in {} (known: {}); a queue becomes known when a job is enqueued into "
      "it or a worker serves it",
      quoted_value(name), store,
      known.empty() ? std::string("none") : fmt::format("{}", fmt::join(known, ", "))));
}

namespace {

// The rate log's claims still inside the window at `now`, and when the next token frees up if
// none is left.
struct RateUse {
  std::int64_t used = 0;
  std::optional<TimePoint> opens_at{};
};

RateUse rate_use(const std::vector<RateEntry>& log, const RateLimit& rate, std::int64_t now_us) {
  RateUse use;
  const std::int64_t period = rate.period.count();
  // A claim at `at` counts while now < at + period: the window is (now - period, now].
  std::size_t first = 0;
  while (first < log.size() && log[first].at + period <= now_us)
    ++first;
  for (std::size_t i = first; i < log.size(); ++i)
    use.used += log[i].count;
  if (use.used >= rate.limit) {
    // The next claim is allowed once enough old entries have left the window.
    std::int64_t left = use.used;
    for (std::size_t i = first; i < log.size(); ++i) {
      left -= log[i].count;
      if (left < rate.limit) {
        use.opens_at = time_from_micros(log[i].at + period);
        break;
      }
    }
  }
  return use;
}

std::int64_t last_logged(const std::vector<RateEntry>& log) {
  return log.empty() ? std::numeric_limits<std::int64_t>::min() : log.back().at;
}

}  // namespace

QueueWant want_of(const ClaimRequest& request, std::string_view queue) {
  if (request.queues.empty()) return {request.max, request.prefetch};
  for (const QueueDemand& demand : request.queues) {
    if (demand.queue == queue) return {demand.max, demand.prefetch};
  }
  return {};
}

std::size_t allowance(const QueueSnapshot& queue, std::size_t max, std::size_t prefetch,
                      TimePoint now) {
  if (queue.paused) return 0;
  std::size_t n = max;
  if (!queue.limits.rate) n += prefetch;
  if (queue.limits.global) {
    const std::int64_t global = *queue.limits.global;
    const std::int64_t free = std::max<std::int64_t>(0, global - queue.running);
    const std::int64_t slots = std::min(static_cast<std::int64_t>(max), free);
    n = static_cast<std::size_t>(slots);
    // Prefetch only from the part of the limit that stays free beyond its upper half: jobs held
    // locally then never keep a worker with a free thread from a slot while the limit binds.
    if (!queue.limits.rate) {
      const std::int64_t spare = free - slots - (global + 1) / 2;
      n += static_cast<std::size_t>(
          std::clamp<std::int64_t>(spare, 0, static_cast<std::int64_t>(prefetch)));
    }
  }
  if (queue.limits.rate) {
    const auto log = parse_rate_log(queue.rate_log);
    const std::int64_t at = std::max(micros_of(now), last_logged(log));
    const RateUse use = rate_use(log, *queue.limits.rate, at);
    const std::int64_t tokens = queue.limits.rate->limit - use.used;
    n = std::min(n, static_cast<std::size_t>(std::max<std::int64_t>(0, tokens)));
  }
  return n;
}

namespace {

// The candidates a queue gives, in its order: all up to `n` without a per-key limit; with one,
// keys in turn (first pass: one job of each key with room, then a second of each, ...), each key
// within its room.
std::vector<std::size_t> queue_picks(const QueueSnapshot& queue, std::size_t n) {
  std::vector<std::size_t> picks;
  if (!queue.limits.per_key) {
    for (std::size_t i = 0; i < queue.candidates.size() && picks.size() < n; ++i)
      picks.push_back(i);
    return picks;
  }
  // Group the candidates by key, keeping the turn order of the keys.
  struct KeyGroup {
    std::string_view key;
    std::vector<std::size_t> jobs;
    std::int64_t room = 0;
  };
  const auto room_of = [&](std::string_view key) {
    const auto running = queue.running_by_key.find(key);
    return *queue.limits.per_key - (running == queue.running_by_key.end() ? 0 : running->second);
  };
  std::vector<KeyGroup> groups;
  for (std::size_t i = 0; i < queue.candidates.size(); ++i) {
    const std::string& key = queue.candidates[i].partition_key;
    if (groups.empty() || groups.back().key != key) groups.push_back({key, {}, room_of(key)});
    groups.back().jobs.push_back(i);
  }
  for (std::size_t pass = 0; picks.size() < n; ++pass) {
    bool any = false;
    for (const KeyGroup& group : groups) {
      if (picks.size() >= n) break;
      if (pass >= group.jobs.size() || static_cast<std::int64_t>(pass) >= group.room) continue;
      picks.push_back(group.jobs[pass]);
      any = true;
    }
    if (!any) break;
  }
  return picks;
}

}  // namespace

ClaimPlan plan_claim(const std::vector<QueueSnapshot>& queues, const ClaimRequest& request,
                     TimePoint now) {
  ClaimPlan plan;
  std::int64_t claimed_at = micros_of(now);
  std::vector<std::vector<std::size_t>> per_queue(queues.size());
  for (std::size_t q = 0; q < queues.size(); ++q) {
    const QueueSnapshot& queue = queues[q];
    const QueueWant want = want_of(request, queue.name);
    if (queue.limits.rate) {
      claimed_at = std::max(claimed_at, last_logged(parse_rate_log(queue.rate_log)));
    }
    per_queue[q] = queue_picks(queue, allowance(queue, want.max, want.prefetch, now));
  }
  // Take turns: the first pick of each queue, then the second, ... With explicit queues each
  // keeps its own allowance; from every queue they share the request's.
  const std::size_t cap = request.queues.empty() ? request.max + request.prefetch
                                                 : std::numeric_limits<std::size_t>::max();
  // From every queue, queues with a rate take no prefetch: they stop at request.max.
  std::vector<std::size_t> taken(queues.size(), 0);
  for (std::size_t rank = 0; plan.picks.size() < cap; ++rank) {
    bool any = false;
    for (std::size_t q = 0; q < queues.size() && plan.picks.size() < cap; ++q) {
      if (rank >= per_queue[q].size()) continue;
      any = true;
      const bool no_prefetch = queues[q].limits.rate.has_value();
      if (request.queues.empty() && no_prefetch && plan.picks.size() >= request.max) continue;
      plan.picks.push_back({q, per_queue[q][rank]});
      ++taken[q];
    }
    if (!any) break;
  }
  plan.claimed_at = time_from_micros(claimed_at);
  for (std::size_t q = 0; q < queues.size(); ++q) {
    const QueueSnapshot& queue = queues[q];
    // With a per-key limit the next claim starts after the key of the last job taken.
    std::optional<std::string> cursor = queue.key_cursor;
    if (queue.limits.per_key && taken[q] > 0) {
      cursor = queue.candidates[per_queue[q][taken[q] - 1]].partition_key;
    }
    const bool cursor_moved = cursor != queue.key_cursor;
    if (queue.limits.rate) {
      auto log = parse_rate_log(queue.rate_log);
      const std::int64_t period = queue.limits.rate->period.count();
      std::size_t first = 0;
      while (first < log.size() && log[first].at + period <= claimed_at)
        ++first;
      // Pruned only by a claim that also logs itself at claimed_at: a later claim may carry an
      // earlier time (read before it waited for the queue's lock) and must still count what
      // was inside its own window; every time logged after this entry is at least claimed_at.
      if (taken[q] > 0) log.erase(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(first));
      if (taken[q] > 0) {
        if (!log.empty() && log.back().at == claimed_at) {
          log.back().count += static_cast<std::int64_t>(taken[q]);
        } else {
          log.push_back({claimed_at, static_cast<std::int64_t>(taken[q])});
        }
      }
      const std::string text = format_rate_log(log);
      const RateUse use = rate_use(log, *queue.limits.rate, claimed_at);
      // Held back by its rate with jobs waiting: when to look again.
      if (use.opens_at && queue.candidates.size() > taken[q] && !queue.paused) {
        plan.rate_opens_at = std::min(plan.rate_opens_at.value_or(TimePoint::max()), *use.opens_at);
      }
      if (text != queue.rate_log || cursor_moved) plan.writes.push_back({q, text, cursor});
    } else if (cursor_moved) {
      plan.writes.push_back({q, queue.rate_log, cursor});
    }
  }
  return plan;
}

}  // namespace errand::detail

namespace errand::detail {

namespace {

void read_keys_in_turn(QueueReader& reader, QueueSnapshot& queue, std::size_t n, TimePoint now) {
  const std::optional<std::string> cursor = queue.key_cursor;
  std::optional<std::string> key = reader.next_key(queue, cursor, now);
  bool wrapped = !cursor.has_value();
  if (!key && !wrapped) {
    key = reader.next_key(queue, std::nullopt, now);
    wrapped = true;
  }
  // Up to n keys with room (each gives a job in the first turn), each read up to its room (for
  // the later turns of this claim).
  std::size_t keys = 0;
  while (key && keys < n) {
    const auto running = queue.running_by_key.find(*key);
    const std::int64_t room =
        *queue.limits.per_key - (running == queue.running_by_key.end() ? 0 : running->second);
    if (room > 0) {
      const std::size_t before = queue.candidates.size();
      reader.read_ready(queue, std::min(n, static_cast<std::size_t>(room)), &*key, now);
      if (queue.candidates.size() > before) ++keys;
    }
    std::optional<std::string> next = reader.next_key(queue, key, now);
    if (!next && !wrapped) {
      next = reader.next_key(queue, std::nullopt, now);
      wrapped = true;
    }
    // Once wrapped, the keys up to the cursor (inclusive) close the turn.
    if (!next || (wrapped && cursor && *next > *cursor) || *next == *key) break;
    key = std::move(next);
  }
}

}  // namespace

void read_snapshots(QueueReader& reader, std::vector<QueueSnapshot>& queues,
                    const ClaimRequest& request, TimePoint now) {
  for (QueueSnapshot& queue : queues) {
    if (queue.paused) continue;
    const QueueWant want = want_of(request, queue.name);
    if (want.max + want.prefetch == 0) continue;
    if (queue.limits.global || queue.limits.per_key) reader.read_leases(queue);
    std::size_t n = allowance(queue, want.max, want.prefetch, now);
    // With a rate, one candidate more tells whether jobs wait once its tokens are spent (then the
    // worker learns when the window opens).
    if (queue.limits.rate) ++n;
    if (n == 0) continue;
    if (queue.limits.per_key) {
      read_keys_in_turn(reader, queue, n, now);
    } else {
      reader.read_ready(queue, n, nullptr, now);
    }
  }
}

void rotate_after(std::vector<QueueSnapshot>& queues, const std::string& after_queue) {
  const auto first = std::upper_bound(
      queues.begin(), queues.end(), after_queue,
      [](const std::string& name, const QueueSnapshot& q) { return name < q.name; });
  std::rotate(queues.begin(), first, queues.end());
}

}  // namespace errand::detail

namespace errand::detail {

void apply_update(QueueSnapshot& queue, const QueueUpdate& update) {
  if (update.paused) queue.paused = *update.paused;
  if (update.clear_limits) queue.limits = {};
  if (update.global) queue.limits.global = update.global;
  if (update.per_key) queue.limits.per_key = update.per_key;
  if (update.rate) queue.limits.rate = update.rate;
}

QueueInfo queue_info(const QueueSnapshot& queue, TimePoint updated_at, TimePoint now) {
  QueueInfo info;
  info.name = queue.name;
  info.paused = queue.paused;
  info.limits = queue.limits;
  info.updated_at = updated_at;
  if (queue.limits.rate) {
    // From the rate log alone: not capped by a pause or the global limit.
    const auto log = parse_rate_log(queue.rate_log);
    const std::int64_t at = std::max(micros_of(now), last_logged(log));
    const RateUse use = rate_use(log, *queue.limits.rate, at);
    info.rate_tokens =
        static_cast<std::int32_t>(std::max<std::int64_t>(0, queue.limits.rate->limit - use.used));
  }
  return info;
}

}  // namespace errand::detail
