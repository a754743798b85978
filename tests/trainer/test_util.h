// Helpers shared by the trainer tests: temporary folders, the real-photo folder, and running the
// `catdog` binary (to the end through the shell, or as a child process to wait for, watch or kill).
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace catdog::test {

// A fresh folder under $TMPDIR (or /tmp), world-readable (tests may drop privileges), removed
// with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/catdog-test-XXXXXX";
    char* made = ::mkdtemp(tmpl.data());
    if (!made) {
      ADD_FAILURE() << "mkdtemp failed for " << tmpl;
      return;
    }
    root_ = made;
    ::chmod(root_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ec;
    // Restore permissions a test may have removed, so everything can be deleted.
    for (auto it = std::filesystem::recursive_directory_iterator(root_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (!it->is_symlink(ec)) ::chmod(it->path().c_str(), it->is_directory(ec) ? 0755 : 0644);
    std::filesystem::remove_all(root_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& root() const { return root_; }
  std::string path(const std::string& rel) const { return root_ + "/" + rel; }

 private:
  std::string root_;
};

// Root reads and writes anything regardless of mode bits. Tests of "cannot read / cannot write"
// run as root in CI containers, so this drops the effective uid/gid to "nobody" (65534) for its
// lifetime (threads started meanwhile inherit it) and restores them after; as another user it does
// nothing, and the mode bits already apply.
class AsNobody {
 public:
  AsNobody() {
    if (::geteuid() == 0) {
      EXPECT_EQ(::setegid(65534), 0);
      EXPECT_EQ(::seteuid(65534), 0);
      dropped_ = ::geteuid() == 65534;
    }
  }
  ~AsNobody() {
    if (dropped_) {
      EXPECT_EQ(::seteuid(0), 0);
      EXPECT_EQ(::setegid(0), 0);
    }
  }
  AsNobody(const AsNobody&) = delete;
  AsNobody& operator=(const AsNobody&) = delete;

 private:
  bool dropped_ = false;
};

// The whole of a (log) file; "" when it cannot be read (yet).
inline std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// One run of a command-line program: its exit code (128 + signal when killed), stdout and stderr.
struct Ran {
  int code = -1;
  std::string out, err;
};

// Runs `CLI ARGS` through the shell with CI=true (no progress bar) and captures stdout, stderr
// (through TMP/stderr.txt) and the exit code. timeout_s > 0 kills it after that many seconds
// (exit 137): a test of "never hangs" then fails instead of hanging itself.
inline Ran RunCli(const std::string& cli, const TempDir& tmp, const std::string& args, int timeout_s = 0) {
  const std::string err_file = tmp.path("stderr.txt");
  const std::string limit = timeout_s > 0 ? "timeout -s KILL " + std::to_string(timeout_s) + " " : "";
  const std::string cmd = "CI=true " + limit + "'" + cli + "' " + args + " 2>'" + err_file + "'";
  Ran r;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) {
    ADD_FAILURE() << "popen failed: " << cmd;
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.out.append(buf, n);
  const int status = ::pclose(f);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.err = ReadAll(err_file);
  return r;
}

// Starts `CLI ARGS` as a child process with `env` ("NAME=value" entries) added to this process's
// environment, stdout and stderr appended to `log`; returns its pid (exit code 127 when CLI cannot
// be executed).
inline pid_t SpawnCli(const std::string& cli, const std::vector<std::string>& args, const std::string& log,
                      const std::vector<std::string>& env = {}) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    for (const std::string& e : env) ::putenv(::strdup(e.c_str()));
    std::vector<char*> argv;
    std::string exe = cli;
    argv.push_back(exe.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// The exit code of a child (128 + signal when killed), waiting at most `limit_s` seconds (< 0:
// as long as it takes); -1 on timeout, the child still running.
inline int WaitExit(pid_t pid, double limit_s = -1) {
  int status = 0;
  if (limit_s < 0) {
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
  while (std::chrono::steady_clock::now() < end) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

inline void KillAndReap(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// Polls `log` every 2 ms until it holds `text` at or after byte `from`; false after `limit_s`.
inline bool WaitForText(const std::string& log, const std::string& text, double limit_s, uint64_t from = 0) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
  while (std::chrono::steady_clock::now() < end) {
    const std::string all = ReadAll(log);
    if (all.size() > from && all.find(text, from) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

// The real photos: $CATDOG_DATA, else the folder CMake passed (repo/../shared/data). Returns ""
// after recording a test FAILURE (never a skip) when PetImages is not there.
inline std::string RealDataDir() {
  const char* env = std::getenv("CATDOG_DATA");
  std::string dir = env && *env ? env : CATDOG_TEST_DATA_DIR;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir + "/PetImages/Cat", ec) || !std::filesystem::is_directory(dir + "/PetImages/Dog", ec)) {
    ADD_FAILURE() << "real photos not found: expected " << dir
                  << "/PetImages/{Cat,Dog} (clone the repo with shared/ beside it, or set CATDOG_DATA)";
    return "";
  }
  return dir;
}

// Copies the first `n` photos of each class (sorted file names) of RealDataDir() into
// tmp/img/{Cat,Dog}: a small, fixed image folder for CLI tests. False (with a FAILURE) without data.
inline bool CopyFirstPhotos(const TempDir& tmp, size_t n) {
  const std::string data = RealDataDir();
  if (data.empty()) return false;
  for (const char* cls : {"Cat", "Dog"}) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(data + "/PetImages/" + cls))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    std::filesystem::create_directories(tmp.path(std::string("img/") + cls));
    for (size_t i = 0; i < n && i < names.size(); ++i)
      std::filesystem::copy_file(data + "/PetImages/" + cls + "/" + names[i], tmp.path(std::string("img/") + cls + "/" + names[i]));
  }
  return true;
}

}  // namespace catdog::test
