#include "support/bench_process.hpp"

#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <sstream>

namespace errand_test {

namespace {

std::string shell_quote(const std::string& arg) {
  std::string out = "'";
  for (const char c : arg)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The shell command running `program args` with `env` and the redirections.
std::string command(const std::string& program, const std::vector<std::string>& args,
                    const std::vector<std::string>& env, const std::filesystem::path& out,
                    const std::filesystem::path& err) {
  std::string text = "exec";
  if (!env.empty()) {
    text += " env";
    for (const auto& setting : env)
      text += " " + shell_quote(setting);
  }
  text += " " + shell_quote(program);
  for (const auto& arg : args)
    text += " " + shell_quote(arg);
  return text + " </dev/null >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string());
}

std::filesystem::path log_file(const std::filesystem::path& dir, const char* what) {
  static std::atomic<int> counter{0};
  return dir / ("cli-" + std::to_string(counter++) + "." + what);
}

}  // namespace

CliProcess::CliProcess(const std::string& program, const std::vector<std::string>& args,
                       const std::filesystem::path& log_dir, const std::vector<std::string>& env)
    : out_(log_file(log_dir, "out")),
      err_(log_file(log_dir, "err")),
      process_("/bin/sh", {"-c", command(program, args, env, out_, err_)}) {}

std::string CliProcess::out() const {
  return read_file(out_);
}

std::string CliProcess::err() const {
  return read_file(err_);
}

CliRun run_cli(const std::string& program, const std::vector<std::string>& args,
               const std::filesystem::path& log_dir, const std::vector<std::string>& env,
               std::chrono::milliseconds deadline) {
  CliProcess process(program, args, log_dir, env);
  const auto status = process.wait(deadline);
  return CliRun{status.value_or(-1), process.out(), process.err()};
}

std::vector<pid_t> child_pids(pid_t parent) {
  std::vector<pid_t> children;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string line;
    std::getline(in, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    if (fields >> state >> ppid && ppid == parent) children.push_back(std::stoi(name));
  }
  return children;
}

std::string cmdline(pid_t pid) {
  std::string text = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  while (!text.empty() && text.back() == '\0')
    text.pop_back();
  for (auto& c : text)
    if (c == '\0') c = ' ';
  return text;
}

std::vector<std::string> environment(pid_t pid) {
  const std::string text = read_file("/proc/" + std::to_string(pid) + "/environ");
  std::vector<std::string> out;
  std::string::size_type start = 0;
  while (start < text.size()) {
    const auto end = text.find('\0', start);
    out.push_back(text.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

bool process_gone(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return true;
  const auto close = line.rfind(')');
  return close == std::string::npos || line.substr(close + 2, 1) == "Z";
}

std::string describe_status(int status) {
  return ChildProcess::describe(status);
}

pid_t wait_for_bench_worker(const CliProcess& bench) {
  pid_t worker = -1;
  eventually(
      [&] {
        for (const pid_t child : child_pids(bench.pid())) {
          if (cmdline(child).find("bench-worker") != std::string::npos) worker = child;
        }
        return worker > 0 || process_gone(bench.pid());
      },
      std::chrono::minutes{5});  // it starts workers after enqueueing, which took over 30 s under
                                 // TSan on a loaded machine; the wait ends as soon as one appears
  EXPECT_GT(worker, 0) << "errand bench started no worker process\n" << bench.err();
  return worker;
}

void expect_exit_code(CliProcess& process, int code) {
  const auto status = process.wait(kDeadline);
  ASSERT_TRUE(status) << "the process did not end\n" << process.err();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == code)
      << describe_status(*status) << ", expected exit " << code << "\n"
      << process.err();
}

std::vector<std::string> lines_starting(const std::string& text, std::string_view prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(prefix)) out.push_back(line);
  }
  return out;
}

}  // namespace errand_test
