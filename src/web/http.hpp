// What the web handlers share: a request's parts, JSON and error responses, and HttpError, the
// one way a handler refuses a request (a 4xx status and a message that quotes nothing secret).
#pragma once

#include <errand/web.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace errand::web {

// Query parameters (WebRequest::query), or a bulk action's filter as such: decoded, in order.
using Params = std::vector<std::pair<std::string, std::string>>;
// The first value of `name`, unless absent or empty (an empty field means "not given").
std::optional<std::string> non_empty(const Params& params, std::string_view name);

struct HttpError : std::runtime_error {
  HttpError(int status, const std::string& message) : std::runtime_error(message), status(status) {}
  int status;
};

// A request the router accepted: the path's segments after the base path, who sent it.
struct Call {
  const WebRequest& request;
  std::vector<std::string> segments;  // "/api/jobs/42" -> {"api", "jobs", "42"}
  std::string who;                    // for the audit log: "token", "basic:NAME", "open"

  // The first value of query parameter `name`, if given.
  std::optional<std::string> param(std::string_view name) const;
  // The request's body as a JSON object ({} when empty); HttpError 400 when it is not one.
  nlohmann::json body_object() const;
};

// Header names compare in any case.
bool same_header_name(std::string_view a, std::string_view b);
// The first value of header `name`, if given.
std::optional<std::string> header(const WebRequest& request, std::string_view name);

WebResponse json_response(const nlohmann::json& body, int status = 200);
WebResponse error_response(int status, std::string_view message);

// `text` for a message: valid UTF-8, at most 100 bytes, as a JSON string ("a \"b\"").
std::string quote(std::string_view text);

// HttpError 400 unless `key` is one of `known` (or, with a `prefix`, starts with it): "unknown
// {what} KEY ({owner} takes: ...)". A typo must not read as "no filter".
void refuse_unknown(std::string_view key, std::initializer_list<std::string_view> known,
                    std::string_view what, std::string_view owner, std::string_view prefix = {});

// Parses a positive job id ("42"); HttpError 400 naming `what` otherwise.
std::int64_t parse_id(std::string_view text, std::string_view what);
// Parses an integer in [min, max]; HttpError 400 naming `what` otherwise.
std::int64_t parse_int(std::string_view text, std::int64_t min, std::int64_t max,
                       std::string_view what);

}  // namespace errand::web
