// Fuzzes what enqueue validates before anything reaches a store: errand::detail::make_row
// (src/core/enqueue.cpp), which every enqueue, Batch::add and the outbox enqueue go through.
//
// Input: a flags byte, four bytes of priority, the context, a NUL byte, then the payload data:
// with flag 1 it is parsed as a JSON document (invalid JSON: kept as one string); without, it
// becomes the fields of {"text": DATA, "size": N, "list": [DATA, null, true]}.
// Flags 2 and 4 set run_at and delay.
// Properties:
//   - make_row throws only EnqueueError, of kind serialization, exactly when the context is not
//     clean UTF-8 (valid, no NUL) or a string of the payload (key or value) is not valid UTF-8,
//     decided by the independent validator of utf8_reference.hpp;
//   - otherwise the row holds the name, context and priority given, run_at, and delay only
//     without run_at; its payload text is clean UTF-8 (NULs escaped), as PostgreSQL stores it,
//     and parses back to the same JSON.
#include <errand/enqueue.hpp>
#include <errand/error.hpp>

#include "utf8_reference.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void fail(const char* property, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz_enqueue_row: property violated: %s\n  %.*s\n", property,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// Valid UTF-8 (NUL allowed: JSON escapes it) in every string and key of the document.
bool strings_are_utf8(const nlohmann::json& json) {
  const auto valid = [](std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
      if (text[i] == '\0') {
        ++i;
        continue;
      }
      const std::size_t length = errand_fuzz::well_formed_length(text, i);
      if (length == 0) return false;
      i += length;
    }
    return true;
  };
  if (json.is_string()) return valid(json.get_ref<const std::string&>());
  if (json.is_object()) {
    for (const auto& [key, value] : json.items()) {
      if (!valid(key) || !strings_are_utf8(value)) return false;
    }
  }
  if (json.is_array()) {
    for (const auto& value : json) {
      if (!strings_are_utf8(value)) return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return 0;
  const std::uint8_t flags = data[0];
  std::int32_t priority = 0;
  std::memcpy(&priority, data + 1, sizeof priority);
  const std::string_view rest(reinterpret_cast<const char*>(data) + 5, size - 5);
  const auto nul = rest.find('\0');
  const std::string_view context = rest.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? "" : rest.substr(nul + 1);

  nlohmann::json payload;
  if (flags & 1) {
    payload = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (payload.is_discarded()) payload = std::string(text);
  } else {
    payload = {{"text", std::string(text)},
               {"size", text.size()},
               {"list", {std::string(text), nullptr, true}}};
  }

  errand::EnqueueOptions options;
  options.context = std::string(context);
  options.priority = priority;
  if (flags & 2) options.run_at = errand::TimePoint{errand::Duration{priority}};
  if (flags & 4) options.delay = std::chrono::seconds{flags};

  const bool valid = errand_fuzz::is_clean(context) && strings_are_utf8(payload);
  errand::NewJob row;
  try {
    row = errand::detail::make_row("FuzzJob", payload, options);
  } catch (const errand::EnqueueError& e) {
    if (valid) fail("EnqueueError for a valid job", e.what());
    if (e.kind() != errand::EnqueueError::Kind::serialization) fail("wrong EnqueueError kind");
    return 0;
  }
  if (!valid) fail("make_row accepted invalid text", payload.dump(-1, '?', true));
  if (row.name != "FuzzJob" || row.context != context || row.priority != priority) {
    fail("the row does not hold the job's name, context and priority");
  }
  if (row.run_at != options.run_at ||
      row.delay != (options.run_at ? std::nullopt : options.delay)) {
    fail("the row's run_at/delay differ from the options");
  }
  if (!errand_fuzz::is_clean(row.payload)) fail("the payload text is not clean UTF-8", row.payload);
  if (nlohmann::json::parse(row.payload) != payload) {
    fail("the payload text does not parse back to the payload", row.payload);
  }
  return 0;
}
