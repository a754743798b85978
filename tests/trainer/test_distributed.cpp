// Data-parallel training with the `catdog` binary on the CPU (Gloo), on a tiny
// synthetic pack:
//  - Equivalence: 2 ranks at per-rank batch B/2 end with the same weights as 1 process at batch B
//    (deterministic settings: cnn without dropout, no augmentation, 1 thread; the epoch's last,
//    short batch leaves rank 1 without images, which must still give the same step);
//  - Faults: a killed rank makes the other stop non-zero within a bounded time, naming itself;
//    `launch` names the rank that died and stops the rest; a hung (stopped) rank trips
//    --dist-timeout; --resume refuses another world size; bad torchrun variables are bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "pack.h"
#include "test_util.h"
#include "distributed.h"
#include "train.h"

namespace {

using catdog::test::KillAndReap;
using catdog::test::ReadAll;
using catdog::test::TempDir;
using catdog::test::WaitForText;
using Clock = std::chrono::steady_clock;

// The tolerance of "same weights": float32 sums in another order (two half batches, then the
// all-reduce) over 12 Adam steps; measured max |diff| is reported by the test.
constexpr double kWeightTolerance = 1e-5;

// 44 training images (the global batch 8 leaves a last batch of 4: rank 1 gets none) and 12
// validation images, 32x32, dogs brighter at the top: a signal the cnn can start to learn.
std::string MakeTinyPack(const TempDir& tmp) {
  catdog::pack::Pack p;
  p.size = 32;
  p.seed = 7;
  p.val_fraction = 0.2;
  std::mt19937 rng(7);
  const size_t n = 56, plane = 32 * 32;
  p.pixels.resize(n * plane);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t dog = uint8_t(i % 2);
    for (size_t y = 0; y < 32; ++y)
      for (size_t x = 0; x < 32; ++x)
        p.pixels[i * plane + y * 32 + x] = uint8_t((dog && y < 16 ? 160 : 60) + rng() % 64);
    p.labels.push_back(dog);
    p.splits.push_back(uint8_t(i < 44 ? catdog::pack::kTrain : catdog::pack::kVal));
    p.paths.push_back((dog ? "Dog/" : "Cat/") + std::to_string(i) + ".png");
  }
  const std::string dir = tmp.path("pack");
  catdog::Status s = catdog::pack::WritePack(dir, p);
  EXPECT_TRUE(s) << s.message();
  return dir;
}

// `catdog ARGS` with CI=true (no progress bar) and `env` added, stdout+stderr to `log`.
pid_t Spawn(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log) {
  std::vector<std::string> all_env = {"CI=true"};
  all_env.insert(all_env.end(), env.begin(), env.end());
  return catdog::test::SpawnCli(CATDOG_CLI, args, log, all_env);
}

std::vector<std::string> TrainArgs(const std::string& pack, const std::string& out, int batch, int epochs) {
  return {"train", "--pack", pack, "--arch", "cnn", "--out", out, "--batch", std::to_string(batch), "--epochs",
          std::to_string(epochs), "--seed", "3", "--device", "cpu", "--threads", "1", "--no-progress"};
}

std::vector<std::string> RankEnv(int rank, int world, int port) {
  return {"RANK=" + std::to_string(rank), "LOCAL_RANK=" + std::to_string(rank), "WORLD_SIZE=" + std::to_string(world),
          "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)};
}

double MaxAbsDiff(const catdog::train::Checkpoint& a, const catdog::train::Checkpoint& b, std::string* where) {
  double worst = 0;
  EXPECT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t t = 0; t < std::min(a.tensors.size(), b.tensors.size()); ++t) {
    EXPECT_EQ(a.tensors[t].data.size(), b.tensors[t].data.size()) << a.tensors[t].name;
    for (size_t i = 0; i < std::min(a.tensors[t].data.size(), b.tensors[t].data.size()); ++i) {
      const double d = std::fabs(double(a.tensors[t].data[i]) - double(b.tensors[t].data[i]));
      if (!(d <= worst)) worst = d, *where = a.tensors[t].name;  // NaN counts as worst
    }
  }
  return worst;
}

