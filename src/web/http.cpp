// The web handlers' shared helpers (web/http.hpp).
#include "web/http.hpp"

#include "core/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace errand::web {

bool same_header_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string quote(std::string_view text) {
  return nlohmann::json(detail::to_clean_utf8(text, 100)).dump();
}

std::optional<std::string> non_empty(const Params& params, std::string_view name) {
  for (const auto& [key, value] : params) {
    if (key == name) return value.empty() ? std::nullopt : std::optional<std::string>(value);
  }
  return std::nullopt;
}

std::optional<std::string> Call::param(std::string_view name) const {
  for (const auto& [key, value] : request.query) {
    if (key == name) return value;
  }
  return std::nullopt;
}

nlohmann::json Call::body_object() const {
  if (request.body.empty()) return nlohmann::json::object();
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) throw HttpError(400, "the request body is not valid JSON");
  if (!body.is_object()) throw HttpError(400, "the request body must be a JSON object");
  return body;
}

std::optional<std::string> header(const WebRequest& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (same_header_name(key, name)) return value;
  }
  return std::nullopt;
}

WebResponse json_response(const nlohmann::json& body, int status) {
  WebResponse response;
  response.status = status;
  response.content_type = "application/json; charset=utf-8";
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

WebResponse error_response(int status, std::string_view message) {
  return json_response({{"error", detail::to_clean_utf8(message, 2000)}, {"status", status}},
                       status);
}

std::int64_t parse_int(std::string_view text, std::int64_t min, std::int64_t max,
                       std::string_view what) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    throw HttpError(400, fmt::format("{} must be a whole number from {} to {}, not {}", what, min,
                                     max, quote(text)));
  }
  return value;
}

std::int64_t parse_id(std::string_view text, std::string_view what) {
  return parse_int(text, 1, INT64_MAX, what);
}

void refuse_unknown(std::string_view key, std::initializer_list<std::string_view> known,
                    std::string_view what, std::string_view owner, std::string_view prefix) {
  if (!prefix.empty() && key.starts_with(prefix) && key.size() > prefix.size()) return;
  for (const std::string_view k : known) {
    if (key == k) return;
  }
  std::string takes = fmt::format("{}", fmt::join(known, ", "));
  if (!prefix.empty()) takes += fmt::format(", {}NAME", prefix);
  throw HttpError(400, fmt::format("unknown {} {} ({} takes: {})", what, quote(key), owner, takes));
}

}  // namespace errand::web
