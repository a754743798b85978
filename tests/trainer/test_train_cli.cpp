// The `catdog train` binary end to end, on real photos:
//  - CrashSafe: SIGKILL at seeded random moments, --resume each time; the finished run must equal
//    an uninterrupted one (history, checkpoints, TensorBoard steps, export) with no temporaries left.
//  - Finetune: CheckpointFromTfjs inverts the export's layout mapping; the correction loop
//    (marked 100x100 gray PNGs in class folders -> prepare -> train --finetune -> export) makes a
//    shipped model classify its misclassified photos as marked.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catdog/catdog.h"
#include "export.h"
#include "finetune.h"
#include "fsutil.h"
#include "imaging.h"
#include "models.h"
#include "pack.h"
#include "tensorboard.h"
#include "test_util.h"
#include "train.h"

namespace {
namespace stdfs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using catdog::test::ReadAll;
using catdog::test::TempDir;
using catdog::test::WaitForText;

pid_t Spawn(const std::vector<std::string>& args, const std::string& log) {
  return catdog::test::SpawnCli(CATDOG_CLI, args, log);
}

// Runs to the end; returns the exit code (or 128 + signal).
int RunCli(const std::vector<std::string>& args, const std::string& log) {
  return catdog::test::WaitExit(Spawn(args, log));
}

std::vector<std::string> SortedFiles(const std::string& dir) {
  std::vector<std::string> v;
  for (const auto& e : stdfs::directory_iterator(dir)) v.push_back(e.path().string());
  std::sort(v.begin(), v.end());
  return v;
}

// The first `n` photos of `cls` that decode, copied into dst/cls.
void CopyPhotos(const std::string& data, const std::string& cls, size_t n, const std::string& dst) {
  stdfs::create_directories(dst + "/" + cls);
  size_t copied = 0;
  for (const std::string& f : SortedFiles(data + "/PetImages/" + cls)) {
    if (copied == n) break;
    catdog::imaging::Image img;
    catdog::imaging::Problem p;
    if (!catdog::imaging::DecodeFile(f, {}, &img, &p)) continue;
    stdfs::copy_file(f, dst + "/" + cls + "/" + stdfs::path(f).filename().string());
    ++copied;
  }
  ASSERT_EQ(copied, n) << "not enough decodable photos in " << data << "/PetImages/" << cls;
}

// Every file or folder under `dir` whose name marks an unfinished write.
std::vector<std::string> Leftovers(const std::string& dir) {
  std::vector<std::string> bad;
  std::error_code ec;
  if (!stdfs::exists(dir, ec)) return bad;  // a kill before the run made its folder
  for (const auto& e : stdfs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(catdog::fs::kStagingPrefix, 0) == 0 || name.find(".tmp") != std::string::npos) bad.push_back(e.path().string());
  }
  return bad;
}

std::vector<json> ReadHistory(const std::string& path) {
  std::vector<json> lines;
  std::istringstream in(ReadAll(path));
  std::string line;
  while (std::getline(in, line)) lines.push_back(json::parse(line, nullptr, false));
  return lines;
}

// tag -> steps, over every event file of a folder.
std::map<std::string, std::vector<int64_t>> TensorBoardSteps(const std::string& dir) {
  std::map<std::string, std::vector<int64_t>> steps;
  for (const std::string& f : SortedFiles(dir)) {
    std::vector<catdog::tb::Event> events;
    catdog::Status s = catdog::tb::ReadEventFile(f, &events);
    EXPECT_TRUE(s) << s.message();
    for (const auto& e : events)
      for (const auto& [tag, v] : e.scalars) steps[tag].push_back(e.step);
  }
  for (auto& [tag, v] : steps) std::sort(v.begin(), v.end());
  return steps;
}