TEST(Distributed, TwoRanksAtHalfBatchEqualOneProcess) {
  TempDir tmp;
  const std::string pack = MakeTinyPack(tmp);
  const std::string log = tmp.path("log.txt");
  std::vector<std::string> one = TrainArgs(pack, tmp.path("one"), 8, 2);
  ASSERT_EQ(catdog::test::WaitExit(Spawn(one, {}, log), 300), 0) << ReadAll(log);
  std::vector<std::string> two = {"launch", "--nproc", "2", "--"};
  for (const std::string& a : TrainArgs(pack, tmp.path("two"), 4, 2)) two.push_back(a);
  // Small buckets: several all-reduces per step, started from the backward hooks in turn.
  two.insert(two.end(), {"--dist-bucket-kb", "64"});
  ASSERT_EQ(catdog::test::WaitExit(Spawn(two, {}, log), 300), 0) << ReadAll(log);
  const std::string text = ReadAll(log);
  EXPECT_NE(text.find("[rank 0] info: rank 0 of 2 (gloo on cpu): per-rank batch 4, global batch 8"), std::string::npos)
      << text;
  EXPECT_NE(text.find("[rank 0] info: rank 0: 4 gradient bucket(s)"), std::string::npos) << text;

  catdog::train::Checkpoint a, b;
  ASSERT_TRUE(catdog::train::ReadCheckpoint(tmp.path("one/last.pt"), &a));
  ASSERT_TRUE(catdog::train::ReadCheckpoint(tmp.path("two/last.pt"), &b));
  std::string where;
  const double diff = MaxAbsDiff(a, b, &where);
  std::printf("max |w1 - w2| after 12 steps: %.3g (%s)\n", diff, where.c_str());
  EXPECT_LE(diff, kWeightTolerance) << where;
  // Not trivially equal: training moved the weights.
  catdog::train::Checkpoint init;
  ASSERT_TRUE(catdog::train::InitCheckpoint(a.arch, a.input_size, 3, &init));
  EXPECT_GT(MaxAbsDiff(a, init, &where), 1e-3);
  // The epoch's training loss is over all images of both ranks.
  const std::string h1 = ReadAll(tmp.path("one/history.jsonl")), h2 = ReadAll(tmp.path("two/history.jsonl"));
  auto loss = [](const std::string& h) { return std::stod(h.substr(h.find("\"loss\":") + 7)); };
  EXPECT_NEAR(loss(h1), loss(h2), 1e-5) << h1 << h2;
  const std::string card = ReadAll(tmp.path("two/run.json"));
  EXPECT_NE(card.find("\"world_size\": 2"), std::string::npos) << card;
  EXPECT_NE(card.find("\"global_batch\": 8"), std::string::npos) << card;
}

TEST(Distributed, KilledRankStopsTheOtherWithAMessage) {
  TempDir tmp;
  const std::string pack = MakeTinyPack(tmp);
  const int port = catdog::train::FreeLoopbackPort();
  const std::string log0 = tmp.path("rank0.txt"), log1 = tmp.path("rank1.txt");
  std::vector<std::string> args = TrainArgs(pack, tmp.path("run"), 4, 100000);
  args.insert(args.end(), {"--dist-timeout", "60"});
  const pid_t r0 = Spawn(args, RankEnv(0, 2, port), log0);
  const pid_t r1 = Spawn(args, RankEnv(1, 2, port), log1);
  ASSERT_TRUE(WaitForText(log0, "epoch 2/", 120)) << ReadAll(log0) << ReadAll(log1);
  ::kill(r1, SIGKILL);
  const auto t0 = Clock::now();
  const int code = catdog::test::WaitExit(r0, 60);
  if (code < 0) KillAndReap(r0);
  ::waitpid(r1, nullptr, 0);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::string text = ReadAll(log0);
  ASSERT_GE(code, 0) << "rank 0 still running 60 s after rank 1 was killed:\n" << text;
  EXPECT_EQ(code, 1) << text;
  EXPECT_NE(text.find("rank 0 of 2 (gloo)"), std::string::npos) << text;
  EXPECT_NE(text.find("another rank died"), std::string::npos) << text;
  std::printf("rank 0 stopped %.1f s after rank 1 was killed\n", secs);
  // Rank 0's last finished epoch is intact for --resume.
  catdog::train::Checkpoint ck;
  EXPECT_TRUE(catdog::train::ReadCheckpoint(tmp.path("run/last.pt"), &ck));
}

