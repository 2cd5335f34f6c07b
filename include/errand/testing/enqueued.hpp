// errand::testing checks on what is enqueued: all_enqueued, check_enqueued / check_not_enqueued
// (a result with a message) and require_enqueued / refute_enqueued (throw ExpectationFailed).
// "Enqueued" means in the jobs table, whatever its state (ready, scheduled, running); finished
// and dead jobs are not. Jobs of type J match when their stored name is J::name, their payload
// decodes as a J and the predicate, if any, holds.
#pragma once

#include <errand/job.hpp>
#include <errand/store.hpp>

#include <nlohmann/json.hpp>

#include <concepts>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace errand::testing {

// A job of type J found in the store: the decoded job and its row.
template <class J>
struct Enqueued {
  J job;
  JobInfo info;
};

// The outcome of a check: true when it holds; otherwise message() says what was expected and
// lists the jobs that are in the store.
class Check {
 public:
  static Check passed() { return Check(true, {}); }
  static Check failed(std::string message) { return Check(false, std::move(message)); }
  explicit operator bool() const { return ok_; }
  const std::string& message() const { return message_; }

 private:
  Check(bool ok, std::string message) : ok_(ok), message_(std::move(message)) {}
  bool ok_;
  std::string message_;
};

// Thrown by require_enqueued and refute_enqueued; what() is the check's message. Any test
// framework reports an exception escaping a test as a failure, with this text. Not an
// errand::Error: code under test that catches errand::Error does not swallow it.
class ExpectationFailed : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// A predicate on jobs of type J: bool(const J&), or bool(const J&, const JobInfo&) to look at
// the row too (run_at, priority, context, error_count, ...).
template <class P, class J>
concept JobPredicate =
    std::predicate<const P&, const J&> || std::predicate<const P&, const J&, const JobInfo&>;

// The predicate of the checks called without one: every job of the type.
struct AnyJob {
  template <class J>
  bool operator()(const J&) const {
    return true;
  }
};

namespace detail {

// Every row of the jobs table with this name, next to run first (at most 100,000).
std::vector<JobInfo> rows_named(Store& store, std::string_view name);

// The failure message of a check: `expected` says whether a match was wanted; `matching` are
// the ids that matched; `undecodable` the rows named `name` whose payload is not a J, with why.
struct Undecodable {
  JobId id;
  std::string error;
};
std::string enqueued_message(Store& store, std::string_view name, bool expected, bool has_predicate,
                             std::span<const JobId> matching,
                             std::span<const Undecodable> undecodable);

template <class J, class P>
bool holds(const P& predicate, const J& job, const JobInfo& info) {
  if constexpr (std::predicate<const P&, const J&, const JobInfo&>) {
    return predicate(job, info);
  } else {
    return predicate(job);
  }
}

template <class J>
struct Matches {
  std::vector<Enqueued<J>> found;
  std::vector<Undecodable> undecodable;
};

template <class J, class P>
Matches<J> find(Store& store, const P& predicate) {
  Matches<J> matches;
  static_assert(JsonDeserializable<J>,
                "errand::testing: the job type needs a nlohmann-json from_json to be checked");
  for (JobInfo& info : rows_named(store, J::name)) {
    std::optional<J> job;
    try {
      job.emplace(nlohmann::json::parse(info.payload).template get<J>());
    } catch (const std::exception& e) {
      matches.undecodable.push_back({info.id, e.what()});
      continue;
    }
    if (holds(predicate, *job, info)) matches.found.push_back({std::move(*job), std::move(info)});
  }
  return matches;
}

template <class J, class P>
Check check(Store& store, const P& predicate, bool expected) {
  const Matches<J> matches = find<J>(store, predicate);
  if (matches.found.empty() != expected) return Check::passed();
  std::vector<JobId> ids;
  for (const auto& m : matches.found)
    ids.push_back(m.info.id);
  return Check::failed(enqueued_message(store, J::name, expected, !std::same_as<P, AnyJob>, ids,
                                        matches.undecodable));
}

}  // namespace detail

// The enqueued jobs of type J for which `predicate` holds, next to run first.
template <class J, JobPredicate<J> P = AnyJob>
std::vector<Enqueued<J>> all_enqueued(Store& store, const P& predicate = {}) {
  errand::detail::check_enqueueable<J>();
  return detail::find<J>(store, predicate).found;
}

// Passes when at least one enqueued J satisfies `predicate`.
template <class J, JobPredicate<J> P = AnyJob>
Check check_enqueued(Store& store, const P& predicate = {}) {
  errand::detail::check_enqueueable<J>();
  return detail::check<J>(store, predicate, true);
}

// Passes when no enqueued J satisfies `predicate`.
template <class J, JobPredicate<J> P = AnyJob>
Check check_not_enqueued(Store& store, const P& predicate = {}) {
  errand::detail::check_enqueueable<J>();
  return detail::check<J>(store, predicate, false);
}

// Returns the enqueued jobs of type J that satisfy `predicate`; throws ExpectationFailed, whose
// message lists the store's jobs, when there is none.
template <class J, JobPredicate<J> P = AnyJob>
std::vector<Enqueued<J>> require_enqueued(Store& store, const P& predicate = {}) {
  std::vector<Enqueued<J>> found = all_enqueued<J>(store, predicate);
  if (found.empty()) throw ExpectationFailed(check_enqueued<J>(store, predicate).message());
  return found;
}

// Throws ExpectationFailed, listing the store's jobs, when an enqueued J satisfies `predicate`.
template <class J, JobPredicate<J> P = AnyJob>
void refute_enqueued(Store& store, const P& predicate = {}) {
  if (Check check = check_not_enqueued<J>(store, predicate); !check) {
    throw ExpectationFailed(check.message());
  }
}

}  // namespace errand::testing
