// Unique keys from an already parsed payload (errand/unique.hpp's detail::unique_key parses it).
#pragma once

#include <errand/unique.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace errand::detail {

// What is wrong with uniqueness `states` (no UniqueState, or bits that are none) or `period` (not
// above zero), as "its unique ... " text, or empty.
std::string unique_settings_problem(std::uint32_t states, std::optional<Duration> period);

// As unique_key, for `payload` already parsed. Throws EnqueueError (serialization).
std::string unique_key_of(std::string_view name, std::string_view queue,
                          const nlohmann::json& payload, const UniqueOptions& options);

}  // namespace errand::detail
