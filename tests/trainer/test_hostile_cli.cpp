// Hostile model folders and flags against the `catdog` binary (issue 19): every subcommand that
// loads a model must refuse, with exit 2 and a message naming the path, in bounded time: JSON
// nested 100,000 deep in the fields the loader reads, shards outside the folder (traversal,
// symlinks), special files (FIFO, socket, directory, device), one file listed twice or under two
// names, shards holding more bytes than the weights need, non-UTF-8 and very long names. Every
// numeric flag: both ends of its range accepted by the parser, beyond them exit 2 naming the flag
// and the value. Each run is wrapped in `timeout` so a hang fails the test instead of the suite.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <sstream>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "fsutil.h"
#include "pack.h"
#include "test_util.h"

// The subcommands report their exit code here (main.cpp's definition is not linked into tests).
namespace catdog::cli {
int& ExitCode() {
  static int code = kExitOk;
  return code;
}
}  // namespace catdog::cli

namespace stdfs = std::filesystem;
using catdog::test::TempDir;
using json = nlohmann::json;
using catdog::Status;

namespace {

const std::string kShipped = std::string(CATDOG_SOURCE_DIR) + "/web/models/catnet-aug";
constexpr char kShard[] = "group1-shard1of1.bin";

using catdog::test::Ran;

// `timeout 60 catdog ARGS` with CI=true; 137 means it hung and was killed.
Ran Catdog(const TempDir& tmp, const std::string& args) { return catdog::test::RunCli(CATDOG_CLI, tmp, args, 60); }

std::string Q(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

json ShippedJson() {
  std::ifstream in(kShipped + "/model.json");
  return json::parse(in);
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A copy of the shipped model in `dir` with `doc` as its model.json (the shard copied unless
// `copy_shard` is false).
std::string MakeModel(const std::string& dir, const std::string& model_json, bool copy_shard = true) {
  stdfs::create_directories(dir);
  if (copy_shard) stdfs::copy_file(kShipped + "/" + kShard, dir + "/" + kShard);
  WriteText(dir + "/model.json", model_json);
  return dir;
}

std::string WithPaths(const json& paths) {
  json doc = ShippedJson();
  doc["weightsManifest"][0]["paths"] = paths;
  return doc.dump();
}

// The model-loading subcommands, each given the model folder: `infer` (loads with the self-check)
// for every case; with `all`, also infer --selfcheck off (the plain loader), predict, bench, seal,
// quantize and convert, which share the reader (each run of the binary costs seconds of libtorch start-up here).
std::vector<std::string> Loaders(const TempDir& tmp, const std::string& model, bool all = false) {
  const std::string input = tmp.path("input.f32");
  if (!stdfs::exists(input)) WriteText(input, std::string(100 * 100 * 4, '\0'));
  const std::string photo = tmp.path("photo.bmp");
  if (!stdfs::exists(photo)) stdfs::copy_file(std::string(CATDOG_SOURCE_DIR) + "/tests/consumer/cat.bmp", photo);
  std::vector<std::string> v = {"infer --model " + Q(model) + " --input " + Q(input) + " --shape 1,100,100,1"};
  if (all) {
    v.push_back("infer --selfcheck off --model " + Q(model) + " --input " + Q(input) + " --shape 1,100,100,1");
    v.push_back("predict --model " + Q(model) + " " + Q(photo));
    v.push_back("bench --runs 1 --warmup 0 --model " + Q(model));
    v.push_back("seal --force --model " + Q(model));
    v.push_back("quantize " + Q(model) + " --dtype uint8 --out " + Q(tmp.path("quantized")));
    v.push_back("convert " + Q(model) + " --to onnx --force --out " + Q(tmp.path("converted.onnx")));
  }
  return v;
}

// The loaders exit 2 within the timeout and name `want` (and for file cases the path).
void ExpectAllRefuse(const TempDir& tmp, const std::string& model, const std::vector<std::string>& want,
                     bool all = false) {
  for (const std::string& args : Loaders(tmp, model, all)) {
    SCOPED_TRACE(args.substr(0, 200));
    Ran r = Catdog(tmp, args);
    EXPECT_EQ(r.code, 2) << r.err.substr(0, 2000);
    for (const std::string& w : want) EXPECT_NE(r.err.find(w), std::string::npos) << "want '" << w << "' in: " << r.err.substr(0, 2000);
  }
}

std::string Deep(size_t n) { return std::string(n, '[') + std::string(n, ']'); }

TEST(HostileModelDir, DeepNestingInFieldsTheLoaderReads) {
  TempDir tmp;
  const struct {
    const char* name;
    std::function<void(json&)> put;
  } cases[] = {
      {"meta", [](json& d) { d["userDefinedMetadata"]["x"] = "@DEEP@"; }},
      {"paths", [](json& d) { d["weightsManifest"][0]["paths"][0] = "@DEEP@"; }},
      {"shape", [](json& d) { d["weightsManifest"][0]["weights"][0]["shape"] = "@DEEP@"; }},
      {"temperature", [](json& d) { d["userDefinedMetadata"]["catdog"]["calibration"]["temperature"] = "@DEEP@"; }},
      {"selfcheck", [](json& d) { d["userDefinedMetadata"]["catdog"]["selfcheck"]["golden"] = "@DEEP@"; }},
      {"layer", [](json& d) { d["modelTopology"]["config"]["layers"][1]["config"] = "@DEEP@"; }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    json doc = ShippedJson();
    c.put(doc);
    std::string text = doc.dump();
    text.replace(text.find("\"@DEEP@\""), 8, Deep(100000));
    const std::string dir = MakeModel(tmp.path(std::string("deep-") + c.name), text);
    ExpectAllRefuse(tmp, dir, {dir + "/model.json", "nested deeper than 128 levels"});
  }
}

TEST(HostileModelDir, ShardsOutsideTheFolderAreNeverRead) {
  TempDir tmp;
  stdfs::create_directories(tmp.path("outside"));
  stdfs::copy_file(kShipped + "/" + kShard, tmp.path("outside/") + kShard);
  // Traversal in the manifest: refused by the core's path rule before any file is opened.
  for (const std::string& p : {std::string("../outside/") + kShard, std::string("../../../../../../etc/passwd"),
                               std::string("sub/../../outside/") + kShard}) {
    SCOPED_TRACE(p);
    const std::string dir = MakeModel(tmp.path("trav"), WithPaths({p}), false);
    ExpectAllRefuse(tmp, dir, {"\"" + p + "\"", "leaves the model's folder"}, p == std::string("../outside/") + kShard);
    stdfs::remove_all(dir);
  }
  const std::string abs = tmp.path("outside/") + kShard;
  MakeModel(tmp.path("abs"), WithPaths({abs}), false);
  ExpectAllRefuse(tmp, tmp.path("abs"), {"is absolute"});
  // Symlinks leading out: to the real shard elsewhere, to /etc/passwd, to a device, a chain.
  const std::vector<std::pair<std::string, std::string>> links = {
      {"shard-out", tmp.path("outside/") + kShard}, {"passwd", "/etc/passwd"}, {"zero", "/dev/zero"},
      {"relative", std::string("../outside/") + kShard}};
  for (const auto& [name, target] : links) {
    SCOPED_TRACE(name);
    const std::string dir = MakeModel(tmp.path("link-" + name), ShippedJson().dump(), false);
    stdfs::create_symlink(target, dir + "/" + kShard);
    ExpectAllRefuse(tmp, dir, {kShard, "outside the model's folder"}, name == "shard-out");
  }
  // A symlink to a folder outside, with the shard reached through it.
  const std::string dir = MakeModel(tmp.path("dirlink"), WithPaths({std::string("w/") + kShard}), false);
  stdfs::create_directory_symlink(tmp.path("outside"), dir + "/w");
  ExpectAllRefuse(tmp, dir, {"outside the model's folder"});
}

TEST(HostileModelDir, SymlinksThatStayInsideAreFollowed) {
  TempDir tmp;
  const std::string dir = MakeModel(tmp.path("m"), WithPaths({kShard}), false);
  stdfs::create_directories(dir + "/real");
  stdfs::copy_file(kShipped + "/" + kShard, dir + "/real/" + kShard);
  stdfs::create_symlink(std::string("real/") + kShard, dir + "/" + kShard);
  Ran r = Catdog(tmp, Loaders(tmp, dir)[0]);
  EXPECT_EQ(r.code, 0) << r.err;
  // And a model folder reached through a symlink.
  stdfs::create_directory_symlink(dir, tmp.path("m-link"));
  r = Catdog(tmp, Loaders(tmp, tmp.path("m-link"))[0]);
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST(HostileModelDir, SpecialFilesAreRefusedWithoutBlocking) {
  TempDir tmp;
  {
    const std::string dir = MakeModel(tmp.path("fifo"), ShippedJson().dump(), false);
    ASSERT_EQ(::mkfifo((dir + "/" + kShard).c_str(), 0644), 0);
    ExpectAllRefuse(tmp, dir, {kShard, "is a FIFO (named pipe), expected a regular file"}, true);
  }
  {
    const std::string dir = tmp.path("fifo-json");
    stdfs::create_directories(dir);
    ASSERT_EQ(::mkfifo((dir + "/model.json").c_str(), 0644), 0);
    ExpectAllRefuse(tmp, dir, {dir + "/model.json", "is a FIFO"});
  }
  {
    const std::string dir = MakeModel(tmp.path("sock"), ShippedJson().dump(), false);
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string p = dir + "/" + kShard;
    ASSERT_LT(p.size(), sizeof addr.sun_path);
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", p.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ExpectAllRefuse(tmp, dir, {kShard, "is a socket"});
    ::close(fd);
  }
  {
    const std::string dir = MakeModel(tmp.path("dir"), ShippedJson().dump(), false);
    stdfs::create_directories(dir + "/" + kShard);
    ExpectAllRefuse(tmp, dir, {kShard, "is a directory"});
  }
}

TEST(HostileModelDir, OneFileUnderTwoNamesOrTooManyBytes) {
  TempDir tmp;
  // The 20,000-times-the-same-1-MB-shard manifest: refused at parse, before any read.
  MakeModel(tmp.path("dup"), WithPaths(std::vector<std::string>(20000, kShard)));
  ExpectAllRefuse(tmp, tmp.path("dup"), {"names a file listed before"}, true);
  // Two names, one file (a hard link, a symlink inside): each file is read once.
  json doc = ShippedJson();
  doc["weightsManifest"][0]["paths"] = {kShard, "copy.bin"};
  for (const char* how : {"hard", "soft"}) {
    SCOPED_TRACE(how);
    const std::string dir = MakeModel(tmp.path(std::string("two-") + how), doc.dump());
    if (std::string(how) == "hard") stdfs::create_hard_link(dir + "/" + kShard, dir + "/copy.bin");
    else stdfs::create_symlink(kShard, dir + "/copy.bin");
    ExpectAllRefuse(tmp, dir, {"'copy.bin'", "is the same file as 'group1-shard1of1.bin'"});
  }
  // Shards larger than the weights need: refused from their sizes, before reading.
  const std::string big = MakeModel(tmp.path("big"), ShippedJson().dump());
  stdfs::resize_file(big + "/" + kShard, 64ull << 20);
  ExpectAllRefuse(tmp, big, {"hold more bytes than the weights need", "nothing was read"}, true);
  // Many distinct shards: the core's limit.
  std::vector<std::string> many;
  for (int i = 0; i < 5000; ++i) many.push_back("s" + std::to_string(i) + ".bin");
  MakeModel(tmp.path("many"), WithPaths(many));
  ExpectAllRefuse(tmp, tmp.path("many"), {"more than 4096 shard files"});
  // A missing shard still names it.
  MakeModel(tmp.path("missing"), ShippedJson().dump(), false);
  ExpectAllRefuse(tmp, tmp.path("missing"), {kShard, "No such file or directory"});
}

TEST(HostileModelDir, OddAndLongNames) {
  TempDir tmp;
  // A non-UTF-8 folder name works (it is the user's path, not the model's data).
  const std::string odd = MakeModel(tmp.path("m\xff\xfe name"), ShippedJson().dump());
  Ran r = Catdog(tmp, Loaders(tmp, odd)[0]);
  EXPECT_EQ(r.code, 0) << r.err;
  // A very long folder path (near PATH_MAX) still loads or is refused cleanly.
  std::string deep_dir = tmp.root();
  while (deep_dir.size() < 3800) deep_dir += "/" + std::string(200, 'd');
  const std::string longp = MakeModel(deep_dir, ShippedJson().dump());
  r = Catdog(tmp, Loaders(tmp, longp)[0]);
  EXPECT_EQ(r.code, 0) << r.err.substr(0, 500);
  // Non-UTF-8 bytes inside model.json: invalid JSON, named.
  std::string text = WithPaths({"PLACEHOLDER"});
  text.replace(text.find("PLACEHOLDER"), 11, "w\xff.bin");
  MakeModel(tmp.path("bad-utf8"), text);
  ExpectAllRefuse(tmp, tmp.path("bad-utf8"), {"invalid JSON"});
  // A 100 KB shard name: refused by length, the message stays short.
  MakeModel(tmp.path("longname"), WithPaths({std::string(100000, 'n')}));
  for (const std::string& args : Loaders(tmp, tmp.path("longname"))) {
    Ran l = Catdog(tmp, args);
    EXPECT_EQ(l.code, 2);
    EXPECT_NE(l.err.find("bytes long (the limit is 1024)"), std::string::npos) << l.err.substr(0, 500);
    EXPECT_LT(l.err.size(), 4000u);
  }
}

TEST(HostilePackJson, DeepNestingIsRefusedWithTheDepth) {
  catdog::pack::Pack p;
  const std::string deep = "{\"format\":\"catdog-pack\",\"x\":" + Deep(100000) + "}";
  Status s = catdog::pack::ParsePack(deep, std::map<std::string, catdog::pack::ByteSpan>{}, &p, "p/pack.json");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "p/pack.json: not valid JSON (JSON nested deeper than 128 levels (arrays/objects inside each other))");
}

// ---- numeric flags ------------------------------------------------------------------------------
// Parsed in this process with the subcommands' own CLI11 definitions (commands.h), as main does;
// a few cases also through the binary for the exit code itself.
struct Parsed {
  int code = -1;  // what main would return
  std::string msg;
};

Parsed ParseArgs(const std::string& line) {
  CLI::App app{"catdog"};
  app.require_subcommand(1);
  using namespace catdog::cli;
  RegisterCommands(app);
  std::vector<std::string> args;
  std::istringstream in(line);
  for (std::string w; in >> w;) args.push_back(w);
  std::reverse(args.begin(), args.end());  // CLI11 takes the vector reversed
  Parsed p;
  ExitCode() = kExitOk;
  try {
    app.parse(args);
    p.code = ExitCode();
  } catch (const CLI::ParseError& e) {
    std::ostringstream out, err;
    p.code = app.exit(e, out, err) == 0 ? 0 : kExitBadInput;
    p.msg = err.str() + e.what();
  }
  return p;
}

struct FlagCase {
  std::string cmd;  // subcommand and its required options
  std::string flag;
  std::vector<std::string> ok, bad;
};

TEST(HostileFlags, EveryNumberFlagHasARange) {
  TempDir tmp;
  // Paths that do not exist: a run that gets past the flags fails at once on them.
  const std::string m = tmp.path("no-model"), pack = tmp.path("no-pack"), img = tmp.path("no-images");
  const std::string out = tmp.path("out"), in = tmp.path("no-input.f32");
  const std::string prep = "prepare --images " + img + " --out " + out;
  const std::string train = "train --arch dense --pack " + pack + " --out " + out;
  const std::vector<FlagCase> cases = {
      {prep, "--threads", {"0", "256"}, {"-1", "257", "1000000000", "x"}},
      {prep, "--size", {"8", "1024"}, {"7", "1025", "-5", "99999999999"}},
      {prep, "--val-fraction", {"0", "1"}, {"-0.1", "1.5", "nan", "inf"}},
      {prep, "--test-fraction", {"0", "1"}, {"-0.1", "2", "nan", "-inf"}},
      {prep, "--max-shard-mb", {"0", "60"}, {"61", "-1", "nan", "1e308"}},
      {prep, "--max-pixels", {"1", "4294967296"}, {"0", "4294967297", "-1"}},
      {prep, "--zstd-level", {"1", "19"}, {"0", "20", "-3"}},
      {prep, "--seed", {"0", "18446744073709551615"}, {"-1", "18446744073709551616", "x"}},
      {"preview --pack " + pack + " --out " + tmp.path("g.png"), "--scale", {"1", "16"}, {"0", "17", "-2", "4096"}},
      {"preview --pack " + pack + " --out " + tmp.path("g.png"), "--seed", {"0", "18446744073709551615"}, {"-1", "1e3x"}},
      {"predict --model " + m + " " + tmp.path("none.jpg"), "--threads", {"1", "256"}, {"0", "257", "1000000000"}},
      {"predict --model " + m + " " + tmp.path("none.jpg"), "--max-pixels", {"1", "4294967296"}, {"0", "4294967297"}},
      {"infer --model " + m + " --input " + in + " --shape 1,100,100,1", "--threads", {"1", "256"}, {"0", "257", "-1"}},
      {"bench --model " + m + " --runs 1 --warmup 0", "--batch", {"1", "4096"}, {"0", "4097", "-1"}},
      {"bench --model " + m + " --warmup 0", "--runs", {"1", "1000000"}, {"0", "1000001"}},
      {"bench --model " + m + " --runs 1", "--warmup", {"0", "1000000"}, {"-1", "1000001"}},
      {"bench --model " + m + " --runs 1 --warmup 0", "--threads", {"1", "256"}, {"0", "257"}},
      {"evaluate --model " + m + " --pack " + pack, "--batch", {"1", "4096"}, {"0", "4097", "-1"}},
      {"evaluate --model " + m + " --pack " + pack, "--threads", {"1", "256"}, {"0", "257", "1000000000"}},
      {"evaluate --model " + m + " --pack " + pack, "--worst", {"0", "100000"}, {"-1", "100001"}},
      {"evaluate --model " + m + " --pack " + pack + " --corruptions", "--severities", {"0", "3"}, {"-1", "4"}},
      {"evaluate --model " + m + " --pack " + pack + " --corruptions", "--corruption-seed", {"0", "18446744073709551615"},
       {"-1", "x"}},
      {"calibrate --model " + m + " --pack " + pack, "--batch", {"1", "4096"}, {"0", "4097"}},
      {"calibrate --model " + m + " --pack " + pack, "--threads", {"1", "256"}, {"0", "257"}},
#ifdef CATDOG_TEST_HAVE_TORCH
      {train, "--epochs", {"1", "100000"}, {"0", "100001", "-1"}},
      {train, "--batch", {"1", "1048576"}, {"0", "1048577"}},
      {train, "--lr", {"1e-12", "10"}, {"0", "-0.1", "11", "nan", "inf"}},
      {train, "--patience", {"0", "100000"}, {"-1", "100001"}},
      {train, "--until-loss", {"0", "100"}, {"-0.5", "101", "nan"}},
      {train, "--limit", {"0", "1099511627776"}, {"-1", "1099511627777"}},
      {train, "--threads", {"0", "256"}, {"-1", "257", "1000000000"}},
      {train, "--warmup-epochs", {"0", "100000"}, {"-1", "100001"}},
      {train, "--seed", {"0", "18446744073709551615"}, {"-1"}},
      {train, "--label-smoothing", {"0", "0.4"}, {"-0.1", "0.6", "nan"}},
      {train, "--random-erase", {"0", "1"}, {"-0.1", "1.5", "nan"}},
      {train, "--ema", {"0", "0.999"}, {"-0.1", "1.5", "inf"}},
      {train, "--corrupt", {"0", "1"}, {"-0.1", "1.5", "nan"}},
      {train, "--outliers", {"0", "0.25", "1"}, {"-0.1", "1.5", "nan"}},
      {train, "--distill-alpha", {"0", "1"}, {"-0.1", "1.5", "nan"}},
      {train, "--distill-temp", {"0.05", "100"}, {"0", "101", "inf"}},
      {train, "--dist-timeout", {"1", "86400"}, {"0", "86401", "-1"}},
      {train, "--dist-bucket-kb", {"1", "1048576"}, {"0", "1048577", "-1"}},
      // launch without a command after -- stops at once (bad input) when the flags parse.
      {"launch", "--nproc", {"1", "1024"}, {"0", "1025", "-1"}},
      {"launch", "--master-port", {"0", "65535"}, {"-1", "65536"}},
      {"launch", "--grace", {"0", "3600"}, {"-1", "3601"}},
#endif
  };
  for (const FlagCase& c : cases) {
    for (const std::string& v : c.bad) {
      SCOPED_TRACE(c.cmd.substr(0, c.cmd.find(' ')) + " " + c.flag + " " + v);
      Parsed r = ParseArgs(c.cmd + " " + c.flag + " " + v);
      EXPECT_EQ(r.code, 2) << r.msg;
      EXPECT_NE(r.msg.find(c.flag), std::string::npos) << r.msg;
      EXPECT_NE(r.msg.find(v), std::string::npos) << r.msg;
    }
    for (const std::string& v : c.ok) {
      SCOPED_TRACE(c.cmd.substr(0, c.cmd.find(' ')) + " " + c.flag + " " + v + " (in range)");
      Parsed r = ParseArgs(c.cmd + " " + c.flag + " " + v);
      // The parser accepts it; the run then fails on the missing files, not on this value.
      EXPECT_TRUE(r.msg.empty()) << r.msg;
    }
  }
}

TEST(HostileFlags, TheBinaryExitsTwoNamingFlagAndValue) {
  TempDir tmp;
  const struct {
    std::string args, want;
  } cases[] = {
      {"prepare --images " + Q(tmp.path("i")) + " --out " + Q(tmp.path("o")) + " --threads 1000000000",
       "--threads: Value 1000000000 not in range"},
      {"bench --model " + Q(kShipped) + " --batch 0", "--batch: Value 0 not in range"},
#ifdef CATDOG_TEST_HAVE_TORCH
      {"train --arch dense --pack " + Q(tmp.path("p")) + " --out " + Q(tmp.path("o")) + " --lr nan",
       "--lr: Value nan is not a finite number"},
#endif
  };
  for (const auto& c : cases) {
    Ran r = Catdog(tmp, c.args);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find(c.want), std::string::npos) << r.err;
  }
}

}  // namespace
