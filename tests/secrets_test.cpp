// The password property, on the connect-error path: for generated passwords embedded in every
// shape of connection text (tests/support/password_shapes.hpp), opening a store at a port where
// nothing listens fails with a message that holds no piece of the password — whatever failed:
// errand's parsing, libpq's keyword checks or the connection itself. (secrets_pgtest.cpp does
// the same against a real server, where connections succeed, and checks the CLI's output.)
#include "support/password_shapes.hpp"

#include <errand/errand.hpp>
#include <errand/postgres.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

// A loopback port nothing listens on: bound, read back, closed.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ADD_FAILURE() << "cannot find a free loopback port";
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// What opening a store for `text` says: the error's message, or "" when it opened.
std::string open_error(const std::string& text) {
  try {
    if (text.starts_with("postgres") || text.starts_with("sqlite") ||
        text.find("://") != std::string::npos || text.find('=') == std::string::npos) {
      errand::open_store(text);
    } else {
      errand::open_postgres(text);
    }
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

TEST(Secrets, NoPieceOfAPasswordInAnyConnectError) {
  const std::string host_port = "127.0.0.1:" + std::to_string(closed_port());
  const auto shapes = errand_test::password_shapes();
  std::size_t cases = 0;
  for (const std::string& password : errand_test::generated_passwords(60, 20261202)) {
    for (const auto& shape : shapes) {
      const std::string text = shape.make(password, host_port);
      const std::string error = open_error(text);
      ++cases;
      EXPECT_FALSE(error.empty()) << shape.name << ": opened a store at a closed port";
      const std::string leak = errand_test::password_leak(error, password);
      EXPECT_TRUE(leak.empty()) << shape.name << ": the message shows " << leak
                                << "\n  message: " << error;
    }
  }
  EXPECT_EQ(cases, 60 * shapes.size());
}

// The README's example: libpq's own "invalid percent-encoded token" message echoed the token.
TEST(Secrets, TheReportedExampleNoLongerLeaks) {
  const std::string error =
      open_error("postgres://u:My%zzSECRET@127.0.0.1:" + std::to_string(closed_port()) + "/db");
  EXPECT_NE(error.find("invalid percent-encoding"), std::string::npos) << error;
  EXPECT_EQ(error.find("SECRET"), std::string::npos) << error;
  EXPECT_EQ(error.find("zz"), std::string::npos) << error;
}

}  // namespace