// What a SIGKILL in the middle of a write leaves: the staging folder (fsutil.h), with a partial
// file, of a process that has ended. Returns its path.
std::string LeakStagingDir(const std::string& dir, const std::string& name) {
  int fds[2];
  if (::pipe(fds) != 0) return "";
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto* leak = new catdog::fs::StagingDir;  // never destroyed
    if (!leak->Create(dir, name)) ::_exit(1);
    std::ofstream(leak->path() + "/" + name) << "partial";
    const std::string& p = leak->path();
    ::_exit(::write(fds[1], p.data(), p.size()) == ssize_t(p.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string path;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) path.append(buf, size_t(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0 && stdfs::is_directory(path)) << path;
  return path;
}

int MetaEpoch(const catdog::train::Checkpoint& ck, const char* key = "epoch") {
  json m = json::parse(ck.meta_json, nullptr, false);
  return m.is_object() && m.contains(key) && m[key].is_number() ? m[key].get<int>() : -1;
}

// ---- crash safety --------------------------------------------------------------------------------

TEST(CrashSafe, SigkillAtRandomMomentsThenResumeEqualsAnUninterruptedRun) {
  TempDir tmp;
  const std::string data = catdog::test::RealDataDir();
  ASSERT_FALSE(data.empty());
  CopyPhotos(data, "Cat", 24, tmp.path("img"));
  CopyPhotos(data, "Dog", 24, tmp.path("img"));
  const std::string pack = tmp.path("pack");
  ASSERT_EQ(RunCli({"prepare", "--images", tmp.path("img"), "--out", pack, "--size", "32", "--val-fraction", "0.25",
                    "--test-fraction", "0", "--seed", "1"},
                   tmp.path("prepare.log")),
            0)
      << ReadAll(tmp.path("prepare.log"));

  const int kEpochs = 24;
  auto args = [&](const std::string& out, bool resume) {
    std::vector<std::string> a = {"train", "--pack", pack, "--arch", "dense", "--epochs", std::to_string(kEpochs),
                                  "--batch", "8", "--seed", "3", "--threads", "1", "--device", "cpu",
                                  "--no-progress", "--out", out, "--export", out + "/model",
                                  "--allow-chance"};  // 48 tiny photos: crash safety, not learning
    if (resume) a.push_back("--resume");
    return a;
  };

  // The reference: one uninterrupted run, also timed (start-up, then epochs + export) to place
  // the kills.
  const std::string ref = tmp.path("ref");
  auto t0 = Clock::now();
  double startup_s = 0;
  {
    pid_t pid = Spawn(args(ref, false), tmp.path("ref.log"));
    ASSERT_TRUE(WaitForText(tmp.path("ref.log"), "training dense", 120)) << ReadAll(tmp.path("ref.log"));
    startup_s = std::chrono::duration<double>(Clock::now() - t0).count();
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadAll(tmp.path("ref.log"));
  }
  const double full_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double train_s = std::max(0.05, full_s - startup_s);

  uint64_t seed = 20261127;
  if (const char* env = std::getenv("CATDOG_CRASH_SEED")) seed = std::strtoull(env, nullptr, 10);
  std::printf("crash test: seed %llu (set CATDOG_CRASH_SEED to replay), uninterrupted run %.2f s (start-up %.2f s)\n",
              (unsigned long long)seed, full_s, startup_s);
  std::mt19937_64 rng(seed);

  const std::string out = tmp.path("run");
  const std::string log = tmp.path("run.log");
  int kills = 0, finished_early = 0, kills_mid_write = 0;
  for (int attempt = 0; attempt < 30 && kills < 6; ++attempt) {
    const bool resume = stdfs::exists(out + "/last.pt");
    int done = 0;
    if (resume) {
      catdog::train::Checkpoint last;
      ASSERT_TRUE(catdog::train::ReadCheckpoint(out + "/last.pt", &last)) << "last.pt unreadable after a kill";
      done = MetaEpoch(last);
    }
    // One kill in three anywhere in the start-up (reading, recovery, cleaning); the others at a
    // random moment of what is left of the training once it has started (epochs, checkpoint and
    // history writes, TensorBoard appends, the export).
    const bool in_training = attempt % 3 != 2;
    const double left_s = in_training ? train_s * (0.05 + 0.35 * double(kEpochs - done) / kEpochs) : startup_s;
    const double delay = std::uniform_real_distribution<double>(0.0, left_s)(rng);
    std::error_code ec;
    const uint64_t log_at = stdfs::exists(log, ec) ? stdfs::file_size(log, ec) : 0;
    pid_t pid = Spawn(args(out, resume), log);
    if (in_training && !WaitForText(log, "training dense", 120, log_at)) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      FAIL() << "the run did not start training: " << ReadAll(log);
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      ++kills;
      const size_t left = Leftovers(out).size();
      if (left) ++kills_mid_write;
      std::printf("  kill %d: %.3f s after %s (resume %d, from epoch %d), %zu temporary file(s) left behind\n", kills,
                  delay, in_training ? "training began" : "start", int(resume), done, left);
    } else {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadAll(log);
      ++finished_early;
      // Later kills then hit --resume runs that find the training done (recovery, export).
      std::printf("  run finished before its kill at %.3f s\n", delay);
    }
  }
  ASSERT_GE(kills, 6) << "the runs kept finishing before their kill; seed " << seed;
  // The final --resume runs to the end.
  const bool resume = stdfs::exists(out + "/last.pt");
  ASSERT_EQ(RunCli(args(out, resume), log), 0) << ReadAll(log);
  std::printf("crash test: %d kills (%d left temporaries that --resume removed), %d runs finished early\n", kills,
              kills_mid_write, finished_early);

  // Nothing half-written or temporary is left.
  EXPECT_EQ(Leftovers(out), std::vector<std::string>());
  EXPECT_EQ(Leftovers(tmp.root()), std::vector<std::string>());

  // history.jsonl: epochs 1..N once each, with the uninterrupted run's numbers (--resume is exact:
  // same device, one thread, RNG reseeded per epoch).
  std::vector<json> hist = ReadHistory(out + "/history.jsonl"), want = ReadHistory(ref + "/history.jsonl");
  ASSERT_EQ(hist.size(), size_t(kEpochs));
  ASSERT_EQ(want.size(), size_t(kEpochs));
  for (int i = 0; i < kEpochs; ++i) {
    ASSERT_TRUE(hist[i].is_object()) << "history line " << i + 1;
    EXPECT_EQ(hist[i]["epoch"], i + 1);
    for (const char* k : {"loss", "accuracy", "val_loss", "val_accuracy"})
      EXPECT_NEAR(hist[i][k].get<double>(), want[i][k].get<double>(), 1e-9) << k << " of epoch " << i + 1;
  }

  // Checkpoints load and agree with the history.
  catdog::train::Checkpoint last, best, ref_best;
  ASSERT_TRUE(catdog::train::ReadCheckpoint(out + "/last.pt", &last));
  ASSERT_TRUE(catdog::train::ReadCheckpoint(out + "/best.pt", &best));
  ASSERT_TRUE(catdog::train::ReadCheckpoint(ref + "/best.pt", &ref_best));
  EXPECT_EQ(MetaEpoch(last), kEpochs);
  EXPECT_EQ(MetaEpoch(best), MetaEpoch(last, "best_epoch"));
  EXPECT_EQ(MetaEpoch(best), MetaEpoch(ref_best));
  ASSERT_EQ(best.tensors.size(), ref_best.tensors.size());
  for (size_t i = 0; i < best.tensors.size(); ++i) EXPECT_EQ(best.tensors[i].data, ref_best.tensors[i].data);

  json card = json::parse(ReadAll(out + "/run.json"), nullptr, false);
  ASSERT_TRUE(card.is_object());
  EXPECT_EQ(card["status"], "finished");
  EXPECT_EQ(card["epochs_run"], kEpochs);

  // TensorBoard: each epoch logged exactly once, whatever the kills cut.
  for (const char* sub : {"train", "validation"}) {
    auto steps = TensorBoardSteps(out + "/logs/" + sub);
    ASSERT_TRUE(steps.count("epoch_loss")) << sub;
    std::vector<int64_t> all(kEpochs);
    for (int i = 0; i < kEpochs; ++i) all[i] = i;
    for (const auto& [tag, v] : steps) EXPECT_EQ(v, all) << sub << "/" << tag;
  }

  // The export parses in the core and gives what libtorch gives for best.pt.
  std::unique_ptr<catdog::Model> model;
  catdog::Status s = catdog::fs::LoadModelDir(out + "/model", {}, &model);
  ASSERT_TRUE(s) << s.message();
  std::vector<float> x(32 * 32);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 97) / 96.f;
  float core_p = -1;
  ASSERT_TRUE(model->Run(x.data(), 1, &core_p));
  std::vector<float> torch_p;
  ASSERT_TRUE(catdog::train::TorchPredict(best, x.data(), 1, &torch_p));
  EXPECT_NEAR(core_p, torch_p[0], 1e-4);
}