TEST(Distributed, HungRankTripsTheTimeout) {
  TempDir tmp;
  const std::string pack = MakeTinyPack(tmp);
  const int port = catdog::train::FreeLoopbackPort();
  const std::string log0 = tmp.path("rank0.txt"), log1 = tmp.path("rank1.txt");
  std::vector<std::string> args = TrainArgs(pack, tmp.path("run"), 4, 100000);
  args.insert(args.end(), {"--dist-timeout", "5"});
  const pid_t r0 = Spawn(args, RankEnv(0, 2, port), log0);
  const pid_t r1 = Spawn(args, RankEnv(1, 2, port), log1);
  ASSERT_TRUE(WaitForText(log0, "epoch 2/", 120)) << ReadAll(log0) << ReadAll(log1);
  ::kill(r1, SIGSTOP);  // alive, holding its sockets open, never answering
  const auto t0 = Clock::now();
  const int code = catdog::test::WaitExit(r0, 60);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (code < 0) KillAndReap(r0);
  KillAndReap(r1);
  const std::string text = ReadAll(log0);
  ASSERT_GE(code, 0) << "rank 0 still running 60 s after rank 1 stopped (--dist-timeout 5):\n" << text;
  EXPECT_EQ(code, 1) << text;
  EXPECT_NE(text.find("rank 0 of 2 (gloo)"), std::string::npos) << text;
  EXPECT_NE(text.find("--dist-timeout 5 s"), std::string::npos) << text;
  std::printf("rank 0 stopped %.1f s after rank 1 hung (--dist-timeout 5)\n", secs);
}

TEST(Distributed, LaunchNamesTheRankThatDiedAndStopsTheOthers) {
  TempDir tmp;
  const std::string pack = MakeTinyPack(tmp);
  const std::string log = tmp.path("log.txt");
  std::vector<std::string> args = {"launch", "--nproc", "2", "--grace", "5", "--"};
  for (const std::string& a : TrainArgs(pack, tmp.path("run"), 4, 100000)) args.push_back(a);
  const pid_t launcher = Spawn(args, {}, log);
  ASSERT_TRUE(WaitForText(log, "[rank 0] info: epoch 2/", 120)) << ReadAll(log);
  // Rank 1 is the launcher's second child: find it by its RANK=1 environment.
  pid_t r1 = -1;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream st(e.path() / "stat");
    std::string pid, comm, state, ppid;
    st >> pid >> comm >> state >> ppid;
    if (ppid != std::to_string(launcher)) continue;
    const std::string env = std::string(1, '\0') + ReadAll((e.path() / "environ").string());
    if (env.find(std::string("\0RANK=1\0", 8)) != std::string::npos) r1 = pid_t(std::stol(name));
  }
  ASSERT_GT(r1, 0) << "rank 1 of the launcher not found";
  ::kill(r1, SIGKILL);
  const int code = catdog::test::WaitExit(launcher, 60);
  if (code < 0) KillAndReap(launcher);
  const std::string text = ReadAll(log);
  ASSERT_GE(code, 0) << "launch still running 60 s after rank 1 was killed:\n" << text;
  EXPECT_EQ(code, 1) << text;
  EXPECT_NE(text.find("launch: rank 1 was killed by signal 9"), std::string::npos) << text;
  EXPECT_NE(text.find("stopping the other 1 rank(s)"), std::string::npos) << text;
}

TEST(Distributed, ResumeRefusesAnotherWorldSize) {
  TempDir tmp;
  const std::string pack = MakeTinyPack(tmp);
  const std::string log = tmp.path("log.txt");
  std::vector<std::string> two = {"launch", "--nproc", "2", "--"};
  for (const std::string& a : TrainArgs(pack, tmp.path("run"), 4, 1)) two.push_back(a);
  ASSERT_EQ(catdog::test::WaitExit(Spawn(two, {}, log), 300), 0) << ReadAll(log);
  std::vector<std::string> alone = TrainArgs(pack, tmp.path("run"), 4, 2);
  alone.push_back("--resume");
  const std::string log1 = tmp.path("alone.txt");
  EXPECT_EQ(catdog::test::WaitExit(Spawn(alone, {}, log1), 120), 2) << ReadAll(log1);
  EXPECT_NE(ReadAll(log1).find("was trained by 2 process(es) (WORLD_SIZE), this run has 1"), std::string::npos)
      << ReadAll(log1);
  // The same world size continues it.
  std::vector<std::string> again = {"launch", "--nproc", "2", "--"};
  for (const std::string& a : alone) again.push_back(a);
  const std::string log2 = tmp.path("again.txt");
  EXPECT_EQ(catdog::test::WaitExit(Spawn(again, {}, log2), 300), 0) << ReadAll(log2);
  EXPECT_NE(ReadAll(log2).find("resuming"), std::string::npos) << ReadAll(log2);
  EXPECT_NE(ReadAll(tmp.path("run/history.jsonl")).find("\"epoch\":2"), std::string::npos);
}

