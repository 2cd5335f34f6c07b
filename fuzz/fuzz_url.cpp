// Fuzzes the database URL parser behind open_store and the CLI's --db (src/core/url.hpp and
// src/core/conninfo.hpp), the PostgreSQL target built from it (src/postgres/target.hpp), and the
// real connect-error path (pg::Connection against a loopback port where nothing listens).
//
// Input: one mode byte, then
//   mode % 4 == 0: the URL itself (any bytes);
//   mode % 4 == 2: a libpq key=value string (any bytes), given to pg::make_target;
//   mode odd:      scheme, user, password and rest, separated by NUL bytes, assembled into
//                  SCHEME://USER:PASSWORD@REST (the scheme is postgres, postgresql, sqlite, mysql
//                  or the first part made into a valid scheme, by the mode); postgres ones are
//                  also connected to (host and port forced to 127.0.0.1 and a closed port).
// Properties:
//   - only errand::ConfigError escapes parsing, only StoreError connecting (anything else aborts
//     the fuzzer);
//   - a sqlite URL gives a non-empty path, the URL's own tail, without NUL bytes or '?';
//   - a postgres target has no NUL in any keyword or value, no errand parameter (schema, listen,
//     pooler) among libpq's keywords, and its description parses again to the same target but
//     for the secrets, the password shown as ***;
//   - passwords never reach messages, as non-interference: the same URL with its password's bytes
//     replaced (letters and digits by others of their kind, hex digits by hex digits, '0' and '%'
//     kept, so percent-encodings stay as valid as they were) gives the same outcome, the same
//     message and the same description, and the same connect error. The password is what libpq
//     reads for postgres URLs (the user information ends at the first '@' before any '/'), RFC
//     3986's otherwise (scheme "://" authority up to '/', '?' or '#'; user information up to the
//     authority's last '@'); in either, the password follows the user information's first ':'.
#include "core/url.hpp"
#include "postgres/pq.hpp"
#include "postgres/target.hpp"

#include <errand/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