TEST(CrashSafe, RecoveryRepairsEachKindOfDamage) {
  // The states a kill can leave, made by hand: a temp file, history.jsonl behind last.pt, best.pt
  // one improvement behind, a torn TensorBoard record and events of an epoch last.pt lacks.
  TempDir tmp;
  const std::string data = catdog::test::RealDataDir();
  ASSERT_FALSE(data.empty());
  CopyPhotos(data, "Cat", 6, tmp.path("img"));
  CopyPhotos(data, "Dog", 6, tmp.path("img"));
  const std::string pack = tmp.path("pack");
  ASSERT_EQ(RunCli({"prepare", "--images", tmp.path("img"), "--out", pack, "--size", "16", "--val-fraction", "0.34",
                    "--test-fraction", "0"},
                   tmp.path("p.log")),
            0)
      << ReadAll(tmp.path("p.log"));
  const std::string out = tmp.path("run");
  // (--no-fused-kernels and --no-cuda-graph are accepted on the CPU, where they change nothing.)
  std::vector<std::string> a = {"train", "--pack", pack, "--arch", "dense", "--epochs", "3", "--threads", "1",
                                "--device", "cpu", "--no-progress", "--no-fused-kernels", "--no-cuda-graph",
                                "--out", out};
  ASSERT_EQ(RunCli(a, tmp.path("t.log")), 0) << ReadAll(tmp.path("t.log"));
  catdog::train::Checkpoint last;
  ASSERT_TRUE(catdog::train::ReadCheckpoint(out + "/last.pt", &last));

  // Damage.
  const std::string staged = LeakStagingDir(out, "last.pt");
  std::ofstream(out + "/last.pt.tmp123456") << "a user's file: never removed";
  const std::string hist = ReadAll(out + "/history.jsonl");
  ASSERT_TRUE(catdog::fs::WriteFileAtomic(out + "/history.jsonl", hist.substr(0, hist.size() / 2)));
  catdog::train::Checkpoint stale = last;  // a best.pt claiming an older epoch
  json m = json::parse(stale.meta_json);
  m["epoch"] = 1;
  stale.meta_json = m.dump();
  ASSERT_TRUE(catdog::train::WriteCheckpoint(out + "/best.pt", stale));
  const std::string ev = SortedFiles(out + "/logs/train").front();
  {
    std::ofstream f(ev, std::ios::app | std::ios::binary);
    f << std::string("\x20\x00\x00\x00\x00\x00\x00\x00\x01\x02", 10);  // a torn record
  }
  catdog::tb::EventWriter extra;
  ASSERT_TRUE(extra.Open(out + "/logs/validation"));
  ASSERT_TRUE(extra.AddScalar("epoch_loss", 1.f, 7));  // an epoch that never reached last.pt
  extra.Close();

  // Only best_epoch == epoch lets best.pt be rebuilt from last.pt; make it so for this check.
  const bool last_is_best = MetaEpoch(last, "best_epoch") == MetaEpoch(last);
  a.push_back("--resume");
  ASSERT_EQ(RunCli(a, tmp.path("r.log")), 0) << ReadAll(tmp.path("r.log"));
  const std::string rlog = ReadAll(tmp.path("r.log"));
  EXPECT_NE(rlog.find("removed 1 staging folder"), std::string::npos) << rlog;
  EXPECT_NE(rlog.find("history.jsonl rewritten"), std::string::npos) << rlog;
  EXPECT_NE(rlog.find("event file(s) cut back"), std::string::npos) << rlog;
  EXPECT_EQ(ReadAll(out + "/history.jsonl"), hist);
  EXPECT_FALSE(stdfs::exists(staged));
  EXPECT_TRUE(stdfs::exists(out + "/last.pt.tmp123456"));
  for (const char* sub : {"train", "validation"})
    for (const auto& [tag, v] : TensorBoardSteps(out + "/logs/" + sub))
      EXPECT_EQ(v, (std::vector<int64_t>{0, 1, 2})) << sub << "/" << tag;
  catdog::train::Checkpoint best;
  ASSERT_TRUE(catdog::train::ReadCheckpoint(out + "/best.pt", &best));
  if (last_is_best) {
    EXPECT_NE(rlog.find("best.pt rewritten"), std::string::npos) << rlog;
    EXPECT_EQ(MetaEpoch(best), 3);
  } else {
    EXPECT_NE(rlog.find("replaced at the next improvement"), std::string::npos) << rlog;
  }

  // A second trainer on the same directory is refused while the first holds it.
  catdog::fs::DirLock lock;
  ASSERT_TRUE(lock.Lock(out, "held by the test"));
  EXPECT_EQ(RunCli(a, tmp.path("l.log")), 2);
  EXPECT_NE(ReadAll(tmp.path("l.log")).find("another `catdog train` is writing to this directory"), std::string::npos)
      << ReadAll(tmp.path("l.log"));
}

