// Unique keys (errand/unique.hpp): SHA-256 over the parts of a job its UniqueOptions name.
#include <errand/enqueue.hpp>
#include <errand/error.hpp>
#include <errand/unique.hpp>

#include "core/text.hpp"
#include "core/unique_key.hpp"
#include "core/unique_sql.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <nlohmann/json.hpp>

#include <array>

namespace errand {

std::string_view to_string(EnqueueOutcome outcome) {
  switch (outcome) {
    case EnqueueOutcome::inserted:
      return "inserted";
    case EnqueueOutcome::duplicate:
      return "duplicate";
    case EnqueueOutcome::replaced:
      return "replaced";
  }
  return "unknown";
}

}  // namespace errand

namespace errand::detail {

namespace {

std::string sha256_hex(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1)
    throw Error("unique key: SHA-256 failed (OpenSSL)");
  constexpr std::string_view digits = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out += digits[digest[i] >> 4];
    out += digits[digest[i] & 0xf];
  }
  return out;
}

// Appends a part with its length, so that no two different lists of parts read the same.
void add_part(std::string& text, char tag, std::string_view part) {
  text += fmt::format("{}{}:", tag, part.size());
  text += part;
}

}  // namespace

std::string unique_settings_problem(std::uint32_t states, std::optional<Duration> period) {
  if ((states & kUniqueAllStates) == 0 || (states & ~kUniqueAllStates) != 0)
    return fmt::format(
        "its unique states must name at least one state (a mask of errand::UniqueState), not {}",
        states);
  if (period && period->count() <= 0) return "its unique period must be positive";
  return {};
}

std::string unique_key_of(std::string_view name, std::string_view queue,
                          const nlohmann::json& payload, const UniqueOptions& options) {
  if (const std::string problem = unique_settings_problem(options.states, options.period);
      !problem.empty())
    throw_serialization_error(name, problem.c_str());
  std::string text = "errand-unique-1\n";
  add_part(text, 'n', name);
  if (options.by_queue) add_part(text, 'q', queue);
  if (!options.fields) {
    add_part(text, 'p', payload.dump());  // object keys sorted: the same JSON, the same text
  } else if (!options.fields->empty()) {
    if (!payload.is_object())
      throw_serialization_error(name,
                                "unique fields are named, but the payload is not a JSON "
                                "object");
    nlohmann::json chosen = nlohmann::json::object();
    for (const std::string& field : *options.fields) {
      const auto it = payload.find(field);
      if (it == payload.end())
        throw_serialization_error(
            name, fmt::format("the payload has no field \"{}\", which its unique key names",
                              to_clean_utf8(field, 100))
                      .c_str());
      chosen[field] = *it;
    }
    add_part(text, 'f', chosen.dump());
  }
  return sha256_hex(text);
}

std::string unique_key(std::string_view name, std::string_view queue, std::string_view payload,
                       const UniqueOptions& options) {
  const bool needs_payload = !options.fields || !options.fields->empty();
  nlohmann::json parsed =
      needs_payload ? nlohmann::json::parse(payload, nullptr, false) : nlohmann::json::object();
  if (parsed.is_discarded())
    throw_serialization_error(name, "the payload is not JSON, so no unique key can be made");
  return unique_key_of(name, queue, parsed, options);
}

std::string stored_unique_key(std::string_view hex_key, std::int64_t run_at_us,
                              std::optional<std::int64_t> period_us) {
  const auto nibble = [](char c) {
    return static_cast<unsigned>(c <= '9' ? c - '0' : c - 'a' + 10);
  };
  std::string bytes;
  bytes.reserve(kStoredKeyHexDigits / 2 + 8);
  for (std::size_t i = 0; i + 1 < kStoredKeyHexDigits && i + 1 < hex_key.size(); i += 2)
    bytes += static_cast<char>((nibble(hex_key[i]) << 4) | nibble(hex_key[i + 1]));
  if (period_us) {
    const auto bucket = static_cast<std::uint64_t>(period_bucket(run_at_us, *period_us));
    for (int shift = 56; shift >= 0; shift -= 8)
      bytes += static_cast<char>((bucket >> shift) & 0xff);
  }
  return bytes;
}

}  // namespace errand::detail