// A byte of the same kind as `c` but different: letters for letters, hex digits for hex digits
// ('0' kept: "%00" must stay refused), other digits for digits; anything else kept.
char replacement(char c) {
  const auto hex = [](char h) { return (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'); };
  if (c >= '1' && c <= '9') return c == '9' ? '1' : static_cast<char>(c + 1);
  if (hex(c)) return c == 'f' ? 'a' : c == 'F' ? 'A' : static_cast<char>(c + 1);
  if ((c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z')) {
    return c == 'z' ? 'g' : c == 'Z' ? 'G' : static_cast<char>(c + 1);
  }
  return c;
}

// A loopback port where nothing listens, found once.
int closed_port() {
  static const int port = [] {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return static_cast<int>(ntohs(address.sin_port));
  }();
  return port;
}

// What connecting to the target says, with everything that says where to connect forced to
// the closed loopback port: nothing may go anywhere else.
std::string connect_error(std::string_view url) {
  std::shared_ptr<errand::pg::Target> target;
  try {
    // Refuses what libpq does not know, which parse_store_url (pure) does not check.
    target = std::make_shared<errand::pg::Target>(errand::pg::make_target(url));
  } catch (const errand::ConfigError& e) {
    return e.what();
  }
  auto& params = target->info.params;
  std::erase_if(params, [](const auto& p) {
    return p.first == "hostaddr" || p.first == "service" || p.first == "host" ||
           p.first == "port" || p.first == "connect_timeout" || p.first == "sslmode" ||
           p.first == "gssencmode" || p.first == "require_auth";
  });
  target->info.set("host", "127.0.0.1");
  target->info.set("port", std::to_string(closed_port()));
  target->info.set("connect_timeout", "2");
  target->info.set("sslmode", "disable");
  target->info.set("gssencmode", "disable");
  // Without the scrubber (a last line of defence that masks secrets wherever they occur, even in
  // a message's own words): libpq's messages themselves must not depend on the password.
  target->info.secrets.clear();
  try {
    errand::pg::Connection connection(target);
  } catch (const errand::StoreError& e) {
    return e.what();
  }
  return "(connected)";
}

std::string description_of(const Outcome& outcome) {
  const auto* parsed = std::get_if<StoreUrl>(&outcome);
  return parsed && parsed->kind == StoreUrl::Kind::postgres ? parsed->postgres.describe() : "";
}

void check_non_interference(std::string_view url, const Outcome& outcome, bool connect) {
  const auto password = password_of(url);
  if (!password) return;
  std::string other(url);
  for (std::size_t i = password->begin; i < password->end; ++i)
    other[i] = replacement(other[i]);
  if (other == url) return;
  const Outcome again = parse(other);
  if (outcome.index() != again.index()) {
    fail("changing the password changes whether the URL is accepted", url, other);
  }
  if (const auto* message = std::get_if<std::string>(&outcome)) {
    if (*message != std::get<std::string>(again)) {
      fail("an error message depends on the password", url,
           "message: " + *message + "\n  with another password: " + std::get<std::string>(again));
    }
    return;
  }
  const auto& a = std::get<StoreUrl>(outcome);
  const auto& b = std::get<StoreUrl>(again);
  if (a.kind != b.kind || a.schema != b.schema || a.listen != b.listen) {
    fail("the password changes the parsed schema/listen", url);
  }
  if (description_of(outcome) != description_of(again)) {
    fail("the description depends on the password", url, description_of(outcome));
  }
  if (connect && a.kind == StoreUrl::Kind::postgres) {
    const std::string first = connect_error(url);
    const std::string second = connect_error(other);
    if (first != second) {
      fail("a connect error depends on the password", url,
           "error: " + first + "\n  with another password: " + second);
    }
  }
}

void check_target(std::string_view url, const errand::detail::PgConnInfo& info) {
  for (const auto& [key, value] : info.params) {
    if (key.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
      fail("NUL byte in a libpq keyword or value", url, key);
    }
    if (key == "schema" || key == "listen" || key == "pooler") {
      fail("errand's own parameter left for libpq", url, key);
    }
  }
  if (info.schema && info.schema->empty()) fail("empty schema accepted", url);
  // (That the description shows no secret is checked by non-interference: a secret may equal
  // a piece of the description's own text, such as "postgres".)
  const std::string described = info.describe();
  errand::detail::PgConnInfo again;
  try {
    again = errand::detail::parse_pg_conninfo(described);
  } catch (const errand::ConfigError& e) {
    fail("the description does not parse again", url, described + "\n  " + e.what());
  }
  const auto public_params = [](const errand::detail::PgConnInfo& i) {
    auto params = i.params;
    std::erase_if(params, [](const auto& p) { return errand::detail::treated_as_secret(p.first); });
    std::sort(params.begin(), params.end());
    return params;
  };
  if (public_params(info) != public_params(again)) {
    fail("the description names another target", url, described);
  }
  if (info.find("password") && (!again.find("password") || *again.find("password") != "***")) {
    fail("the description does not mask the password as ***", url, described);
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
    if (path.find('?') != std::string::npos) fail("'?' in the sqlite path", url);
    if (!parsed.conninfo.empty() || parsed.schema || parsed.listen) {
      fail("postgres fields set for a sqlite URL", url);
    }
    return;
  }
  if (!url.starts_with("postgres://") && !url.starts_with("postgresql://")) {
    fail("a postgres target from a URL without postgres://", url);
  }
  check_target(url, parsed.postgres);
}

void check(std::string_view url, bool connect) {
  const Outcome outcome = parse(url);
  if (const auto* parsed = std::get_if<StoreUrl>(&outcome)) {
    check_result(url, *parsed);
  } else if (std::get<std::string>(outcome).empty()) {
    fail("empty error message", url);
  }
  check_non_interference(url, outcome, connect);
}

// A libpq key=value string: only ConfigError, and the target's properties.
void check_keyword_values(std::string_view text) {
  try {
    const auto target = errand::pg::make_target(text);
    check_target(text, target.info);
  } catch (const errand::ConfigError& e) {
    if (std::string_view(e.what()).empty()) fail("empty error message", text);
  }
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
  if (mode % 4 == 0) {
    check(rest, false);
    return 0;
  }
  if (mode % 4 == 2) {
    check_keyword_values(rest);
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
  check(url, postgres);
  return 0;
}
