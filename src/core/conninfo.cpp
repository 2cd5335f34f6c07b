#include "core/conninfo.hpp"

#include <errand/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace errand::detail {

namespace {

constexpr std::string_view kUrlSchemes[] = {"postgresql://", "postgres://"};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// libpq's percent-decoding: %XX with two hex digits, never %00; nothing else is special.
// `what` names the part in the error, which never shows the text.
std::string percent_decode(std::string_view text, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const int high = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
    const int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
    if (high < 0 || low < 0) {
      throw ConfigError(fmt::format(
          "database URL: {} has an invalid percent-encoding ('%' must be followed by two hex "
          "digits; write a literal '%' as %25)",
          what));
    }
    const char decoded = static_cast<char>(high * 16 + low);
    if (decoded == '\0') throw ConfigError(fmt::format("database URL: {} holds %00", what));
    out += decoded;
    i += 2;
  }
  return out;
}

// Everything but RFC 3986's unreserved characters, percent-encoded.
std::string percent_encode(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", byte);
    }
  }
  return out;
}

// A keyword that is (nearly) a secret one: its value is treated as a secret too, since it is most
// likely a password under a mistyped name.
bool looks_secret(std::string_view keyword) {
  std::string lower(keyword);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const std::string_view secret : {"password", "sslpassword"}) {
    if (edit_distance(lower, secret) <= 3) return true;
  }
  return lower.find("pass") != std::string::npos || lower.find("pwd") != std::string::npos;
}

// Refuses a keyword `known` does not hold, naming it by `where` (never by its text).
void check_known(std::string_view key, const KeywordSet* known, std::string_view where) {
  if (!known || known->contains(key)) return;
  std::string_view closest;
  std::size_t best = 4;  // suggest only close matches
  for (const std::string& candidate : *known) {
    const std::size_t d = edit_distance(key, candidate);
    if (d < best) best = d, closest = candidate;
  }
  throw ConfigError(fmt::format(
      "{} names a parameter libpq does not know (not shown, as it may be a mistyped "
      "password){}",
      where, closest.empty() ? std::string() : fmt::format("; did you mean '{}'?", closest)));
}

void add_secret(PgConnInfo& info, std::string_view raw, const std::string& decoded) {
  if (!raw.empty()) info.secrets.emplace_back(raw);
  if (!decoded.empty() && decoded != raw) info.secrets.push_back(decoded);
}

void take_errand_parameter(PgConnInfo& info, std::string_view key, const std::string& value) {
  if (key == "schema") {
    if (value.empty()) throw ConfigError("database URL: schema= needs a name");
    info.schema = value;
  } else if (key == "listen") {
    if (value != "on" && value != "off") {
      // The value is not shown: it may be a password in the wrong place.
      throw ConfigError("database URL: listen= takes on or off (expected on or off)");
    }
    info.listen = value == "on";
  } else if (key == "claim_commit") {
    if (value != "async" && value != "durable") {
      throw ConfigError(
          "database URL: claim_commit= takes async or durable (expected async or durable)");
    }
    info.asynchronous_claims = value == "async";
  } else {  // pooler
    if (value != "transaction" && value != "none") {
      throw ConfigError(
          "database URL: pooler= takes transaction (PgBouncer in transaction pooling mode) or "
          "none (expected transaction or none)");
    }
    info.transaction_pooler = value == "transaction";
  }
}

bool is_errand_parameter(std::string_view key) {
  return key == "schema" || key == "listen" || key == "pooler" || key == "claim_commit";
}