// ---- run folders are never mixed or silently replaced -----------------------------------

// A fresh train into an old run folder replaced it and mixed TensorBoard files; --resume with
// another pack was accepted; one class trained to val_acc 1.0; a damaged checkpoint printed a
// libtorch backtrace or was later blamed on --lr.
TEST(RunFolder, FreshRunsResumesAndDamagedCheckpointsAreRefusedClearly) {
  TempDir tmp;
  const std::string data = catdog::test::RealDataDir();
  ASSERT_FALSE(data.empty());
  CopyPhotos(data, "Cat", 6, tmp.path("img"));
  CopyPhotos(data, "Dog", 6, tmp.path("img"));
  auto prepare = [&](const std::string& out, const std::string& images, const std::string& seed,
                     std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"prepare", "--images", images, "--out", out, "--size", "16", "--val-fraction",
                                  "0.34", "--seed", seed};
    a.insert(a.end(), extra.begin(), extra.end());
    return RunCli(a, tmp.path("p.log"));
  };
  ASSERT_EQ(prepare(tmp.path("packA"), tmp.path("img"), "1"), 0) << ReadAll(tmp.path("p.log"));
  ASSERT_EQ(prepare(tmp.path("packB"), tmp.path("img"), "2"), 0) << ReadAll(tmp.path("p.log"));
  const std::string out = tmp.path("run");
  auto train = [&](const std::string& pack, std::vector<std::string> extra, const std::string& log) {
    std::vector<std::string> a = {"train", "--pack", pack, "--arch", "dense", "--batch", "8",
                                  "--threads", "1", "--device", "cpu", "--no-progress", "--out", out};
    if (std::find(extra.begin(), extra.end(), "--epochs") == extra.end()) extra.insert(extra.end(), {"--epochs", "1"});
    a.insert(a.end(), extra.begin(), extra.end());
    return RunCli(a, tmp.path(log));
  };
  auto events = [&](const char* sub) {
    size_t n = 0;
    for (const auto& e : stdfs::directory_iterator(out + "/logs/" + sub))
      n += e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
    return n;
  };
  ASSERT_EQ(train(tmp.path("packA"), {}, "t1.log"), 0) << ReadAll(tmp.path("t1.log"));
  const std::string best_before = ReadAll(out + "/best.pt");

  // A fresh run into it: refused, nothing touched.
  EXPECT_EQ(train(tmp.path("packA"), {}, "t2.log"), 2) << ReadAll(tmp.path("t2.log"));
  EXPECT_NE(ReadAll(tmp.path("t2.log")).find("holds a previous run"), std::string::npos) << ReadAll(tmp.path("t2.log"));
  EXPECT_EQ(ReadAll(out + "/best.pt"), best_before);
  EXPECT_EQ(events("train"), 1u);
  // --force: the old run's files go first, so one event file per folder, not two.
  ASSERT_EQ(train(tmp.path("packA"), {"--force"}, "t3.log"), 0) << ReadAll(tmp.path("t3.log"));
  EXPECT_NE(ReadAll(tmp.path("t3.log")).find("deleted"), std::string::npos) << ReadAll(tmp.path("t3.log"));
  EXPECT_EQ(events("train"), 1u);
  EXPECT_EQ(events("validation"), 1u);

  // --resume with another pack: refused naming both.
  EXPECT_EQ(train(tmp.path("packB"), {"--resume", "--epochs", "2"}, "t4.log"), 2) << ReadAll(tmp.path("t4.log"));
  EXPECT_NE(ReadAll(tmp.path("t4.log")).find("was trained on pack"), std::string::npos) << ReadAll(tmp.path("t4.log"));

  // best.pt deleted: --resume never ends "done" without one (rebuilt from last.pt when last.pt's
  // epoch is the best, refused naming best.pt otherwise).
  stdfs::remove(out + "/best.pt");
  const int rc = train(tmp.path("packA"), {"--resume", "--epochs", "2"}, "t5.log");
  const std::string log5 = ReadAll(tmp.path("t5.log"));
  EXPECT_TRUE((rc == 0 && stdfs::exists(out + "/best.pt")) || (rc == 2 && log5.find("best.pt") != std::string::npos))
      << rc << "\n" << log5;

  // The refusing case needs a run whose best epoch is not its last: patience 1 at a noisy lr
  // stops at the first worse epoch (deterministic: CPU, one thread, fixed seed).
  const std::string noisy = tmp.path("noisy");
  ASSERT_EQ(RunCli({"train", "--pack", tmp.path("packA"), "--arch", "dense", "--epochs", "8", "--batch", "4",
                    "--patience", "1", "--lr", "2e-2", "--threads", "1", "--device", "cpu", "--no-progress", "--out",
                    noisy},
                   tmp.path("n1.log")),
            0)
      << ReadAll(tmp.path("n1.log"));
  catdog::train::Checkpoint nl;
  ASSERT_TRUE(catdog::train::ReadCheckpoint(noisy + "/last.pt", &nl));
  ASSERT_LT(MetaEpoch(nl, "best_epoch"), MetaEpoch(nl)) << "this run's last epoch was its best; pick another --lr";
  stdfs::remove(noisy + "/best.pt");
  EXPECT_EQ(RunCli({"train", "--pack", tmp.path("packA"), "--arch", "dense", "--epochs", "9", "--batch", "4",
                    "--lr", "2e-2", "--threads", "1", "--device", "cpu", "--no-progress", "--out", noisy, "--resume"},
                   tmp.path("n2.log")),
            2)
      << ReadAll(tmp.path("n2.log"));
  EXPECT_NE(ReadAll(tmp.path("n2.log")).find("best.pt is missing"), std::string::npos) << ReadAll(tmp.path("n2.log"));

  // A truncated checkpoint: one line, no libtorch backtrace.
  const std::string last = ReadAll(out + "/last.pt");
  stdfs::create_directories(tmp.path("cut"));
  std::ofstream(tmp.path("cut/last.pt"), std::ios::binary) << last.substr(0, last.size() / 2);
  catdog::train::Checkpoint ck;
  catdog::Status s = catdog::train::ReadCheckpoint(tmp.path("cut/last.pt"), &ck);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("Exception raised from"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("cut/last.pt"), std::string::npos) << s.message();
  // NaN bytes in the weights: the checkpoint is called corrupt when read, not blamed on --lr later.
  ASSERT_TRUE(catdog::train::ReadCheckpoint(out + "/last.pt", &ck));
  ck.tensors[0].data[1] = std::nanf("");
  ASSERT_TRUE(catdog::train::WriteCheckpoint(tmp.path("nan.pt"), ck));
  s = catdog::train::ReadCheckpoint(tmp.path("nan.pt"), &ck);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("non-finite"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("corrupt"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("--lr"), std::string::npos) << s.message();

  // One class: prepare needs --allow-one-class, train refuses it without its own.
  stdfs::create_directories(tmp.path("cats"));
  stdfs::copy(tmp.path("img/Cat"), tmp.path("cats/Cat"));
  ASSERT_EQ(prepare(tmp.path("packC"), tmp.path("cats"), "1", {"--allow-one-class"}), 0) << ReadAll(tmp.path("p.log"));
  EXPECT_EQ(RunCli({"train", "--pack", tmp.path("packC"), "--arch", "dense", "--epochs", "1", "--device", "cpu",
                    "--no-progress", "--out", tmp.path("run-cats")},
                   tmp.path("t6.log")),
            2);
  EXPECT_NE(ReadAll(tmp.path("t6.log")).find("holds no dog image"), std::string::npos) << ReadAll(tmp.path("t6.log"));
  EXPECT_FALSE(stdfs::exists(tmp.path("run-cats/best.pt")));
}

