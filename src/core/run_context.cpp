#include <errand/error.hpp>
#include <errand/run_context.hpp>
#include <errand/store.hpp>

#include "core/text.hpp"

#include <fmt/format.h>

#include <cmath>

namespace errand {

RunContext::RunContext(const ClaimedJob& job, std::stop_token token, detail::RunSink* sink)
    : job_(job), token_(std::move(token)), sink_(sink) {}

JobId RunContext::id() const {
  return job_.id;
}

std::string_view RunContext::name() const {
  return job_.name;
}

std::int32_t RunContext::attempt() const {
  return job_.error_count + 1;
}

std::int32_t RunContext::snoozes() const {
  return job_.snoozes;
}

std::string_view RunContext::context() const {
  return job_.context;
}

std::optional<TickContext> RunContext::tick() const {
  return parse_tick_context(job_.context);
}

std::string_view RunContext::queue() const {
  return job_.queue;
}

std::string_view RunContext::partition_key() const {
  return job_.partition_key;
}

TimePoint RunContext::claimed_at() const {
  return job_.locked_at;
}

bool RunContext::cancel_requested() const {
  return sink_ && sink_->cancel_requested();
}

void RunContext::set_output(const nlohmann::json& value) {
  std::string text;
  try {
    text = value.dump();
  } catch (const nlohmann::json::exception& e) {
    throw RunContextError(fmt::format("job {} ({}): the output cannot be serialized: {}", job_.id,
                                      job_.name, e.what()));
  }
  set_output_json(text);
}

void RunContext::set_output_json(std::string_view json) {
  const std::size_t cap = sink_ ? sink_->max_output_bytes() : kDefaultMaxOutputBytes;
  if (json.size() > cap) {
    throw RunContextError(fmt::format(
        "job {} ({}): the output is {} bytes, more than max_output_bytes ({} bytes); nothing "
        "was recorded (raise WorkerOptions::max_output_bytes, or store large results elsewhere "
        "and output a reference)",
        job_.id, job_.name, json.size(), cap));
  }
  if (!detail::is_clean_utf8(json) || !nlohmann::json::accept(json)) {
    throw RunContextError(
        fmt::format("job {} ({}): the output is not one valid JSON value in UTF-8; nothing was "
                    "recorded",
                    job_.id, job_.name));
  }
  if (sink_) sink_->record_output(std::string(json));
}

void RunContext::progress(double value, std::string_view message) {
  if (!std::isfinite(value)) {
    throw RunContextError(fmt::format("job {} ({}): progress must be a finite number, not {}",
                                      job_.id, job_.name, value));
  }
  if (message.size() > kMaxProgressMessageBytes) {
    throw RunContextError(fmt::format(
        "job {} ({}): the progress message is {} bytes, more than {}; nothing was recorded",
        job_.id, job_.name, message.size(), kMaxProgressMessageBytes));
  }
  if (!detail::is_clean_utf8(message)) {
    throw RunContextError(
        fmt::format("job {} ({}): the progress message is not valid UTF-8 (or holds a NUL); "
                    "nothing was recorded",
                    job_.id, job_.name));
  }
  if (sink_) sink_->record_progress(value, std::string(message));
}

}  // namespace errand