void parse_query(std::string_view query, PgConnInfo& info, const KeywordSet* known) {
  std::size_t item_number = 0;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    ++item_number;
    if (item.empty()) continue;  // "?a=1&&b=2", a trailing '&'
    const auto eq = item.find('=');
    // The item is never shown: a password typed without its "password=" may be all it holds.
    if (eq == std::string_view::npos) {
      throw ConfigError(fmt::format(
          "database URL: the {} query parameter has no '=' (expected name=value; not shown, as "
          "it may be a password)",
          ordinal(item_number)));
    }
    if (item.find('=', eq + 1) != std::string_view::npos) {
      throw ConfigError(fmt::format(
          "database URL: the {} query parameter has more than one '=' (percent-encode '=' in "
          "values as %3D)",
          ordinal(item_number)));
    }
    const std::string what = fmt::format("the {} query parameter", ordinal(item_number));
    std::string key = percent_decode(item.substr(0, eq), what);
    const std::string_view raw_value = item.substr(eq + 1);
    std::string value = percent_decode(raw_value, what);
    if (treated_as_secret(key)) add_secret(info, raw_value, value);
    if (is_errand_parameter(key)) {
      take_errand_parameter(info, key, value);
      continue;
    }
    if (key == "ssl" && value == "true") {  // libpq's JDBC compatibility
      key = "sslmode";
      value = "require";
    }
    check_known(key, known, "database URL: the " + ordinal(item_number) + " query parameter");
    info.set(key, std::move(value));
  }
}

PgConnInfo parse_url(std::string_view rest, const KeywordSet* known) {
  PgConnInfo info;
  // User information: up to the first '@' before any '/', as libpq reads it.
  const auto userinfo_end = rest.find_first_of("@/");
  const bool took_userinfo = userinfo_end != std::string_view::npos && rest[userinfo_end] == '@';
  if (took_userinfo) {
    const std::string_view userinfo = rest.substr(0, userinfo_end);
    rest.remove_prefix(userinfo_end + 1);
    const auto colon = userinfo.find(':');
    const std::string user = percent_decode(userinfo.substr(0, colon), "the user name");
    if (colon != std::string_view::npos) {
      const std::string_view raw = userinfo.substr(colon + 1);
      // Recorded before decoding, so that even a password refused for its encoding is a secret.
      info.secrets.emplace_back(raw);
      const std::string password = percent_decode(raw, "the password");
      add_secret(info, {}, password);
      if (!password.empty()) info.set("password", password);
    }
    if (!user.empty()) info.set("user", user);
  }
  // An '@' left before the query means the password held a '/' or an '@': libpq would read a
  // piece of it as a host or database name, and echo it in its errors.
  // So does a first segment "name:text" that is no host:port (its text is not a port number)
  // with an '@' anywhere after it: "user:pass/word?x@host" read as libpq does.
  const auto query_start = rest.find('?');
  const std::string_view first_segment = rest.substr(0, rest.find_first_of("/?"));
  const auto colon = first_segment.find(':');
  const bool password_like =
      !took_userinfo && colon != std::string_view::npos && !first_segment.starts_with('[') &&
      first_segment.find(',') == std::string_view::npos &&
      first_segment.substr(colon + 1).find_first_not_of("0123456789") != std::string_view::npos &&
      rest.find('@') != std::string_view::npos;
  if (password_like || rest.substr(0, query_start).find('@') != std::string_view::npos) {
    throw ConfigError(
        "database URL: an '@' follows the user name and password: percent-encode the "
        "characters '@', '/', ':', '?' and '%' in the password (%40, %2F, %3A, %3F, %25), or "
        "leave the password out of the URL (PGPASSWORD, ~/.pgpass or PGSERVICE)");
  }

  // Hosts and ports: host[:port][,host[:port]...]; IPv6 addresses in brackets.
  std::string hosts, ports;
  char stop = '\0';
  for (;;) {
    std::string_view host;
    if (!rest.empty() && rest.front() == '[') {
      const auto close = rest.find(']');
      if (close == std::string_view::npos) {
        throw ConfigError("database URL: an IPv6 host address lacks its closing ']'");
      }
      host = rest.substr(1, close - 1);
      if (host.empty()) throw ConfigError("database URL: an IPv6 host address is empty");
      rest.remove_prefix(close + 1);
      if (!rest.empty() && std::string_view(":/?,").find(rest.front()) == std::string_view::npos) {
        throw ConfigError(
            "database URL: after an IPv6 host address ']' must come ':', '/', '?', ',' or the end");
      }
    } else {
      const auto end = rest.find_first_of(":/?,");
      host = rest.substr(0, end);
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    }
    hosts += host;
    stop = rest.empty() ? '\0' : rest.front();
    if (stop == ':') {
      rest.remove_prefix(1);
      const auto end = rest.find_first_of("/?,");
      ports += rest.substr(0, end);
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
      stop = rest.empty() ? '\0' : rest.front();
    }
    if (stop != ',') break;
    rest.remove_prefix(1);
    hosts += ',';
    ports += ',';
  }
  if (!hosts.empty()) info.set("host", percent_decode(hosts, "the host"));
  // Only commas: every host on the default port, as when no port is given.
  if (ports.find_first_not_of(',') != std::string::npos) {
    info.set("port", percent_decode(ports, "the port"));
  }

  if (stop == '/') {
    rest.remove_prefix(1);
    const auto end = rest.find('?');
    const std::string dbname = percent_decode(rest.substr(0, end), "the database name");
    if (!dbname.empty()) info.set("dbname", dbname);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    stop = rest.empty() ? '\0' : '?';
  }
  if (stop == '?') parse_query(rest.substr(1), info, known);
  return info;
}

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// libpq's key=value grammar: keyword = value, separated by white space; a value is either
// single-quoted (backslash escapes \' and \\) or runs to the next white space (backslash escapes
// any character).
PgConnInfo parse_keyword_values(std::string_view text, const KeywordSet* known) {
  PgConnInfo info;
  std::size_t i = 0, item_number = 0;
  const auto skip_space = [&] {
    while (i < text.size() && is_space(text[i]))
      ++i;
  };
  for (;;) {
    skip_space();
    if (i == text.size()) break;
    ++item_number;
    const std::size_t key_start = i;
    while (i < text.size() && text[i] != '=' && !is_space(text[i]))
      ++i;
    const std::string key(text.substr(key_start, i - key_start));
    skip_space();
    if (i == text.size() || text[i] != '=') {
      throw ConfigError(fmt::format(
          "connection string: the {} item has no '=' after its keyword (expected keyword=value; "
          "not shown, as it may be a password)",
          ordinal(item_number)));
    }
    ++i;
    skip_space();
    const std::size_t raw_start = i;
    std::string value;
    if (i < text.size() && text[i] == '\'') {
      for (++i;; ++i) {
        if (i == text.size()) {
          throw ConfigError(
              fmt::format("connection string: the {} item's quoted value has no closing quote",
                          ordinal(item_number)));
        }
        if (text[i] == '\\' && i + 1 < text.size()) {
          value += text[++i];
        } else if (text[i] == '\'') {
          ++i;
          break;
        } else {
          value += text[i];
        }
      }
    } else {
      while (i < text.size() && !is_space(text[i])) {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        value += text[i++];
      }
    }
    if (treated_as_secret(key)) {
      add_secret(info, text.substr(raw_start, i - raw_start), value);
    }
    check_known(key, known, "connection string: the " + ordinal(item_number) + " item");
    info.set(key, std::move(value));
  }
  return info;
}

}  // namespace

