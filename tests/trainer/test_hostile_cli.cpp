// Hostile model folders and flags against the `catdog` binary: every subcommand that
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
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <csignal>
#include <cmath>
#include <fcntl.h>
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
// A real photo (PetImages Cat/5.jpg of the real data, never committed) copied to `dest`; false after
// a test failure when the data is not there.
bool CopyCatPhoto(const std::string& dest) {
  const std::string data = catdog::test::RealDataDir();
  if (data.empty()) return false;
  stdfs::copy_file(data + "/PetImages/Cat/5.jpg", dest);
  return true;
}

std::vector<std::string> Loaders(const TempDir& tmp, const std::string& model, bool all = false) {
  const std::string input = tmp.path("input.f32");
  if (!stdfs::exists(input)) WriteText(input, std::string(100 * 100 * 4, '\0'));
  const std::string photo = tmp.path("photo.jpg");
  if (!stdfs::exists(photo)) CopyCatPhoto(photo);
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


// ---- never destroy what the user has ------------------------------------------------
// The output rule (DESIGN contract 4): --out never names an input, a folder holding one or a folder
// inside one; an existing folder catdog did not write (no .catdog-output marker) is refused without
// --force, and even with --force only the model's files are replaced. One file reader: FIFOs and
// devices are refused by name without blocking. Single-file outputs are never silently replaced.

std::string Bytes(const std::string& path) { return catdog::test::ReadAll(path); }

// A copy of the shipped float model; `extra` files (relative path -> text) added.
std::string CopyShipped(const std::string& dir) {
  stdfs::create_directories(dir);
  stdfs::copy_file(kShipped + "/model.json", dir + "/model.json");
  stdfs::copy_file(kShipped + "/" + kShard, dir + "/" + kShard);
  return dir;
}

// A pack of the first `n` real photos of each class, half of them val (with 40 per class the shipped
// catnet-aug gets every val image right with room to spare; with 80 it does not).
std::string MakePack(const TempDir& tmp, size_t n = 8) {
  if (!catdog::test::CopyFirstPhotos(tmp, n)) return "";
  Ran r = Catdog(tmp, "prepare --images " + Q(tmp.path("img")) + " --out " + Q(tmp.path("pack")) +
                          " --seed 7 --val-fraction 0.5 --test-fraction 0");
  EXPECT_EQ(r.code, 0) << r.err;
  return tmp.path("pack");
}

json ModelJson(const std::string& dir) { return json::parse(Bytes(dir + "/model.json")); }

TEST(UserFiles, QuantizeNeverWritesOverItsSource) {
  TempDir tmp;
  const std::string m = CopyShipped(tmp.path("r1"));
  const std::string before = Bytes(m + "/model.json"), shard = Bytes(m + "/" + kShard);
  // #1: --out is the source itself (also spelled with a trailing slash and through a symlink).
  stdfs::create_directory_symlink(m, tmp.path("r1-link"));
  for (const std::string& out : {m, m + "/", tmp.path("r1-link")}) {
    Ran r = Catdog(tmp, "quantize " + Q(m) + " --dtype uint8 --out " + Q(out));
    EXPECT_EQ(r.code, 2) << out << ": " << r.err;
    EXPECT_NE(r.err.find("is the input"), std::string::npos) << r.err;
  }
  Ran r = Catdog(tmp, "quantize " + Q(m) + " --dtype uint8 --out " + Q(m) + " --force");
  EXPECT_EQ(r.code, 2) << "--force never makes the source an output: " << r.err;
  // #3: --out holds the source (nest/inner -> nest), or lies inside it.
  const std::string inner = CopyShipped(tmp.path("nest/inner"));
  r = Catdog(tmp, "quantize " + Q(inner) + " --dtype uint8 --out " + Q(tmp.path("nest")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("contains the input"), std::string::npos) << r.err;
  r = Catdog(tmp, "quantize " + Q(inner) + " --dtype uint8 --out " + Q(inner + "/q"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("is inside the input"), std::string::npos) << r.err;
  EXPECT_EQ(Bytes(m + "/model.json"), before);
  EXPECT_EQ(Bytes(m + "/" + kShard), shard);
  EXPECT_EQ(Bytes(inner + "/model.json"), before);
  EXPECT_FALSE(stdfs::exists(inner + "/q"));
  EXPECT_EQ(ModelJson(m)["userDefinedMetadata"]["catdog"]["quantization"], "none");
}

TEST(UserFiles, AFolderCatdogDidNotWriteIsKept) {
  TempDir tmp;
  const std::string m = CopyShipped(tmp.path("m"));
  // #2: a user's folder that happens to hold a model.json, with their notes and photos.
  const std::string user = CopyShipped(tmp.path("user"));
  WriteText(user + "/NOTES.txt", "my notes");
  stdfs::create_directories(user + "/photos");
  WriteText(user + "/photos/cat.jpg", "not really a jpeg");
  const std::string old_json = Bytes(user + "/model.json");
  Ran r = Catdog(tmp, "quantize " + Q(m) + " --dtype uint8 --out " + Q(user));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(user), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("NOTES.txt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(Bytes(user + "/model.json"), old_json);
  // --force replaces the model's files only: the notes and photos stay, same bytes.
  r = Catdog(tmp, "quantize " + Q(m) + " --dtype uint8 --out " + Q(user) + " --force");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Bytes(user + "/NOTES.txt"), "my notes");
  EXPECT_EQ(Bytes(user + "/photos/cat.jpg"), "not really a jpeg");
  EXPECT_EQ(ModelJson(user)["userDefinedMetadata"]["catdog"]["quantization"], "uint8");
  ASSERT_TRUE(stdfs::exists(user + "/.catdog-output"));
  const json marker = json::parse(Bytes(user + "/.catdog-output"));
  EXPECT_EQ(marker["files"], json({kShard, "model.json"}));
  // Still not all catdog's: refused again without --force.
  r = Catdog(tmp, "quantize " + Q(m) + " --dtype uint16 --out " + Q(user));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("photos/"), std::string::npos) << r.err;
  // A folder holding only what catdog wrote there is replaced as before, without --force.
  r = Catdog(tmp, "quantize " + Q(m) + " --dtype uint8 --out " + Q(tmp.path("q")));
  ASSERT_EQ(r.code, 0) << r.err;
  r = Catdog(tmp, "quantize " + Q(m) + " --dtype uint16 --out " + Q(tmp.path("q")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ModelJson(tmp.path("q"))["userDefinedMetadata"]["catdog"]["quantization"], "uint16");
  // An empty folder is fine; a user's file where the model puts its shard is refused even with --force.
  stdfs::create_directories(tmp.path("empty"));
  EXPECT_EQ(Catdog(tmp, "quantize " + Q(m) + " --dtype uint8 --out " + Q(tmp.path("empty"))).code, 0);
  stdfs::create_directories(tmp.path("clash"));
  WriteText(tmp.path("clash/") + kShard, "mine");
  r = Catdog(tmp, "quantize " + Q(m) + " --dtype uint8 --out " + Q(tmp.path("clash")) + " --force");
  EXPECT_NE(r.code, 0) << r.err;
  EXPECT_EQ(Bytes(tmp.path("clash/") + kShard), "mine");
}

// #13: a replace killed between its two renames left the old folder in a staging folder and --out
// absent; the next run to that name puts it back instead of deleting it.
TEST(UserFiles, AnInterruptedReplaceIsRecovered) {
  TempDir tmp;
  const std::string m = CopyShipped(tmp.path("m"));
  CopyShipped(tmp.path("old"));
  WriteText(tmp.path("old/NOTES.txt"), "keep me");
  pid_t pid = ::fork();
  if (pid == 0) {  // a catdog that dies between the renames: staging folder + previous-folder
    auto* staging = new catdog::fs::StagingDir;
    if (!staging->Create(tmp.root(), "target")) ::_exit(1);
    ::_exit(::rename(tmp.path("old").c_str(), (staging->path() + "/" + catdog::fs::kPreviousName).c_str()) == 0 ? 0 : 1);
  }
  ASSERT_EQ(catdog::test::WaitExit(pid), 0);
  ASSERT_FALSE(stdfs::exists(tmp.path("target")));
  Ran r = Catdog(tmp, "quantize " + Q(m) + " --dtype uint8 --out " + Q(tmp.path("target")));
  EXPECT_EQ(r.code, 2) << "the recovered folder is a user's: " << r.err;
  EXPECT_EQ(Bytes(tmp.path("target/NOTES.txt")), "keep me");
  EXPECT_TRUE(stdfs::exists(tmp.path("target/model.json")));
}

// #14: a killed in-place write left a staging folder inside the model folder: the next write of
// the same file removes it (marker checked), and a folder replace does not carry it on.
TEST(UserFiles, StagingLeftInsideAModelFolderIsRemoved) {
  TempDir tmp;
  const std::string m = CopyShipped(tmp.path("m"));
  std::string left;
  pid_t pid = ::fork();
  if (pid == 0) {
    auto* staging = new catdog::fs::StagingDir;
    if (!staging->Create(m, "model.json")) ::_exit(1);
    WriteText(staging->path() + "/model.json", "{half");
    ::_exit(0);
  }
  ASSERT_EQ(catdog::test::WaitExit(pid), 0);
  for (const auto& e : stdfs::directory_iterator(m))
    if (e.path().filename().string().rfind(".catdog-tmp-", 0) == 0) left = e.path().string();
  ASSERT_FALSE(left.empty());
  Ran r = Catdog(tmp, "seal --force --model " + Q(m));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(stdfs::exists(left)) << "the dead write's staging folder is still in the model folder";
}

TEST(UserFiles, SingleFileOutputsAreNotReplacedSilently) {
  TempDir tmp;
  const std::string pack = MakePack(tmp, 4);
  ASSERT_FALSE(pack.empty());
  // #5: preview --out an existing photo.
  WriteText(tmp.path("my_photo.jpg"), "a precious photo");
  Ran r = Catdog(tmp, "preview --pack " + Q(pack) + " --out " + Q(tmp.path("my_photo.jpg")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("my_photo.jpg"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(Bytes(tmp.path("my_photo.jpg")), "a precious photo");
  r = Catdog(tmp, "preview --pack " + Q(pack) + " --out " + Q(tmp.path("my_photo.jpg")) + " --force");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(Bytes(tmp.path("my_photo.jpg")), "a precious photo");
  // Never into the pack (or a model folder).
  r = Catdog(tmp, "preview --pack " + Q(pack) + " --out " + Q(pack + "/grid.png"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_FALSE(stdfs::exists(pack + "/grid.png"));
  CopyShipped(tmp.path("m"));
  r = Catdog(tmp, "preview --pack " + Q(pack) + " --out " + Q(tmp.path("m/grid.png")) + " --force");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp.path("m/grid.png")));
  // prepare --report: an existing file, and the pack's own pack.json.
  WriteText(tmp.path("other.jpg"), "another photo");
  r = Catdog(tmp, "prepare --images " + Q(tmp.path("img")) + " --out " + Q(tmp.path("p2")) + " --report " + Q(tmp.path("other.jpg")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(Bytes(tmp.path("other.jpg")), "another photo");
  EXPECT_FALSE(stdfs::exists(tmp.path("p2/pack.json"))) << "refused before the work";
  r = Catdog(tmp, "prepare --images " + Q(tmp.path("img")) + " --out " + Q(tmp.path("p3")) + " --report " + Q(tmp.path("p3/pack.json")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("p3"), std::string::npos) << r.err;
  // The default report (named explicitly too) is the pack's own.
  r = Catdog(tmp, "prepare --images " + Q(tmp.path("img")) + " --out " + Q(tmp.path("p4")) + " --report " + Q(tmp.path("p4/report.json")));
  EXPECT_EQ(r.code, 0) << r.err;
  catdog::pack::Pack p;
  EXPECT_TRUE(catdog::pack::ReadPack(tmp.path("p4"), &p));
}

// #4: every file the CLI reads goes through the one reader: a FIFO is refused by name at once.
TEST(UserFiles, FifosAndDevicesAreRefusedByName) {
  TempDir tmp;
  const std::string m = CopyShipped(tmp.path("m"));
  const std::string fifo = tmp.path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  stdfs::create_directories(tmp.path("site/models"));
  WriteText(tmp.path("site/models/index.json"), "{\"models\": []}");
  WriteText(tmp.path("eval.json"), "{\"accuracy\": 0.9, \"auc\": 0.9, \"ece\": 0.01, \"n\": 10}");
  stdfs::create_directories(tmp.path("fifo-pack"));
  ASSERT_EQ(::mkfifo(tmp.path("fifo-pack/pack.json").c_str(), 0644), 0);
  std::vector<std::string> cases = {
      "quantize " + Q(m) + " --dtype uint8 --out " + Q(tmp.path("site/models/q")) + " --index " + Q(fifo),
      "quantize " + Q(m) + " --dtype uint8 --out " + Q(tmp.path("site/models/q")) + " --index " +
          Q(tmp.path("site/models/index.json")) + " --metrics " + Q(fifo),
      "infer --model " + Q(m) + " --input " + Q(fifo) + " --shape 1,100,100,1",
      "evaluate --model " + Q(m) + " --pack " + Q(tmp.path("fifo-pack")),
      "preview --pack " + Q(tmp.path("fifo-pack")) + " --out " + Q(tmp.path("g.png")),
  };
#ifdef CATDOG_TEST_HAVE_TORCH
  stdfs::create_directories(tmp.path("run"));
  ASSERT_EQ(::mkfifo(tmp.path("run/best.pt").c_str(), 0644), 0);
  cases.push_back("export --checkpoint " + Q(fifo) + " --out " + Q(tmp.path("e1")));
  cases.push_back("export --checkpoint " + Q(tmp.path("run")) + " --out " + Q(tmp.path("e2")));
  cases.push_back("train --arch dense --pack " + Q(tmp.path("fifo-pack")) + " --out " + Q(tmp.path("t1")));
#endif
  for (const std::string& args : cases) {
    SCOPED_TRACE(args);
    Ran r = Catdog(tmp, args);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("is a FIFO (named pipe), expected a regular file"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(stdfs::exists(tmp.path("site/models/q")));
#ifdef CATDOG_TEST_HAVE_TORCH
  // A device: refused before a byte is read (it read 2 GiB of /dev/zero first).
  Ran r = Catdog(tmp, "export --checkpoint /dev/zero --out " + Q(tmp.path("e3")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("/dev/zero: is a character device"), std::string::npos) << r.err;
#endif
}

#ifdef CATDOG_TEST_HAVE_TORCH
TEST(UserFiles, TrainReadsNoFifoAndChecksExportFirst) {
  TempDir tmp;
  const std::string pack = MakePack(tmp, 4);
  ASSERT_FALSE(pack.empty());
  const std::string fifo = tmp.path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  const std::string train = "train --arch dense --epochs 1 --device cpu --pack " + Q(pack);
  Ran r = Catdog(tmp, train + " --out " + Q(tmp.path("r1")) + " --teacher " + Q(fifo));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("is a FIFO"), std::string::npos) << r.err;
  stdfs::create_directories(tmp.path("r2"));
  ASSERT_EQ(::mkfifo(tmp.path("r2/last.pt").c_str(), 0644), 0);
  r = Catdog(tmp, train + " --out " + Q(tmp.path("r2")) + " --resume");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("is a FIFO"), std::string::npos) << r.err;
  // #16: --export into a folder catdog did not write is refused before the training, not after.
  stdfs::create_directories(tmp.path("mine"));
  WriteText(tmp.path("mine/thesis.txt"), "chapter 1");
  r = Catdog(tmp, train + " --out " + Q(tmp.path("r3")) + " --export " + Q(tmp.path("mine")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("thesis.txt"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp.path("r3/best.pt"))) << "it trained before checking --export";
  EXPECT_EQ(Bytes(tmp.path("mine/thesis.txt")), "chapter 1");
  // --export naming the run folder itself.
  r = Catdog(tmp, train + " --out " + Q(tmp.path("r4")) + " --export " + Q(tmp.path("r4")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp.path("r4/best.pt")));
}
#endif

TEST(UserFiles, CalibrateOutCopiesOnlyTheModel) {
  TempDir tmp;
  const std::string pack = MakePack(tmp, 80);
  ASSERT_FALSE(pack.empty());
  // #12: the source folder holds a symlink to a file outside it and a FIFO.
  const std::string m = CopyShipped(tmp.path("m"));
  WriteText(tmp.path("secret.txt"), "outside the model folder");
  stdfs::create_symlink(tmp.path("secret.txt"), m + "/link.txt");
  ASSERT_EQ(::mkfifo((m + "/pipe").c_str(), 0644), 0);
  Ran r = Catdog(tmp, "calibrate --model " + Q(m) + " --pack " + Q(pack) + " --out " + Q(tmp.path("cal")));
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> names;
  for (const auto& e : stdfs::directory_iterator(tmp.path("cal"))) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{".catdog-output", kShard, "model.json"}));
  // --out inside the source, or the source itself.
  r = Catdog(tmp, "calibrate --model " + Q(m) + " --pack " + Q(pack) + " --out " + Q(m + "/cal"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("inside the input"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(m + "/cal"));
  // #2 for calibrate: a folder of the user's.
  stdfs::create_directories(tmp.path("user"));
  WriteText(tmp.path("user/NOTES.txt"), "notes");
  r = Catdog(tmp, "calibrate --model " + Q(m) + " --pack " + Q(pack) + " --out " + Q(tmp.path("user")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp.path("user/model.json")));
}

// #6: calibrating a model ood-fit already chose a max-prob threshold for (under the old temperature)
// rescales the threshold so its decisions stay the same, and records it.
TEST(UserFiles, CalibrateRefitsTheOodThreshold) {
  TempDir tmp;
  const std::string pack = MakePack(tmp, 80);
  ASSERT_FALSE(pack.empty());
  const json src = ShippedJson()["userDefinedMetadata"]["catdog"];
  ASSERT_EQ(src["ood"]["method"], "max-prob");
  const double t_old = src["ood"]["temperature"].get<double>(), th_old = src["ood"]["threshold"].get<double>();
  Ran r = Catdog(tmp, "calibrate --model " + Q(kShipped) + " --pack " + Q(pack) + " --out " + Q(tmp.path("cal")));
  ASSERT_EQ(r.code, 0) << r.err;
  const json c = ModelJson(tmp.path("cal"))["userDefinedMetadata"]["catdog"];
  const double t_new = c["calibration"]["temperature"].get<double>();
  EXPECT_EQ(c["ood"]["temperature"].get<double>(), t_new);
  EXPECT_EQ(c["ood"]["rescaled_from"]["threshold"].get<double>(), th_old);
  // The same |logit| boundary: T_old * logit(1 - th_old) == T_new * logit(1 - th_new).
  const double th_new = c["ood"]["threshold"].get<double>();
  EXPECT_NEAR(t_old * std::log((1 - th_old) / th_old), t_new * std::log((1 - th_new) / th_new), 1e-9);
  if (std::fabs(t_new - t_old) > 1e-6) EXPECT_NE(th_new, th_old);
  EXPECT_NE(r.err.find("rescaled"), std::string::npos) << r.err;
}

// #6: a fit that runs to the search bound (a split the model gets all right: T -> 0.001) is
// refused by name; it was written silently.
TEST(UserFiles, CalibrateRefusesADegenerateFit) {
  TempDir tmp;
  const std::string pack = MakePack(tmp, 40);
  ASSERT_FALSE(pack.empty());
  Ran r = Catdog(tmp, "calibrate --model " + Q(kShipped) + " --pack " + Q(pack) + " --out " + Q(tmp.path("cal")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("lower end of the search (T = 0.001)"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp.path("cal")));
}

// #9: one file name that is not UTF-8 no longer loses every result of predict --json.
TEST(UserFiles, PredictJsonSurvivesANonUtf8Name) {
  TempDir tmp;
  const std::string good = tmp.path("cat.jpg"), odd = tmp.path("chat-\xE9t\xE9.jpg");
  ASSERT_TRUE(CopyCatPhoto(good));
  stdfs::copy_file(good, odd);
  Ran r = Catdog(tmp, "predict --json --model " + Q(kShipped) + " " + Q(odd) + " " + Q(good) + " " +
                          Q(tmp.path("missing-\xff.jpg")));
  EXPECT_NE(r.code, 137) << r.err;
  json doc = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << "stdout is not JSON: " << r.out.substr(0, 500) << r.err;
  ASSERT_EQ(doc["results"].size(), 2u);
  EXPECT_EQ(doc["results"][0]["path"], tmp.path("chat-\\xE9t\\xE9.jpg"));
  EXPECT_EQ(doc["results"][0]["path_escaped"], true);
  EXPECT_EQ(doc["results"][1]["path"], good);
  ASSERT_EQ(doc["errors"].size(), 1u);
  EXPECT_EQ(doc["errors"][0]["path_escaped"], true);
}

// A PNG whose header claims `w` x `h` RGBA pixels of 16 bits, with a few bytes of data: a bomb.
std::string PngBomb(uint32_t w, uint32_t h) {
  auto crc = [](const std::string& bytes) {
    uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : bytes) {
      c ^= b;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
  };
  auto be32 = [](uint32_t v) {
    return std::string{char(v >> 24), char((v >> 16) & 0xFF), char((v >> 8) & 0xFF), char(v & 0xFF)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    return be32(uint32_t(data.size())) + type + data + be32(crc(type + data));
  };
  const std::string ihdr = be32(w) + be32(h) + std::string{16, 6, 0, 0, 0};  // 16-bit RGBA, no interlace
  const std::string idat = std::string("\x78\x9c\x03\x00\x00\x00\x00\x01", 8);
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", idat) + chunk("IEND", "");
}

// #10: a PNG bomb under the largest --max-pixels is one bad image, named and counted; the good
// image's result is still printed (it ended the run with std::bad_alloc, exit 1, nothing printed).
TEST(UserFiles, APngBombIsOneBadImage) {
  TempDir tmp;
  const std::string good = tmp.path("cat.jpg"), bomb = tmp.path("bomb.png");
  ASSERT_TRUE(CopyCatPhoto(good));
  WriteText(bomb, PngBomb(65536, 65536));
  Ran r = Catdog(tmp, "predict --json --max-pixels 4294967296 --model " + Q(kShipped) + " " + Q(bomb) + " " + Q(good));
  EXPECT_EQ(r.code, 2) << r.err;
  json doc = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out.substr(0, 300) << r.err;
  ASSERT_EQ(doc["results"].size(), 1u) << r.out;
  EXPECT_EQ(doc["results"][0]["path"], good);
  ASSERT_EQ(doc["errors"].size(), 1u);
  EXPECT_EQ(doc["errors"][0]["path"], bomb);
  EXPECT_EQ(doc["errors"][0]["reason"], "too-large");
}

// #17: a 400-Mpx PNG under --max-pixels 2^32 was decoded, then called "corrupt" by the core's
// hidden 2^28-pixel preprocessing cap; now it is refused from its header as too large, saying why.
TEST(UserFiles, ThePreprocessingPixelCapIsNamed) {
  TempDir tmp;
  WriteText(tmp.path("big.png"), PngBomb(20000, 20000));
  Ran r = Catdog(tmp, "predict --json --max-pixels 4294967296 --model " + Q(kShipped) + " " + Q(tmp.path("big.png")));
  EXPECT_EQ(r.code, 2) << r.err;
  json doc = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out.substr(0, 300) << r.err;
  ASSERT_EQ(doc["errors"].size(), 1u);
  EXPECT_EQ(doc["errors"][0]["reason"], "too-large");
  EXPECT_NE(doc["errors"][0]["message"].get<std::string>().find("268435456"), std::string::npos) << doc.dump();
}

// #16: a model folder that cannot be written is a failure (exit 1) for seal as for ood-fit,
// calibrate and quantize; it was exit 2 (bad input) in seal alone.
TEST(UserFiles, SealThatCannotWriteExitsOne) {
  TempDir tmp;
  const std::string m = CopyShipped(tmp.path("m"));
  ::chmod(m.c_str(), 0555);
  const std::string err_file = tmp.path("err.txt");
  pid_t pid = ::fork();
  if (pid == 0) {  // as "nobody", real and effective ids (a shell would reset an effective id alone)
    const int e = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(e, 2);
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(126);
    std::vector<std::string> args = {CATDOG_CLI, "seal", "--force", "--model", m};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(CATDOG_CLI, argv.data());
    ::_exit(127);
  }
  const int code = catdog::test::WaitExit(pid, 60);
  if (code < 0) catdog::test::KillAndReap(pid);
  ::chmod(m.c_str(), 0755);
  EXPECT_EQ(code, 1) << Bytes(err_file);
  EXPECT_NE(Bytes(err_file).find(m), std::string::npos) << Bytes(err_file);
}

// #17: --ood-images names what it skipped (a subfolder of photos was ignored uncounted, "no
// decodable images (1 skipped)" gave no reason); ood-fit's help offers only the splits it takes.
TEST(UserFiles, OodImagesNamesWhatItSkips) {
  TempDir tmp;
  const std::string pack = MakePack(tmp, 4);
  ASSERT_FALSE(pack.empty());
  stdfs::create_directories(tmp.path("ood/sub"));
  ASSERT_TRUE(CopyCatPhoto(tmp.path("ood/sub/photo.jpg")));
  WriteText(tmp.path("ood/notes.txt"), "not a photo");
  const std::string m = CopyShipped(tmp.path("m"));
  Ran r = Catdog(tmp, "ood-fit --model " + Q(m) + " --pack " + Q(pack) + " --ood-images " + Q(tmp.path("ood")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("2 skipped"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sub: a folder"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("notes.txt: not an image name"), std::string::npos) << r.err;
  r = Catdog(tmp, "ood-fit --help");
  EXPECT_EQ(r.out.find("val | train"), std::string::npos) << r.out;
}

// #16: bad input exits 2 in every command: a batch the model cannot run, a NaN in infer's input.
TEST(UserFiles, BadInputExitsTwoEverywhere) {
  TempDir tmp;
  Ran r = Catdog(tmp, "bench --runs 1 --warmup 0 --batch 4096 --model " + Q(kShipped));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--batch 4096"), std::string::npos) << r.err;
  std::string input(100 * 100 * 4, '\0');
  const uint32_t nan_bits = 0x7FC00000u;
  std::memcpy(&input[4 * 1234], &nan_bits, 4);
  WriteText(tmp.path("nan.f32"), input);
  r = Catdog(tmp, "infer --model " + Q(kShipped) + " --input " + Q(tmp.path("nan.f32")) + " --shape 1,100,100,1");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("nan.f32: value 1234"), std::string::npos) << r.err;
}

// #11: a kill during a prepare re-run over a complete pack deleted it (pack.json was removed before
// the shards were rewritten). The re-run is killed the moment it starts writing (its staging folder
// appears, or pack.json goes): the folder must still hold a readable pack, the old or the new one.
TEST(UserFiles, AKilledPrepareKeepsThePack) {
  TempDir tmp;
  const std::string pack = MakePack(tmp, 80);
  ASSERT_FALSE(pack.empty());
  for (int k = 0; k < 4; ++k) {
    size_t stale = 0;
    ASSERT_TRUE(catdog::fs::RemoveStaleTemps(pack, &stale));  // the previous round's dead staging folder
    const pid_t pid = catdog::test::SpawnCli(
        CATDOG_CLI, {"prepare", "--images", tmp.path("img"), "--out", pack, "--seed", std::to_string(100 + k), "--threads", "1"},
        tmp.path("kill.log"), {"CI=true"});
    bool writing = false;
    for (int i = 0; i < 60000 && !writing; ++i) {  // up to 30 s
      std::error_code ec;
      writing = !stdfs::exists(pack + "/pack.json", ec);
      for (auto it = stdfs::directory_iterator(pack, ec); !ec && !writing && it != stdfs::directory_iterator(); it.increment(ec))
        writing = it->path().filename().string().rfind(catdog::fs::kStagingPrefix, 0) == 0;
      if (!writing) std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    ::kill(pid, SIGKILL);
    catdog::test::WaitExit(pid);
    ASSERT_TRUE(writing) << "the re-run never started writing: " << catdog::test::ReadAll(tmp.path("kill.log"));
    catdog::pack::Pack p;
    Status s = catdog::pack::ReadPack(pack, &p);
    ASSERT_TRUE(s) << "round " << k << ", killed while writing: " << s.message();
    EXPECT_EQ(p.count(), 160u);
  }
}

// The rule for every command that writes a folder: prepare's pack, unpack's arrays and train's run
// never go into their inputs (nor into a folder holding one).
TEST(UserFiles, OutputsNeverGoIntoInputs) {
  TempDir tmp;
  const std::string pack = MakePack(tmp, 4);
  ASSERT_FALSE(pack.empty());
  std::vector<std::string> cases = {
      "prepare --images " + Q(tmp.path("img")) + " --out " + Q(tmp.path("img")),
      "prepare --images " + Q(tmp.path("img")) + " --out " + Q(tmp.path("img/Cat/pack")),
      "prepare --images " + Q(tmp.path("img/Cat")) + " --images " + Q(tmp.path("img/Dog")) + " --out " + Q(tmp.path("img")),
      "unpack --pack " + Q(pack) + " --out " + Q(pack),
      "unpack --pack " + Q(pack) + " --out " + Q(pack + "/npy"),
  };
#ifdef CATDOG_TEST_HAVE_TORCH
  cases.push_back("train --arch dense --epochs 1 --device cpu --pack " + Q(pack) + " --out " + Q(pack + "/run"));
#endif
  for (const std::string& args : cases) {
    SCOPED_TRACE(args);
    Ran r = Catdog(tmp, args);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("input"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(stdfs::exists(tmp.path("img/pack.json")));
  EXPECT_FALSE(stdfs::exists(tmp.path("img/Cat/pack")));
  EXPECT_FALSE(stdfs::exists(pack + "/npy"));
  EXPECT_FALSE(stdfs::exists(pack + "/x_train.npy"));
  EXPECT_FALSE(stdfs::exists(pack + "/run"));
}

// #15: a reader that closes the pipe early: no silent death by SIGPIPE (exit 141), a message.
TEST(UserFiles, AClosedPipeIsReportedNotFatal) {
  TempDir tmp;
  const std::string photo = tmp.path("cat.jpg");
  ASSERT_TRUE(CopyCatPhoto(photo));
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);  // nobody reads
  const std::string err_file = tmp.path("err.txt");
  pid_t pid = ::fork();
  if (pid == 0) {
    std::signal(SIGPIPE, SIG_DFL);  // as a shell starts it
    ::dup2(fds[1], 1);
    const int e = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(e, 2);
    std::vector<std::string> args = {CATDOG_CLI, "predict", "--model", kShipped};
    for (int i = 0; i < 20; ++i) args.push_back(photo);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::setenv("CI", "true", 1);
    ::execv(CATDOG_CLI, argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  const int code = catdog::test::WaitExit(pid, 60);
  if (code < 0) catdog::test::KillAndReap(pid);
  EXPECT_NE(code, 128 + SIGPIPE) << "killed by SIGPIPE";
  EXPECT_EQ(code, 1);
  EXPECT_NE(Bytes(err_file).find("pipe"), std::string::npos) << Bytes(err_file);
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

// The name flags: --backend (one list, the core's ParseBackend) on every command that runs a model, and
// --split / --val-split (the pack's ParseSplit, less the splits a command does not take) on every
// command that reads one split. A bad name is refused as the flags are read, naming it.
TEST(HostileFlags, BackendAndSplitNamesAreOneListPerKind) {
  TempDir tmp;
  const std::string m = tmp.path("no-model"), pack = tmp.path("no-pack"), out = tmp.path("out");
  const std::string backends[] = {"auto", "reference", "simd", "xnnpack"};
  const std::vector<std::string> runners = {
      "predict --model " + m + " " + tmp.path("none.jpg"),
      "evaluate --model " + m + " --pack " + pack,
      "bench --model " + m + " --runs 1 --warmup 0",
      "infer --model " + m + " --input " + tmp.path("in.f32") + " --shape 1,100,100,1",
  };
  for (const std::string& cmd : runners) {
    for (const std::string& b : backends) {
      SCOPED_TRACE(cmd.substr(0, cmd.find(' ')) + " --backend " + b);
      EXPECT_TRUE(ParseArgs(cmd + " --backend " + b).msg.empty());
    }
    for (const std::string& b : {"fast", "SIMD", "", "xnnpack2"}) {
      SCOPED_TRACE(cmd.substr(0, cmd.find(' ')) + " --backend '" + b + "'");
      Parsed r = ParseArgs(cmd + " --backend " + (b[0] ? b : "''"));
      EXPECT_EQ(r.code, catdog::kExitBadInput) << r.msg;
      EXPECT_NE(r.msg.find("is not a backend: auto, reference, simd or xnnpack"), std::string::npos) << r.msg;
    }
  }
  const struct {
    std::string cmd, flag;
    std::vector<std::string> ok, bad;
  } splits[] = {
      {"evaluate --model " + m + " --pack " + pack, "--split", {"train", "val", "test"}, {"validation", "tset", "TEST"}},
      {"calibrate --model " + m + " --pack " + pack, "--split", {"train", "val", "test"}, {"valid", "x"}},
      {"preview --pack " + pack + " --out " + tmp.path("g.png"), "--split", {"train", "val", "test"}, {"all"}},
      {"ood-fit --model " + m + " --pack " + pack + " --ood-images " + tmp.path("o"), "--split", {"val", "test"}, {"train", "x"}},
#ifdef CATDOG_TEST_HAVE_TORCH
      {"train --arch dense --pack " + pack + " --out " + out, "--val-split", {"val", "test"}, {"train", "x"}},
#endif
  };
  for (const auto& c : splits) {
    for (const std::string& v : c.ok) {
      SCOPED_TRACE(c.cmd.substr(0, c.cmd.find(' ')) + " " + c.flag + " " + v);
      EXPECT_TRUE(ParseArgs(c.cmd + " " + c.flag + " " + v).msg.empty());
    }
    for (const std::string& v : c.bad) {
      SCOPED_TRACE(c.cmd.substr(0, c.cmd.find(' ')) + " " + c.flag + " " + v);
      Parsed r = ParseArgs(c.cmd + " " + c.flag + " " + v);
      EXPECT_EQ(r.code, catdog::kExitBadInput) << r.msg;
      EXPECT_NE(r.msg.find(c.flag + ": '" + v + "' is not a split this command reads"), std::string::npos) << r.msg;
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
