// <errand/version.hpp> holds the version written in project(errand VERSION ...) of the top-level
// CMakeLists.txt (ERRAND_CMAKELISTS), read here as text, apart from CMake's configure step.
#include "support/temp_dir.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace {

static_assert(errand::version() == ERRAND_VERSION_STRING);
static_assert(ERRAND_VERSION_NUMBER ==
              ERRAND_VERSION_MAJOR * 10000 + ERRAND_VERSION_MINOR * 100 + ERRAND_VERSION_PATCH);

// "0.1.0" from `project(errand VERSION 0.1.0 ...)`; empty when there is no such line.
std::string project_version() {
  const std::string content = errand_test::read_file(ERRAND_CMAKELISTS);
  std::smatch match;
  static const std::regex kProject(R"(project\(errand\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+))");
  return std::regex_search(content, match, kProject) ? match[1].str() : std::string();
}

TEST(Version, HeaderMatchesTheProjectVersionInCMakeLists) {
  const std::string expected = project_version();
  ASSERT_FALSE(expected.empty()) << "no project(errand VERSION x.y.z) in " << ERRAND_CMAKELISTS;
  EXPECT_EQ(ERRAND_VERSION_STRING, expected);
  EXPECT_EQ(errand::version(), expected);
  const std::string parts = std::to_string(ERRAND_VERSION_MAJOR) + "." +
                            std::to_string(ERRAND_VERSION_MINOR) + "." +
                            std::to_string(ERRAND_VERSION_PATCH);
  EXPECT_EQ(parts, expected);
}

}  // namespace