std::string ordinal(std::size_t n) {
  const char* suffix = n % 100 >= 11 && n % 100 <= 13 ? "th"
                       : n % 10 == 1                  ? "st"
                       : n % 10 == 2                  ? "nd"
                       : n % 10 == 3                  ? "rd"
                                                      : "th";
  return fmt::format("{}{}", n, suffix);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

bool is_secret_keyword(std::string_view keyword) {
  return keyword == "password" || keyword == "sslpassword";
}

bool treated_as_secret(std::string_view keyword) {
  return is_secret_keyword(keyword) || looks_secret(keyword);
}

const std::string* PgConnInfo::find(std::string_view keyword) const {
  for (const auto& [key, value] : params) {
    if (key == keyword) return &value;
  }
  return nullptr;
}

void PgConnInfo::set(std::string_view keyword, std::string value) {
  // libpq treats an empty value as none (the default, or the PG* environment variable).
  if (value.empty()) {
    std::erase_if(params, [&](const auto& p) { return p.first == keyword; });
    return;
  }
  for (auto& [key, old] : params) {
    if (key == keyword) {
      old = std::move(value);
      return;
    }
  }
  params.emplace_back(std::string(keyword), std::move(value));
}

void PgConnInfo::set_default(std::string_view keyword, std::string value) {
  if (!find(keyword)) params.emplace_back(std::string(keyword), std::move(value));
}

std::string PgConnInfo::describe() const {
  std::string out = "postgres://";
  const std::string* user = find("user");
  if (user) out += percent_encode(*user);
  if (find("password")) out += ":***";
  if (user || find("password")) out += '@';
  // host1:port1,host2:port2 (libpq pairs the comma-separated lists by position; an empty entry
  // is its default).
  const auto split = [](const std::string* list) {
    std::vector<std::string_view> items;
    if (!list) return items;
    std::string_view rest = *list;
    for (;;) {
      const auto comma = rest.find(',');
      items.push_back(rest.substr(0, comma));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return items;
  };
  const auto hosts = split(find("host"));
  // One port for several hosts goes in the query (port=), where it stays one port for all.
  const bool shared_port = hosts.size() > 1 && find("port") && split(find("port")).size() == 1;
  const auto ports = shared_port ? std::vector<std::string_view>{} : split(find("port"));
  for (std::size_t i = 0; i < std::max(hosts.size(), ports.size()); ++i) {
    const std::string_view host = i < hosts.size() ? hosts[i] : std::string_view{};
    const std::string_view port = i < ports.size() ? ports[i] : std::string_view{};
    if (i > 0) out += ',';
    if (host.find(':') != std::string_view::npos &&
        host.find_first_not_of("0123456789abcdefABCDEF:.") == std::string_view::npos) {
      out += '[' + std::string(host) + ']';  // IPv6
    } else {
      out += percent_encode(host);
    }
    if (!port.empty()) out += ':' + percent_encode(port);
  }
  out += '/';
  if (const std::string* dbname = find("dbname")) out += percent_encode(*dbname);
  char separator = '?';
  if (shared_port) {
    out += "?port=" + percent_encode(*find("port"));
    separator = '&';
  }
  for (const auto& [key, value] : params) {
    if (key == "user" || key == "host" || key == "port" || key == "dbname" ||
        treated_as_secret(key)) {
      continue;
    }
    out += separator + percent_encode(key) + '=' + percent_encode(value);
    separator = '&';
  }
  return out;
}

namespace {
// libpq pairs hosts and ports by position: one port for every host, or one for all.
void check_hosts_and_ports(const PgConnInfo& info) {
  const std::string* host = info.find("host");
  const std::string* port = info.find("port");
  const auto entries = [](const std::string* list) {
    return list ? static_cast<std::size_t>(std::count(list->begin(), list->end(), ',')) + 1 : 1;
  };
  const std::size_t hosts = entries(host), ports = entries(port);
  if (ports > 1 && ports != hosts) {
    throw ConfigError(fmt::format(
        "connection target: {} ports for {} hosts (give one port for every host, or one for all)",
        ports, hosts));
  }
}
}  // namespace

PgConnInfo parse_pg_conninfo(std::string_view text, const KeywordSet* known) {
  if (text.find('\0') != std::string_view::npos) {
    throw ConfigError("database URL contains a NUL byte");
  }
  for (const std::string_view scheme : kUrlSchemes) {
    if (text.starts_with(scheme)) {
      PgConnInfo info = parse_url(text.substr(scheme.size()), known);
      check_hosts_and_ports(info);
      return info;
    }
  }
  if (text.starts_with("postgres:") || text.starts_with("postgresql:")) {
    throw ConfigError("database URL: a PostgreSQL URL starts with postgres:// (two slashes)");
  }
  PgConnInfo info = parse_keyword_values(text, known);
  check_hosts_and_ports(info);
  return info;
}

std::string scrub_secrets(std::string message, std::span<const std::string> secrets) {
  std::vector<std::string_view> sorted(secrets.begin(), secrets.end());
  // Longest first, so that a secret holding another is masked whole.
  std::sort(sorted.begin(), sorted.end(),
            [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
  for (const std::string_view secret : sorted) {
    if (secret.size() < 4) continue;
    for (auto pos = message.find(secret); pos != std::string::npos;
         pos = message.find(secret, pos + 3)) {
      message.replace(pos, secret.size(), "***");
    }
  }
  return message;
}

}  // namespace errand::detail