TEST(Distributed, BadTorchrunVariablesAreBadInput) {
  TempDir tmp;
  const std::string pack = MakeTinyPack(tmp);
  struct Case {
    std::vector<std::string> env;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"RANK=2", "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=29999"}, "RANK='2': must be an integer in 0..1"},
      {{"RANK=0", "WORLD_SIZE=two", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=29999"}, "WORLD_SIZE='two'"},
      {{"RANK=0", "WORLD_SIZE=2", "MASTER_PORT=29999"}, "MASTER_ADDR=(unset)"},
      {{"RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=70000"}, "MASTER_PORT='70000'"},
      {{"RANK=1", "WORLD_SIZE=2", "LOCAL_RANK=-1", "MASTER_ADDR=h", "MASTER_PORT=1"}, "LOCAL_RANK='-1'"},
  };
  for (const Case& c : cases) {
    const std::string log = tmp.path("log.txt");
    std::remove(log.c_str());
    EXPECT_EQ(catdog::test::WaitExit(Spawn(TrainArgs(pack, tmp.path("run"), 4, 1), c.env, log), 60), 2) << ReadAll(log);
    EXPECT_NE(ReadAll(log).find(c.expect), std::string::npos) << ReadAll(log);
  }
  // --distributed without the variables says which one is missing.
  std::vector<std::string> args = TrainArgs(pack, tmp.path("run"), 4, 1);
  args.push_back("--distributed");
  const std::string log = tmp.path("log2.txt");
  EXPECT_EQ(catdog::test::WaitExit(Spawn(args, {}, log), 60), 2) << ReadAll(log);
  EXPECT_NE(ReadAll(log).find("WORLD_SIZE=(unset)"), std::string::npos) << ReadAll(log);
}

// a loopback listener that accepts and never answers held MASTER_PORT: rank 0 reported
// it as a timeout, a joining rank waited forever despite --dist-timeout. A port in use is named
// (exit 2); every wait ends within --dist-timeout (plus 5 s), naming the address.
int SilentListener(int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return -1;
  *port = ntohs(a.sin_port);
  return fd;
}

TEST(Distributed, APortInUseIsNamedAndASilentListenerTimesOut) {
  TempDir tmp;
  const std::string pack = MakeTinyPack(tmp);
  int port = 0;
  const int fd = SilentListener(&port);
  ASSERT_GE(fd, 0);
  std::vector<std::string> args = TrainArgs(pack, tmp.path("r0"), 4, 1);
  args.insert(args.end(), {"--dist-timeout", "5"});
  const std::string log0 = tmp.path("rank0.log");
  EXPECT_EQ(catdog::test::WaitExit(Spawn(args, RankEnv(0, 2, port), log0), 60), 2) << ReadAll(log0);
  EXPECT_NE(ReadAll(log0).find("MASTER_PORT " + std::to_string(port) + " is in use"), std::string::npos) << ReadAll(log0);

  args = TrainArgs(pack, tmp.path("r1"), 4, 1);
  args.insert(args.end(), {"--dist-timeout", "5"});
  const std::string log1 = tmp.path("rank1.log");
  const auto t0 = Clock::now();
  const pid_t pid = Spawn(args, RankEnv(1, 2, port), log1);
  const int code = catdog::test::WaitExit(pid, 40);
  if (code < 0) KillAndReap(pid);
  ::close(fd);
  ASSERT_GE(code, 0) << "rank 1 still waiting 40 s after joining a silent listener (--dist-timeout 5):\n" << ReadAll(log1);
  EXPECT_NE(code, 0);
  EXPECT_NE(ReadAll(log1).find("--dist-timeout 5 s"), std::string::npos) << ReadAll(log1);
  std::printf("rank 1 stopped after %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
}

}  // namespace

namespace {

// The TCP sockets in LISTEN state that process `pid` holds, as "address:port" (hex, as the kernel's
// /proc/net/tcp{,6} write them) with a flag: true when the address is loopback.
std::vector<std::pair<std::string, bool>> Listeners(pid_t pid) {
  std::vector<std::string> inodes;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    const std::string target = std::filesystem::read_symlink(e.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) inodes.push_back(target.substr(8, target.size() - 9));
  }
  std::vector<std::pair<std::string, bool>> out;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream in(ReadAll(table));
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
      f >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
      if (state != "0A" || std::find(inodes.begin(), inodes.end(), inode) == inodes.end()) continue;
      const std::string addr = local.substr(0, local.find(':'));
      const bool loopback = addr.size() == 8 ? addr.substr(6, 2) == "7F"  // 127.x.x.x, little-endian
                                             : addr == "00000000000000000000000001000000";  // ::1
      out.push_back({local, loopback});
    }
  }
  return out;
}

