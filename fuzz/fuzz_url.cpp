// Fuzzes the database URL parser behind open_store and the CLI's --db (src/core/url.hpp), and
// the PostgreSQL store's password masking (errand::pg::redact, src/postgres/pq.hpp).
//
// Input: one mode byte, then
//   mode even: the URL itself (any bytes);
//   mode odd:  scheme, user, password and rest, separated by NUL bytes, assembled into
//              SCHEME://USER:PASSWORD@REST (the scheme is postgres, postgresql, sqlite, mysql or
//              the first part made into a valid scheme, by the mode).
// Properties:
//   - only errand::ConfigError escapes (anything else aborts the fuzzer);
//   - a sqlite URL gives a non-empty path, the URL's own tail, without NUL bytes;
//   - a postgres URL gives a conninfo without NUL bytes: the URL without its empty query items
//     and errand's own (schema=, listen=), the query being where libpq finds it; it parses again
//     to itself with no schema/listen, so libpq never sees errand's parameters; a given schema=
//     is non-empty;
//   - passwords never reach error messages, as non-interference: the same URL with each byte of
//     its password changed gives the same outcome and the same message. The password is what the
//     URL's consumer would take: libpq's reading for postgres URLs (userinfo ends at the first
//     '@' before any '/'), RFC 3986's otherwise (scheme "://" authority up to '/', '?' or '#';
//     userinfo up to the authority's last '@'); in either, the password follows the userinfo's
//     first ':'. pg::redact of a postgres URL must not depend on its password either. (Only one
//     thing about a password may show: that it holds a NUL byte, for which the whole URL is
//     refused.)
#include "core/url.hpp"
#include "postgres/pq.hpp"

#include <errand/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace {

using errand::detail::StoreUrl;

[[noreturn]] void fail(const char* property, std::string_view url, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz_url: property violated: %s\n  url (%zu bytes): ", property,
               url.size());
  for (const char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7F && byte != '\\') {
      std::fputc(byte, stderr);
    } else {
      std::fprintf(stderr, "\\x%02X", byte);
    }
  }
  std::fprintf(stderr, "\n  %.*s\n", static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// The parse's outcome: the result, or the ConfigError's message.
using Outcome = std::variant<StoreUrl, std::string>;

Outcome parse(std::string_view url) {
  try {
    return errand::detail::parse_store_url(url);
  } catch (const errand::ConfigError& e) {
    return std::string(e.what());
  }
}

bool is_scheme(std::string_view scheme) {
  const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (scheme.empty() || !alpha(scheme[0])) return false;
  for (const char c : scheme) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

struct Span {
  std::size_t begin = 0, end = 0;
};

// Where the password is, as the URL's consumer reads it (see the top of the file).
std::optional<Span> password_of(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || !is_scheme(url.substr(0, scheme_end))) {
    return std::nullopt;
  }
  const std::size_t start = scheme_end + 3;
  std::size_t at = std::string_view::npos;
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    const auto stop = url.find_first_of("@/", start);
    if (stop != std::string_view::npos && url[stop] == '@') at = stop;
  } else {
    const auto authority_end = url.find_first_of("/?#", start);
    const auto authority =
        url.substr(start, authority_end == std::string_view::npos ? std::string_view::npos
                                                                  : authority_end - start);
    const auto last_at = authority.rfind('@');
    if (last_at != std::string_view::npos) at = start + last_at;
  }
  if (at == std::string_view::npos) return std::nullopt;
  const auto colon = url.substr(0, at).find(':', start);
  if (colon == std::string_view::npos || colon + 1 == at) return std::nullopt;
  return Span{colon + 1, at};
}

void check_non_interference(std::string_view url, const Outcome& outcome) {
  const auto password = password_of(url);
  if (!password) return;
  std::string other(url);
  // NUL bytes stay: a URL holding one is refused whatever its password.
  for (std::size_t i = password->begin; i < password->end; ++i) {
    if (other[i] != '\0') other[i] = other[i] == 'x' ? 'y' : 'x';
  }
  // The PostgreSQL store's own masking (its describe() and error messages) is held to the same.
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    const std::string masked = errand::pg::redact(url);
    if (masked != errand::pg::redact(other)) {
      fail("pg::redact depends on the password", url, "masked: " + masked);
    }
  }
  const Outcome again = parse(other);
  if (outcome.index() != again.index()) {
    fail("changing the password changes whether the URL is accepted", url);
  }
  if (const auto* message = std::get_if<std::string>(&outcome)) {
    if (*message != std::get<std::string>(again)) {
      fail("an error message depends on the password", url,
           "message: " + *message + "\n  with another password: " + std::get<std::string>(again));
    }
  } else {
    const auto& a = std::get<StoreUrl>(outcome);
    const auto& b = std::get<StoreUrl>(again);
    if (a.kind != b.kind || a.schema != b.schema || a.listen != b.listen) {
      fail("the password changes the parsed schema/listen", url);
    }
  }
}