// ---- fine-tuning -----------------------------------------------------------------------------------

TEST(Finetune, TfjsModelsReadBackIntoTheCheckpointTheyCameFrom) {
  TempDir tmp;
  for (const char* name : {"dense", "cnn", "cnn-dropout", "catnet"}) {
    const catdog::train::ArchSpec* arch = catdog::train::FindArch(name);
    ASSERT_NE(arch, nullptr) << name;
    catdog::train::Checkpoint ck;
    ASSERT_TRUE(catdog::train::InitCheckpoint(*arch, 100, 7, &ck));
    // Non-trivial values everywhere (BatchNorm statistics too).
    std::mt19937 rng(1);
    for (auto& t : ck.tensors)
      for (float& v : t.data) v = std::uniform_real_distribution<float>(-1.f, 1.f)(rng) + (t.name.find("running_var") != std::string::npos ? 2.f : 0.f);
    for (const std::string q : {"", "uint8", "float16"}) {
      catdog::train::ExportOptions eo;
      eo.quantize = q;
      eo.compute_golden = false;
      const std::string dir = tmp.path(std::string(name) + "-" + (q.empty() ? "f32" : q));
      ASSERT_TRUE(catdog::train::ExportTfjs(ck, eo, dir));
      catdog::train::TfjsCheckpoint back;
      catdog::Status s = catdog::train::CheckpointFromTfjs(dir, "", &back);
      ASSERT_TRUE(s) << s.message();
      ASSERT_EQ(back.ckpt.tensors.size(), ck.tensors.size());
      for (size_t i = 0; i < ck.tensors.size(); ++i) {
        const auto& want = ck.tensors[i];
        const auto& got = back.ckpt.tensors[i];
        ASSERT_EQ(got.name, want.name);
        ASSERT_EQ(got.shape, want.shape);
        std::vector<float> deq = want.data;
        if (!q.empty()) {
          catdog::train::Quantized qz;
          ASSERT_TRUE(catdog::train::QuantizeTensor(want.data, q, &qz));
          deq = qz.dequantized;
        }
        EXPECT_EQ(got.data, deq) << name << " " << q << " " << want.name;
      }
      json src = json::parse(back.source_json);
      EXPECT_EQ(src["arch"], name);
    }
  }
  // Bad inputs name the file and the weight.
  catdog::train::TfjsCheckpoint back;
  catdog::Status s = catdog::train::CheckpointFromTfjs(tmp.path("cnn-f32"), "dense", &back);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("model.json"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("dense"), std::string::npos) << s.message();
  stdfs::resize_file(tmp.path("dense-uint8/group1-shard1of1.bin"), 100);
  s = catdog::train::CheckpointFromTfjs(tmp.path("dense-uint8"), "", &back);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("dense/kernel"), std::string::npos) << s.message();
}

