// errand::Web: authentication, CSRF, read-only mode, the audit log and routing (errand/web.hpp).
// The handlers are in api_*.cpp (web/api.hpp); the pages in pages.cpp.
#include "web/api.hpp"

#include <errand/error.hpp>
#include <errand/store.hpp>

#include "core/text.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>

namespace errand {

namespace {

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1)
    throw Error("errand web: no random bytes for a secret (OpenSSL RAND_bytes failed)");
  std::string hex;
  for (const unsigned char b : raw)
    hex += fmt::format("{:02x}", b);
  return hex;
}

// Compares in time that does not depend on where they differ.
bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string decode_base64(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > 4096) return {};
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return {};
  std::size_t size = static_cast<std::size_t>(n);
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '=' && size > 0; --i)
    --size;  // EVP_DecodeBlock counts padding as bytes
  out.resize(size);
  return out;
}

// The value of cookie `name` in the request's Cookie headers.
std::optional<std::string> cookie(const WebRequest& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (!web::same_header_name(key, "cookie")) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      const std::size_t end = std::min(rest.find(';'), rest.size());
      std::string_view part = rest.substr(0, end);
      rest.remove_prefix(std::min(end + 1, rest.size()));
      while (!part.empty() && part.front() == ' ')
        part.remove_prefix(1);
      const std::size_t eq = part.find('=');
      if (eq != std::string_view::npos && part.substr(0, eq) == name)
        return std::string(part.substr(eq + 1));
    }
  }
  return std::nullopt;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  while (!path.empty()) {
    const std::size_t slash = path.find('/');
    if (slash != 0) segments.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

void default_audit(std::string_view line) {
  std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
}

}  // namespace

Web::Web(std::shared_ptr<Store> store, WebOptions options) : impl_(std::make_unique<Impl>()) {
  if (!store) throw ConfigError("errand web: no store");
  if (!options.base_path.empty() &&
      (options.base_path.front() != '/' || options.base_path.back() == '/' ||
       options.base_path.find_first_of("?#\"'<> ") != std::string::npos)) {
    throw ConfigError(
        "errand web: base_path must be empty or start with '/' and not end with one, e.g. "
        "\"/errand\"");
  }
  if (options.basic_user.empty() != options.basic_password.empty())
    throw ConfigError("errand web: basic auth needs both a user and a password");
  if (options.basic_user.find(':') != std::string::npos)
    throw ConfigError("errand web: a basic auth user name cannot hold ':'");
  if (options.search_time_limit < Duration{0})
    throw ConfigError("errand web: search_time_limit must not be negative (0: no limit)");
  if (options.store_label.empty()) options.store_label = store->describe();
  if (!options.audit) options.audit = default_audit;
  impl_->store = std::move(store);
  impl_->options = std::move(options);
  impl_->csrf = random_hex(32);
  impl_->session = random_hex(32);
}

Web::~Web() = default;

const WebOptions& Web::options() const {
  return impl_->options;
}

WebResponse Web::handle(const WebRequest& request) {
  WebResponse response = impl_->guarded(request);
  // Stored text is shown as text, never as markup; the CSP stops any injected script besides.
  response.headers.emplace_back("Content-Security-Policy",
                                "default-src 'self'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  if (response.content_type.starts_with("application/json"))
    response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

WebResponse Web::Impl::guarded(const WebRequest& request) {
  try {
    return handle(request);
  } catch (const web::HttpError& e) {
    return web::error_response(e.status, e.what());
  } catch (const ConfigError& e) {
    return web::error_response(400, e.what());
  } catch (const StoreError& e) {
    audit(fmt::format("web: {} {}: store error: {}", request.method,
                      detail::to_clean_utf8(request.path, 200), e.what()));
    return web::error_response(503, std::string("the store failed: ") + e.what());
  } catch (const std::exception& e) {
    audit(fmt::format("web: {} {}: internal error: {}", request.method,
                      detail::to_clean_utf8(request.path, 200), e.what()));
    return web::error_response(500, "internal error (see the server's log)");
  }
}

void Web::Impl::audit(const std::string& line) const {
  options.audit(detail::to_clean_utf8(line, 4000));
}

// Who sent the request, or nullopt when it is not authenticated (no token or basic auth set:
// "open").
std::optional<std::string> Web::Impl::authenticate(const WebRequest& request) const {
  const bool token_auth = !options.token.empty();
  const bool basic_auth = !options.basic_user.empty();
  if (!token_auth && !basic_auth) return "open";
  const std::optional<std::string> authorization = web::header(request, "authorization");
  if (authorization) {
    const std::string_view a = *authorization;
    if (token_auth && a.starts_with("Bearer ") && same_secret(a.substr(7), options.token))
      return "token";
    if (basic_auth && a.starts_with("Basic ")) {
      const std::string pair = decode_base64(a.substr(6));
      const std::size_t colon = pair.find(':');
      // Both halves compared in full, whichever differs.
      const bool user =
          colon != std::string::npos && same_secret(pair.substr(0, colon), options.basic_user);
      const bool password =
          colon != std::string::npos && same_secret(pair.substr(colon + 1), options.basic_password);
      if (user && password) {
        return "basic:" + options.basic_user;
      }
    }
  }
  if (token_auth) {
    if (const auto value = cookie(request, kSessionCookie); value && same_secret(*value, session))
      return "token (session)";
  }
  return std::nullopt;
}

WebResponse Web::Impl::handle(const WebRequest& request) {
  std::string_view path = request.path;
  if (!options.base_path.empty()) {
    if (!path.starts_with(options.base_path)) throw web::HttpError(404, "not found");
    path.remove_prefix(options.base_path.size());
  }
  web::Call call{.request = request, .segments = split_path(path), .who = {}};
  const bool is_post = request.method == "POST";
  if (!is_post && request.method != "GET" && request.method != "HEAD")
    throw web::HttpError(405, "only GET and POST are served");

  // Signing in with the token: the one POST that needs neither a session nor a CSRF token.
  if (is_post && call.segments == std::vector<std::string>{"login"}) return login(call);

  const std::optional<std::string> who = authenticate(request);
  if (!who) {
    audit(fmt::format("web: refused {} {} from {}: not signed in", request.method,
                      detail::to_clean_utf8(request.path, 200), request.remote));
    return unauthorized(call);
  }
  call.who = *who;
  if (is_post) {
    if (options.read_only) {
      audit(fmt::format("web: refused {} {} from {} ({}): read-only", request.method,
                        detail::to_clean_utf8(request.path, 200), request.remote, call.who));
      throw web::HttpError(403, "this dashboard is read-only: no action is allowed");
    }
    const std::optional<std::string> token = web::header(request, kCsrfHeader);
    if (!token || !same_secret(*token, csrf)) {
      audit(fmt::format("web: refused {} {} from {} ({}): no valid CSRF token", request.method,
                        detail::to_clean_utf8(request.path, 200), request.remote, call.who));
      throw web::HttpError(
          403, "missing or wrong CSRF token: send the X-Errand-CSRF header GET /api/session gives");
    }
  }
  return route(call);
}

}  // namespace errand