void check_result(std::string_view url, const StoreUrl& parsed) {
  if (parsed.kind == StoreUrl::Kind::sqlite) {
    const std::string& path = parsed.sqlite_path;
    if (path.empty()) fail("empty sqlite path", url);
    if (!url.starts_with("sqlite:") || !url.ends_with(path)) {
      fail("the sqlite path is not the URL's tail", url, path);
    }
    if (path.find('\0') != std::string::npos) fail("NUL byte in the sqlite path", url);
    if (!parsed.conninfo.empty() || parsed.schema || parsed.listen) {
      fail("postgres fields set for a sqlite URL", url);
    }
    return;
  }
  const std::string& conninfo = parsed.conninfo;
  if (conninfo.find('\0') != std::string::npos) fail("NUL byte in the conninfo", url);
  if (!(url.starts_with("postgres://") && conninfo.starts_with("postgres://")) &&
      !(url.starts_with("postgresql://") && conninfo.starts_with("postgresql://"))) {
    fail("the conninfo does not keep the URL's scheme", url, conninfo);
  }
  if (conninfo.size() > url.size()) fail("the conninfo is longer than the URL", url, conninfo);
  if (parsed.schema && parsed.schema->empty()) fail("empty schema accepted", url);
  // The conninfo is the URL with the query items that are empty or errand's removed, the query
  // being where libpq finds it: after the first '?' that follows the user name and password.
  const std::size_t authority = url.starts_with("postgres://") ? 11 : 13;
  const auto userinfo_end = url.find_first_of("@/", authority);
  const auto question = url.find(
      '?', userinfo_end != std::string_view::npos && url[userinfo_end] == '@' ? userinfo_end + 1
                                                                              : authority);
  std::string expected(url.substr(0, question));
  if (question != std::string_view::npos) {
    char separator = '?';
    std::string_view query = url.substr(question + 1);
    while (true) {
      const auto amp = query.find('&');
      const std::string_view item = query.substr(0, amp);
      const std::string_view key = item.substr(0, item.find('='));
      if (!item.empty() && key != "schema" && key != "listen") {
        expected += separator;
        expected += item;
        separator = '&';
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  // ... or that with an empty path ("/") added before the '?', where the URL has no path.
  std::string with_path = expected;
  if (question != std::string_view::npos &&
      url.substr(authority, question - authority).find_first_of("@/") == std::string_view::npos) {
    with_path.insert(question, "/");
  }
  if (conninfo != expected && conninfo != with_path) {
    fail("the conninfo is not the URL without errand's parameters", url, conninfo);
  }
  const Outcome again = parse(conninfo);
  const auto* reparsed = std::get_if<StoreUrl>(&again);
  if (reparsed == nullptr) {
    fail("the conninfo does not parse again", url,
         conninfo + "\n  " + std::get<std::string>(again));
  }
  if (reparsed->kind != StoreUrl::Kind::postgres || reparsed->conninfo != conninfo ||
      reparsed->schema || reparsed->listen) {
    fail("errand's own parameters (schema=, listen=) left in the conninfo", url, conninfo);
  }
}

void check(std::string_view url) {
  const Outcome outcome = parse(url);
  if (const auto* parsed = std::get_if<StoreUrl>(&outcome)) {
    check_result(url, *parsed);
  } else if (std::get<std::string>(outcome).empty()) {
    fail("empty error message", url);
  }
  check_non_interference(url, outcome);
}

// Splits at the next NUL byte.
std::string_view take_part(std::string_view& rest) {
  const auto nul = rest.find('\0');
  const std::string_view part = rest.substr(0, nul);
  rest = nul == std::string_view::npos ? std::string_view{} : rest.substr(nul + 1);
  return part;
}

std::string without(std::string_view text, std::string_view bytes) {
  std::string out;
  for (const char c : text) {
    if (bytes.find(c) == std::string_view::npos) out += c;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (mode % 2 == 0) {
    check(rest);
    return 0;
  }
  const std::string_view scheme_part = take_part(rest);
  const std::string_view user = take_part(rest);
  const std::string_view password = take_part(rest);
  std::string scheme;
  switch ((mode >> 1) % 5) {
    case 0:
      scheme = "postgres";
      break;
    case 1:
      scheme = "postgresql";
      break;
    case 2:
      scheme = "sqlite";
      break;
    case 3:
      scheme = "mysql";
      break;
    default:
      scheme = "x" + without(scheme_part, "");
      if (!is_scheme(scheme)) scheme = "x";
  }
  // USER holds no ':', '@' or '/', PASSWORD no '@' or '/' (nor '?' or '#' outside postgres
  // URLs, where they would end the authority): then PASSWORD is the password in every reading of
  // password_of, which check() verifies by non-interference.
  const bool postgres = scheme.starts_with("postgres");
  const std::string clean_password = without(password, postgres ? "@/" : "@/?#");
  const std::string url = scheme + "://" + without(user, postgres ? ":@/" : ":@/?#") + ":" +
                          clean_password + "@" + std::string(rest);
  if (!clean_password.empty() && !password_of(url)) fail("no password found in a built URL", url);
  check(url);
  return 0;
}