std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> kids;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream st(e.path() / "stat");
    std::string pid, comm, state, ppid;
    st >> pid >> comm >> state >> ppid;
    if (ppid == std::to_string(parent)) kids.push_back(pid_t(std::stol(name)));
  }
  return kids;
}

}  // namespace

// One machine: `catdog launch` has its ranks meet through a FileStore in a private folder, so no
// rendezvous store listens on the network and nobody else can join; Gloo listens on loopback only.
// MASTER_ADDR/MASTER_PORT inherited from the shell point at a listener that never answers: a rank
// that used the TCPStore would hang there (or rank 0 would find the port in use).
TEST(Distributed, LaunchMeetsThroughAPrivateFileAndListensOnLoopbackOnly) {
  TempDir tmp;
  const std::string pack = MakeTinyPack(tmp);
  const std::string tmpdir = tmp.path("tmpdir");
  std::filesystem::create_directories(tmpdir);
  int port = 0;
  const int fd = SilentListener(&port);
  ASSERT_GE(fd, 0);
  const std::string log = tmp.path("log.txt");
  std::vector<std::string> args = {"launch", "--nproc", "2", "--grace", "5", "--"};
  for (const std::string& a : TrainArgs(pack, tmp.path("run"), 4, 100000)) args.push_back(a);
  args.insert(args.end(), {"--dist-timeout", "20"});
  const pid_t launcher =
      Spawn(args, {"TMPDIR=" + tmpdir, "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)}, log);
  const bool trained = WaitForText(log, "[rank 0] info: epoch 3/", 120);
  // Sample the ranks' listening sockets for a while as they train.
  int samples = 0, loopback = 0;
  std::vector<std::string> exposed;
  for (int i = 0; i < 20 && trained; ++i) {
    for (pid_t rank : ChildrenOf(launcher)) {
      ++samples;
      for (const auto& [where, is_loopback] : Listeners(rank)) {
        if (is_loopback) ++loopback;
        else exposed.push_back(where);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(launcher, SIGTERM);
  const int code = catdog::test::WaitExit(launcher, 60);
  if (code < 0) KillAndReap(launcher);
  ::close(fd);
  const std::string text = ReadAll(log);
  ASSERT_TRUE(trained) << text;
  EXPECT_NE(text.find("(no network)"), std::string::npos) << text;
  EXPECT_EQ(text.find("hosting the TCPStore"), std::string::npos) << text;
  EXPECT_GE(samples, 20) << "the ranks were not found while they trained";
  EXPECT_TRUE(exposed.empty()) << "a rank listens beyond loopback: " << exposed.front();
  EXPECT_GT(loopback, 0) << "no listener of the ranks was seen: the check above proved nothing";
  std::printf("%d samples of the ranks' sockets: %d loopback listener(s) seen, %zu elsewhere\n", samples, loopback,
              exposed.size());
  EXPECT_EQ(code, 128 + SIGTERM) << text;
  // The private rendezvous folder is gone with the run.
  EXPECT_TRUE(std::filesystem::is_empty(tmpdir)) << std::filesystem::directory_iterator(tmpdir)->path();
}

// A hand-made file store must live in a folder only this user can use.
TEST(Distributed, ARendezvousFileOutsideAPrivateFolderIsBadInput) {
  TempDir tmp;
  const std::string pack = MakeTinyPack(tmp);
  const std::string open_dir = tmp.path("open");
  std::filesystem::create_directories(open_dir);
  std::filesystem::permissions(open_dir, std::filesystem::perms::all);
  struct Case {
    std::vector<std::string> env;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"RANK=0", "WORLD_SIZE=2", "CATDOG_RDZV_FILE=" + open_dir + "/store"}, "is not private to this user"},
      {{"RANK=0", "WORLD_SIZE=2", "CATDOG_RDZV_FILE=relative/store"}, "must be the absolute path"},
      {{"RANK=0", "WORLD_SIZE=2", "CATDOG_RDZV_FILE=" + tmp.path("missing") + "/store"}, "is not an existing folder"},
  };
  for (const Case& c : cases) {
    const std::string log = tmp.path("log.txt");
    std::remove(log.c_str());
    EXPECT_EQ(catdog::test::WaitExit(Spawn(TrainArgs(pack, tmp.path("run"), 4, 1), c.env, log), 60), 2) << ReadAll(log);
    EXPECT_NE(ReadAll(log).find(c.expect), std::string::npos) << ReadAll(log);
  }
}
