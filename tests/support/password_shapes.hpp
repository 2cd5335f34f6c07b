// Generated passwords embedded in every shape of connection text we could think of, for the
// property "no piece of a password ever appears in anything errand writes" (tests/secrets_*).
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace errand_test {

// Every byte outside RFC 3986's unreserved set percent-encoded.
inline std::string percent_encoded(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
        (byte >= '0' && byte <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
  }
  return out;
}

// `text` inside single quotes for a key=value string (\ and ' escaped).
inline std::string conninfo_quoted(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

// Passwords of 10 to 24 bytes: printable ASCII (every URL metacharacter among them), spaces and
// multi-byte UTF-8, from a fixed seed so a failure reproduces.
inline std::vector<std::string> generated_passwords(std::size_t count, std::uint64_t seed) {
  static const std::vector<std::string> extra = {" ", "\xC3\xA9", "\xE2\x82\xAC",
                                                 "\xF0\x9F\x94\x91"};
  std::mt19937_64 random(seed);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i) {
    std::string password;
    const std::size_t length = 10 + random() % 15;
    while (password.size() < length) {
      if (random() % 8 == 0) {
        password += extra[random() % extra.size()];
      } else {
        password += static_cast<char>('!' + random() % 94);  // '!' .. '~'
      }
    }
    out.push_back(std::move(password));
  }
  return out;
}

// A shape: the connection text for a password, a host and a port.
struct PasswordShape {
  std::string name;
  std::function<std::string(const std::string& password, const std::string& host_port)> make;
};

// Correct and broken URLs and key=value strings, each holding the password somewhere.
inline std::vector<PasswordShape> password_shapes() {
  using P = const std::string&;
  const auto enc = [](P p) { return percent_encoded(p); };
  // HOST:PORT as the key=value string's host= and port=.
  const auto host_port = [](P hp) {
    const auto colon = hp.rfind(':');
    return "host=" + hp.substr(0, colon) + " port=" + hp.substr(colon + 1);
  };
  return {
      {"url, encoded", [=](P p, P hp) { return "postgres://u:" + enc(p) + "@" + hp + "/db"; }},
      {"url, raw", [](P p, P hp) { return "postgres://u:" + p + "@" + hp + "/db"; }},
      {"postgresql url with parameters",
       [=](P p, P hp) {
         return "postgresql://u:" + enc(p) + "@" + hp + "/db?sslmode=disable&connect_timeout=5";
       }},
      {"no user", [=](P p, P hp) { return "postgres://:" + enc(p) + "@" + hp + "/db"; }},
      {"password parameter",
       [=](P p, P hp) { return "postgres://" + hp + "/db?password=" + enc(p); }},
      {"password parameter, raw",
       [](P p, P hp) { return "postgres://" + hp + "/db?password=" + p; }},
      {"password and errand parameters",
       [=](P p, P hp) { return "postgres://u:" + enc(p) + "@" + hp + "/db?schema=s1&listen=off"; }},
      {"bad errand parameter after the password",
       [=](P p, P hp) { return "postgres://u:" + enc(p) + "@" + hp + "/db?listen=maybe"; }},
      {"bad percent-encoding in the password",
       [=](P p, P hp) { return "postgres://u:My%zz" + enc(p) + "@" + hp + "/db"; }},
      {"trailing percent", [=](P p, P hp) { return "postgres://u:" + enc(p) + "%@" + hp + "/db"; }},
      {"unencoded @", [=](P p, P hp) { return "postgres://u:" + enc(p) + "@x@" + hp + "/db"; }},
      {"unencoded /", [=](P p, P hp) { return "postgres://u:a/" + enc(p) + "@" + hp + "/db"; }},
      {"scheme typo", [=](P p, P hp) { return "postgress://u:" + enc(p) + "@" + hp + "/db"; }},
      {"one slash", [=](P p, P hp) { return "postgres:/u:" + enc(p) + "@" + hp + "/db"; }},
      {"no scheme", [=](P p, P hp) { return "u:" + enc(p) + "@" + hp + "/db"; }},
      {"sqlite scheme", [=](P p, P hp) { return "sqlite://u:" + enc(p) + "@" + hp + "/db"; }},
      {"parameter name typo",
       [=](P p, P hp) { return "postgres://" + hp + "/db?pasword=" + enc(p); }},
      {"parameter name in capitals",
       [=](P p, P hp) { return "postgres://" + hp + "/db?PASSWORD=" + enc(p); }},
      {"parameter without =",
       [=](P p, P hp) { return "postgres://" + hp + "/db?password" + enc(p); }},
      {"ssl key password",
       [=](P p, P hp) { return "postgres://" + hp + "/db?sslpassword=" + enc(p); }},
      {"unknown parameter holding it",
       [=](P p, P hp) { return "postgres://" + hp + "/db?" + enc(p) + "=1"; }},
      {"wrong database",
       [=](P p, P hp) { return "postgres://u:" + enc(p) + "@" + hp + "/no_such_db_x"; }},
      {"key=value",
       [=](P p, P hp) { return host_port(hp) + " dbname=db password=" + conninfo_quoted(p); }},
      {"key=value, unquoted", [=](P p, P hp) { return host_port(hp) + " password=" + p; }},
      {"key=value, keyword typo",
       [=](P p, P hp) { return host_port(hp) + " passwd=" + conninfo_quoted(p); }},
      {"key=value, missing =",
       [=](P p, P hp) { return host_port(hp) + " password " + conninfo_quoted(p); }},
      {"key=value, unterminated quote",
       [=](P p, P hp) { return host_port(hp) + " password='" + p; }},
  };
}

// Why `output` shows a piece of `password` (the whole, its percent-encoding, or any 6 bytes in a
// row of it), or "" when it does not.
inline std::string password_leak(std::string_view output, const std::string& password) {
  if (output.find(password) != std::string_view::npos) return "the whole password";
  const std::string encoded = percent_encoded(password);
  if (output.find(encoded) != std::string_view::npos) return "the percent-encoded password";
  constexpr std::size_t piece = 6;
  for (std::size_t i = 0; i + piece <= password.size(); ++i) {
    if (output.find(password.substr(i, piece)) != std::string_view::npos) {
      return "6 bytes of the password: '" + password.substr(i, piece) + "'";
    }
  }
  return {};
}

}  // namespace errand_test