// The correction loop's trainer half with a shipped model (the tutorial's CNN, uint8) and real photos it
// gets wrong. (The tutorial's dense model is a poor start: fine-tuned on such frames its P(dog)
// went to ~0.5 for every frame; see README.)
TEST(Finetune, MarkedFramesAreClassifiedAsMarkedAfterFinetuning) {
  TempDir tmp;
  const std::string data = catdog::test::RealDataDir();
  ASSERT_FALSE(data.empty());
  const std::string shipped = std::string(CATDOG_SOURCE_DIR) + "/web/models/cnn-u8";
  std::unique_ptr<catdog::Model> original;
  catdog::Status s = catdog::fs::LoadModelDir(shipped, {}, &original);
  ASSERT_TRUE(s) << s.message();

  // 4 cats and 4 dogs the shipped model gets wrong, as the page's 100x100 gray frames; and 40
  // other photos to see that the model is not wrecked by the fine-tune.
  struct Frame {
    std::vector<uint8_t> u8;
    int label;
  };
  std::vector<Frame> marked, others;
  for (int label : {0, 1}) {
    const std::string cls = label ? "Dog" : "Cat";
    int wrong = 0, right = 0;
    for (const std::string& f : SortedFiles(data + "/PetImages/" + cls)) {
      if (wrong == 4 && right == 20) break;
      catdog::imaging::Image img;
      catdog::imaging::Problem p;
      if (!catdog::imaging::DecodeFile(f, {}, &img, &p)) continue;
      Frame fr{std::vector<uint8_t>(100 * 100), label};
      ASSERT_TRUE(catdog::preprocess_u8(img.view(), catdog::Fit::kStretch, 100, fr.u8.data()));
      std::vector<float> x(fr.u8.begin(), fr.u8.end());
      for (float& v : x) v /= 255.f;
      float pd = 0;
      ASSERT_TRUE(original->Run(x.data(), 1, &pd));
      const bool ok = (pd > 0.5f) == bool(label);
      if (!ok && wrong < 4) {
        stdfs::create_directories(tmp.path("marked/" + cls));
        cv::Mat m(100, 100, CV_8UC1, fr.u8.data());
        ASSERT_TRUE(cv::imwrite(tmp.path("marked/" + cls + "/frame" + std::to_string(wrong) + ".png"), m));
        marked.push_back(fr);
        ++wrong;
      } else if (right < 20) {
        others.push_back(fr);  // photos it may or may not get right: a before/after comparison
        ++right;
      }
    }
    ASSERT_EQ(wrong, 4) << cls;
  }

  // prepare (no val/test split: 8 frames) -> fine-tune -> export uint8, as the README's CLI flow.
  const std::string pack = tmp.path("pack");
  ASSERT_EQ(RunCli({"prepare", "--images", tmp.path("marked"), "--out", pack, "--val-fraction", "0", "--test-fraction",
                    "0"},
                   tmp.path("p.log")),
            0)
      << ReadAll(tmp.path("p.log"));
  catdog::pack::Pack pk;
  ASSERT_TRUE(catdog::pack::ReadPack(pack, &pk));
  ASSERT_EQ(pk.count(), 8u);
  const std::string out = tmp.path("ft"), model_dir = tmp.path("ft/model");
  ASSERT_EQ(RunCli({"train", "--finetune", shipped, "--pack", pack, "--out", out, "--export", model_dir, "--quantize",
                    "uint8", "--epochs", "20", "--batch", "4", "--seed", "1", "--threads", "2", "--device", "cpu", "--no-progress"},
                   tmp.path("t.log")),
            0)
      << ReadAll(tmp.path("t.log"));

  std::unique_ptr<catdog::Model> tuned;
  s = catdog::fs::LoadModelDir(model_dir, {}, &tuned);
  ASSERT_TRUE(s) << s.message();
  auto p_dog = [](catdog::Model& m, const Frame& f) {
    std::vector<float> x(f.u8.begin(), f.u8.end());
    for (float& v : x) v /= 255.f;
    float p = -1;
    EXPECT_TRUE(m.Run(x.data(), 1, &p));
    return p;
  };
  int now_right = 0, before_right = 0;
  for (const Frame& f : marked) {
    now_right += (p_dog(*tuned, f) > 0.5f) == bool(f.label);
    before_right += (p_dog(*original, f) > 0.5f) == bool(f.label);
  }
  std::printf("fine-tune: marked frames right %d/8 before, %d/8 after\n", before_right, now_right);
  EXPECT_EQ(before_right, 0);
  EXPECT_GE(now_right, 7) << ReadAll(tmp.path("t.log")) << ReadAll(out + "/history.jsonl");
  int others_before = 0, others_after = 0;
  for (const Frame& f : others) {
    others_before += (p_dog(*original, f) > 0.5f) == bool(f.label);
    others_after += (p_dog(*tuned, f) > 0.5f) == bool(f.label);
  }
  std::printf("fine-tune: %zu other photos right %d before, %d after\n", others.size(), others_before, others_after);
  EXPECT_GE(others_after, others_before - int(others.size()) / 5) << "the fine-tune wrecked the model";

  // The metadata says where it came from and on what.
  json mj = json::parse(ReadAll(model_dir + "/model.json"));
  const json& cd = mj["userDefinedMetadata"]["catdog"];
  EXPECT_EQ(cd["arch"], "cnn");
  EXPECT_EQ(cd["quantization"], "uint8");
  EXPECT_EQ(cd["run_card"]["finetuned_from"]["id"], "cnn-u8");
  EXPECT_EQ(cd["run_card"]["finetuned_from"]["model_json_sha256"],
            catdog::pack::Sha256::Hex(ReadAll(shipped + "/model.json").data(), ReadAll(shipped + "/model.json").size()));
  EXPECT_EQ(cd["run_card"]["pack"]["content_hash"], pk.content_hash);
  EXPECT_EQ(cd["run_card"]["pack"]["val_images"], 0);
  EXPECT_FALSE(cd.contains("calibration"));
  EXPECT_EQ(Leftovers(out), std::vector<std::string>());
}

TEST(Finetune, BadModelsAndPacksAreBadInput) {
  TempDir tmp;
  stdfs::create_directories(tmp.path("m"));
  ASSERT_TRUE(catdog::fs::WriteFileAtomic(tmp.path("m/model.json"), std::string("{\"format\":\"layers-model\"}")));
  ASSERT_EQ(RunCli({"train", "--finetune", tmp.path("m"), "--pack", tmp.path("nope"), "--out", tmp.path("o")},
                   tmp.path("a.log")),
            2);
  const std::string a = ReadAll(tmp.path("a.log"));
  EXPECT_NE(a.find(tmp.path("m/model.json") + ": userDefinedMetadata.catdog.arch is missing"), std::string::npos) << a;
  ASSERT_EQ(RunCli({"train", "--pack", tmp.path("nope"), "--out", tmp.path("o")}, tmp.path("b.log")), 2);
  EXPECT_NE(ReadAll(tmp.path("b.log")).find("--arch is required"), std::string::npos) << ReadAll(tmp.path("b.log"));
}

}  // namespace
