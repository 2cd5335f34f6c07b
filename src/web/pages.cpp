// errand::Web's pages: the dashboard's one HTML page (the script, web/assets/app.js, draws every
// view from the API), its assets (compiled in: web/assets.hpp), and signing in with the token.
// Stored text reaches the page only through the API's JSON, which the script writes as text
// (never as HTML); the Content-Security-Policy allows no inline script besides.
#include "web/api.hpp"
#include "web/assets.hpp"

#include <fmt/format.h>

#include <openssl/crypto.h>

namespace errand {

namespace {

std::string html_escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The value of `name` in an application/x-www-form-urlencoded body.
std::string form_field(std::string_view body, std::string_view name) {
  while (!body.empty()) {
    const std::size_t end = std::min(body.find('&'), body.size());
    const std::string_view pair = body.substr(0, end);
    body.remove_prefix(std::min(end + 1, body.size()));
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    std::string value;
    const std::string_view raw = pair.substr(eq + 1);
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') {
        value += ' ';
      } else if (raw[i] == '%' && i + 2 < raw.size() && hex_value(raw[i + 1]) >= 0 &&
                 hex_value(raw[i + 2]) >= 0) {
        value += static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
        i += 2;
      } else {
        value += raw[i];
      }
    }
    return value;
  }
  return {};
}

WebResponse html_response(int status, std::string body) {
  WebResponse response;
  response.status = status;
  response.content_type = "text/html; charset=utf-8";
  response.body = std::move(body);
  return response;
}

std::string login_page(std::string_view base, std::string_view store, bool failed) {
  return fmt::format(
      R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>errand: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{0}/assets/app.css"></head>
<body class="login"><main><h1>errand</h1><p class="muted">{1}</p>
<form method="post" action="{0}/login">
<label>Access token <input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">Sign in</button></form>{2}</main></body></html>
)",
      html_escape(base), html_escape(store),
      failed ? "<p class=\"error\" role=\"alert\">That token is not right.</p>" : "");
}

}  // namespace

WebResponse Web::Impl::page(const web::Call&) {
  return html_response(200, fmt::format(
                                R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>errand</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="errand-base" content="{0}">
<link rel="stylesheet" href="{0}/assets/app.css"></head>
<body><div id="app"><p class="muted">Loading...</p></div>
<script src="{0}/assets/app.js"></script></body></html>
)",
                                html_escape(options.base_path)));
}

WebResponse Web::Impl::asset(const web::Call& call) {
  const web::Asset* found = web::find_asset(call.segments[1]);
  if (!found) throw web::HttpError(404, "no such asset");
  WebResponse response;
  response.content_type = std::string(found->content_type);
  response.body = std::string(found->content);
  response.headers.emplace_back("Cache-Control", "no-cache");
  return response;
}

WebResponse Web::Impl::unauthorized(const web::Call& call) const {
  const bool api =
      !call.segments.empty() && (call.segments[0] == "api" || call.segments[0] == "metrics");
  WebResponse response =
      api || options.token.empty()
          ? web::error_response(401, "sign in: send Authorization: Bearer TOKEN (or basic auth)")
          : html_response(401, login_page(options.base_path, options.store_label, false));
  if (!options.basic_user.empty())
    response.headers.emplace_back("WWW-Authenticate", "Basic realm=\"errand\", charset=\"UTF-8\"");
  return response;
}

WebResponse Web::Impl::login(const web::Call& call) {
  const std::string token = form_field(call.request.body, "token");
  const bool ok = !options.token.empty() && token.size() == options.token.size() &&
                  CRYPTO_memcmp(token.data(), options.token.data(), token.size()) == 0;
  audit(fmt::format("web: sign-in from {}: {}", call.request.remote, ok ? "ok" : "wrong token"));
  if (!ok) return html_response(401, login_page(options.base_path, options.store_label, true));
  WebResponse response = html_response(303, "");
  const std::string home = options.base_path.empty() ? "/" : options.base_path + "/";
  response.headers.emplace_back("Location", home);
  response.headers.emplace_back(
      "Set-Cookie", fmt::format("{}={}; Path={}; HttpOnly; SameSite=Strict", kSessionCookie,
                                session, options.base_path.empty() ? "/" : options.base_path));
  return response;
}

}  // namespace errand
