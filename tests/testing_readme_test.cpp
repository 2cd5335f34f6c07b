// The README's "Testing your jobs" example is tests/consumer/testing_example_test.cpp, built
// by this suite and by tests/consumer: the README must show that file exactly.
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace {

TEST(ReadmeTestingExample, IsTheFileTheTestsBuild) {
  const std::filesystem::path root = ERRAND_SOURCE_DIR;
  const std::string readme = errand_test::read_file(root / "README.md");
  const std::string example =
      errand_test::read_file(root / "tests/consumer/testing_example_test.cpp");
  ASSERT_FALSE(example.empty());
  EXPECT_NE(readme.find("```cpp\n" + example + "```\n"), std::string::npos)
      << "README.md must hold tests/consumer/testing_example_test.cpp verbatim in a ```cpp "
         "block: copy the file into the README's \"Testing your jobs\" section";
}

// Expects README.md to hold the file at `path` (from the source root) verbatim in a ```cpp block.
void expect_readme_holds(const std::string& path, const std::string& section) {
  const std::filesystem::path root = ERRAND_SOURCE_DIR;
  const std::string readme = errand_test::read_file(root / "README.md");
  const std::string example = errand_test::read_file(root / path);
  ASSERT_FALSE(example.empty());
  EXPECT_NE(readme.find("```cpp\n" + example + "```\n"), std::string::npos)
      << "README.md must hold " << path << " verbatim in a ```cpp block: copy the file into the "
      << "README's \"" << section << "\" section";
}

TEST(ReadmeQueuesExample, IsTheFileTheExamplesBuild) {
  expect_readme_holds("examples/queues_and_limits.cpp", "Queues and limits");
}

TEST(ReadmeUniqueJobsExample, IsTheFileTheExamplesBuild) {
  expect_readme_holds("examples/unique_jobs.cpp", "Unique jobs");
}

TEST(ReadmeRecurringJobsExample, IsTheFileTheExamplesBuild) {
  expect_readme_holds("examples/recurring_jobs.cpp", "Recurring jobs");
}

}  // namespace
