// Pack format: SHA-256, write/read round trips, sharding, and every way a pack can be damaged.
#include <gtest/gtest.h>
#include <zstd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "pack.h"
#include "test_util.h"
#include "unpack.h"

using catdog::pack::Pack;
namespace stdfs = std::filesystem;

namespace {

// Images with structure (gradients + noise), so the filter and zstd have something to do.
Pack MakePack(size_t n, int size, uint64_t seed) {
  Pack p;
  p.size = size;
  p.fit = "stretch";
  p.seed = seed;
  p.val_fraction = 0.2;
  std::mt19937 rng(static_cast<uint32_t>(seed));
  p.pixels.resize(n * size * size);
  for (size_t i = 0; i < n; ++i) {
    for (int y = 0; y < size; ++y)
      for (int x = 0; x < size; ++x)
        p.pixels[(i * size + y) * size + x] = static_cast<uint8_t>((x * 3 + y * 2 + i * 7 + rng() % 16) & 255);
    p.labels.push_back(static_cast<uint8_t>(i % 2));
    p.splits.push_back(static_cast<uint8_t>(i % 5 == 0 ? catdog::pack::kVal : catdog::pack::kTrain));
    p.paths.push_back((i % 2 ? "Dog/" : "Cat/") + std::to_string(i) + ".jpg");
  }
  return p;
}

void ExpectSameRecords(const Pack& a, const Pack& b) {
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(a.fit, b.fit);
  EXPECT_EQ(a.gray, b.gray);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.val_fraction, b.val_fraction);
  EXPECT_EQ(a.test_fraction, b.test_fraction);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.splits, b.splits);
  EXPECT_EQ(a.paths, b.paths);
  EXPECT_TRUE(a.pixels == b.pixels) << "pixels differ";
  EXPECT_EQ(a.content_hash, b.content_hash);
}

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::vector<uint8_t> v;
  EXPECT_TRUE(catdog::fs::ReadFile(path, &v));
  return v;
}
void WriteAll(const std::string& path, const std::vector<uint8_t>& v) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size()));
}

}  // namespace

TEST(Sha256, KnownVectors) {
  using catdog::pack::Sha256;
  EXPECT_EQ(Sha256::Hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256::Hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(Sha256::Hex(two_blocks.data(), two_blocks.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // One million 'a', fed in uneven pieces (exercises the buffering).
  std::string a(1000000, 'a');
  Sha256 h;
  for (size_t pos = 0, step = 1; pos < a.size(); pos += step, step = step * 3 % 997 + 1)
    h.Update(a.data() + pos, std::min(step, a.size() - pos));
  EXPECT_EQ(Sha256::ToHex(h.Final()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// fuzz_pack (UBSan): an empty shard hashed as Update(nullptr, 0) reached memcpy with a null source.
TEST(Sha256, EmptyUpdateWithNullData) {
  using catdog::pack::Sha256;
  Sha256 h;
  h.Update(nullptr, 0);
  h.Update("abc", 3);
  h.Update(nullptr, 0);
  EXPECT_EQ(Sha256::ToHex(h.Final()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, AcceleratedAndScalarPathsAgree) {
  using catdog::pack::Sha256;
  const bool have = Sha256::SetAcceleration(true);
  std::printf("SHA extensions on this CPU: %s\n", have ? "yes (both paths compared)" : "no (scalar only)");
  std::mt19937 rng(1);
  std::vector<uint8_t> data(5000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (size_t len : {0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 4999}) {
    Sha256::SetAcceleration(true);
    Sha256 a;
    a.Update(data.data(), len / 3);
    a.Update(data.data() + len / 3, len - len / 3);
    const std::string fast = Sha256::ToHex(a.Final());
    Sha256::SetAcceleration(false);
    const std::string slow = Sha256::Hex(data.data(), len);
    EXPECT_EQ(fast, slow) << "length " << len;
  }
  Sha256::SetAcceleration(false);
  EXPECT_EQ(Sha256::Hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256::SetAcceleration(true);
}

TEST(Pack, RoundTripSingleShard) {
  catdog::test::TempDir tmp;
  Pack p = MakePack(40, 100, 1);
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("p"), p));
  ASSERT_EQ(p.shards.size(), 1u);
  EXPECT_EQ(p.content_hash.size(), 64u);
  Pack q;
  auto s = catdog::pack::ReadPack(tmp.path("p"), &q);
  ASSERT_TRUE(s) << s.message();
  ExpectSameRecords(p, q);
  // The manifest path works as well as the directory.
  Pack r;
  ASSERT_TRUE(catdog::pack::ReadPack(tmp.path("p/pack.json"), &r));
  ExpectSameRecords(p, r);
  EXPECT_EQ(q.Indices(catdog::pack::kVal).size(), 8u);
}

TEST(Pack, ShardedPackReadsBackIdenticalAndShardsStayUnderTheLimit) {
  catdog::test::TempDir tmp;
  Pack one = MakePack(300, 100, 2);
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("one"), one));
  Pack many = MakePack(300, 100, 2);
  catdog::pack::WriteOptions w;
  w.max_shard_bytes = 200 * 1024;  // ~20 records per shard
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("many"), many, w));
  EXPECT_GE(many.shards.size(), 10u);
  EXPECT_EQ(one.content_hash, many.content_hash) << "the content hash must not depend on sharding";
  for (const auto& sh : many.shards) EXPECT_LE(stdfs::file_size(tmp.path("many/" + sh.file)), w.max_shard_bytes);
  Pack a, b;
  ASSERT_TRUE(catdog::pack::ReadPack(tmp.path("one"), &a));
  auto s = catdog::pack::ReadPack(tmp.path("many"), &b);
  ASSERT_TRUE(s) << s.message();
  ExpectSameRecords(a, b);
  ExpectSameRecords(one, b);
}

TEST(Pack, IsCompact) {
  // Smooth synthetic images compress well; the real-photo ratio is measured in test_prepare.
  catdog::test::TempDir tmp;
  Pack p = MakePack(100, 100, 3);
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("p"), p));
  EXPECT_LT(p.shards[0].bytes, p.pixels.size() * 6 / 10);
}

TEST(Pack, RewritingASmallerPackRemovesStaleShards) {
  catdog::test::TempDir tmp;
  catdog::pack::WriteOptions w;
  w.max_shard_bytes = 100 * 1024;
  Pack big = MakePack(100, 100, 4);
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("p"), big, w));
  ASSERT_GT(big.shards.size(), 3u);
  Pack small = MakePack(5, 100, 5);
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("p"), small, w));
  size_t files = 0;
  for (const auto& e : stdfs::directory_iterator(tmp.path("p"))) files += e.path().extension() == ".zst";
  EXPECT_EQ(files, small.shards.size());
  Pack q;
  ASSERT_TRUE(catdog::pack::ReadPack(tmp.path("p"), &q));
  ExpectSameRecords(small, q);
}

TEST(Pack, EmptyPackRoundTrips) {
  catdog::test::TempDir tmp;
  Pack p = MakePack(0, 100, 6);
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("p"), p));
  Pack q;
  ASSERT_TRUE(catdog::pack::ReadPack(tmp.path("p"), &q));
  EXPECT_EQ(q.count(), 0u);
}

TEST(Pack, CorruptedShardByteIsCaughtNamingTheShard) {
  catdog::test::TempDir tmp;
  Pack p = MakePack(120, 100, 7);
  catdog::pack::WriteOptions w;
  w.max_shard_bytes = 200 * 1024;
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("p"), p, w));
  ASSERT_GE(p.shards.size(), 3u);
  const std::string victim = tmp.path("p/" + p.shards[1].file);
  auto bytes = ReadAll(victim);
  bytes[bytes.size() / 2] ^= 0x01;
  WriteAll(victim, bytes);
  Pack q;
  auto s = catdog::pack::ReadPack(tmp.path("p"), &q);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find(p.shards[1].file), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("checksum"), std::string::npos) << s.message();
}

TEST(Pack, TruncatedMissingAndSwappedShards) {
  catdog::test::TempDir tmp;
  catdog::pack::WriteOptions w;
  w.max_shard_bytes = 200 * 1024;
  Pack p = MakePack(120, 100, 8);
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("p"), p, w));
  const std::string s0 = tmp.path("p/" + p.shards[0].file), s1 = tmp.path("p/" + p.shards[1].file);
  Pack q;
  {  // truncated
    auto bytes = ReadAll(s0);
    auto cut = bytes;
    cut.resize(cut.size() - 10);
    WriteAll(s0, cut);
    auto s = catdog::pack::ReadPack(tmp.path("p"), &q);
    ASSERT_FALSE(s);
    EXPECT_NE(s.message().find(p.shards[0].file), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
    WriteAll(s0, bytes);
  }
  {  // swapped: both files intact but in each other's place
    auto b0 = ReadAll(s0), b1 = ReadAll(s1);
    WriteAll(s0, b1);
    WriteAll(s1, b0);
    auto s = catdog::pack::ReadPack(tmp.path("p"), &q);
    ASSERT_FALSE(s);
    EXPECT_NE(s.message().find("shard-0000"), std::string::npos) << s.message();
    WriteAll(s0, b0);
    WriteAll(s1, b1);
  }
  ASSERT_TRUE(catdog::pack::ReadPack(tmp.path("p"), &q));
  {  // missing
    stdfs::remove(s1);
    auto s = catdog::pack::ReadPack(tmp.path("p"), &q);
    ASSERT_FALSE(s);
    EXPECT_NE(s.message().find(p.shards[1].file), std::string::npos) << s.message();
  }
}

TEST(Pack, ManifestProblemsHaveTheirOwnMessages) {
  catdog::test::TempDir tmp;
  Pack p = MakePack(10, 100, 9);
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("p"), p));
  const std::string mpath = tmp.path("p/pack.json");
  std::string original;
  ASSERT_TRUE(catdog::fs::ReadTextFile(mpath, &original));
  auto expect_error = [&](const std::string& text, const std::string& needle) {
    ASSERT_TRUE(catdog::fs::WriteFileAtomic(mpath, text));
    Pack q;
    auto s = catdog::pack::ReadPack(tmp.path("p"), &q);
    EXPECT_FALSE(s) << "accepted: " << text.substr(0, 80);
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("pack"), std::string::npos) << s.message();
  };
  auto edit = [&](const std::function<void(nlohmann::json&)>& f) {
    nlohmann::json j = nlohmann::json::parse(original);
    f(j);
    return j.dump();
  };
  expect_error("{not json", "not valid JSON");
  expect_error(edit([](auto& j) { j["version"] = 99; }), "version 99");
  expect_error(edit([](auto& j) { j["format"] = "something"; }), "format");
  expect_error(edit([](auto& j) { j["count"] = 11; }), "count is 11");
  expect_error(edit([](auto& j) { j["content_hash"] = std::string(64, '0'); }), "content hash");
  expect_error(edit([](auto& j) { j["shards"][0]["file"] = "../evil.zst"; }), "plain name");
  expect_error(edit([](auto& j) { j["image"]["size"] = 64; }), "image size");
  expect_error(edit([](auto& j) { j["compression"]["pixel_filter"] = "paeth"; }), "paeth");
  // No manifest at all: the message says what a pack directory is.
  stdfs::remove(mpath);
  Pack q;
  auto s = catdog::pack::ReadPack(tmp.path("p"), &q);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("pack.json"), std::string::npos) << s.message();
}

TEST(Pack, WriterRefusesInconsistentPacksAndBadLimits) {
  catdog::test::TempDir tmp;
  Pack p = MakePack(4, 100, 10);
  p.labels[2] = 7;
  auto s = catdog::pack::WritePack(tmp.path("a"), p);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("record 2"), std::string::npos) << s.message();
  EXPECT_FALSE(stdfs::exists(tmp.path("a/pack.json")));

  Pack q = MakePack(4, 100, 10);
  q.pixels.pop_back();
  EXPECT_FALSE(catdog::pack::WritePack(tmp.path("b"), q));

  Pack r = MakePack(4, 100, 10);
  catdog::pack::WriteOptions w;
  w.max_shard_bytes = 61ull << 20;
  s = catdog::pack::WritePack(tmp.path("c"), r, w);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("60 MiB"), std::string::npos) << s.message();
  w.max_shard_bytes = 5000;  // smaller than one 100x100 record
  s = catdog::pack::WritePack(tmp.path("d"), r, w);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("does not fit"), std::string::npos) << s.message();
}

TEST(Pack, IncompressibleImagesStillRespectTheShardLimit) {
  catdog::test::TempDir tmp;
  Pack p = MakePack(60, 100, 11);
  std::mt19937 rng(5);
  for (auto& v : p.pixels) v = static_cast<uint8_t>(rng());
  catdog::pack::WriteOptions w;
  w.max_shard_bytes = 64 * 1024;
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("p"), p, w));
  for (const auto& sh : p.shards) EXPECT_LE(sh.bytes, w.max_shard_bytes);
  Pack q;
  ASSERT_TRUE(catdog::pack::ReadPack(tmp.path("p"), &q));
  ExpectSameRecords(p, q);
}

// ---- the in-memory reader (ParsePack, behind ReadPack and fuzz_pack) and hostile manifests --------
namespace {
// A pack written to disk and then held in memory: pack.json text + shard bytes by file name.
struct MemPack {
  std::string manifest;
  std::map<std::string, std::vector<uint8_t>> files;
  std::map<std::string, catdog::pack::ByteSpan> Spans() const {
    std::map<std::string, catdog::pack::ByteSpan> m;
    for (const auto& [name, bytes] : files) m[name] = {bytes.data(), bytes.size()};
    return m;
  }
};
MemPack ToMemory(const std::string& dir, const Pack& p) {
  MemPack m;
  EXPECT_TRUE(catdog::fs::ReadTextFile(dir + "/pack.json", &m.manifest));
  for (const auto& sh : p.shards) m.files[sh.file] = ReadAll(dir + "/" + sh.file);
  return m;
}
}  // namespace

TEST(Pack, ParsePackFromMemoryEqualsReadPack) {
  catdog::test::TempDir tmp;
  Pack p = MakePack(30, 40, 21);
  catdog::pack::WriteOptions w;
  w.max_shard_bytes = 20000;  // several shards
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("p"), p, w));
  ASSERT_GT(p.shards.size(), 1u);
  MemPack m = ToMemory(tmp.path("p"), p);
  Pack q;
  auto s = catdog::pack::ParsePack(m.manifest, m.Spans(), &q, "mem/pack.json");
  ASSERT_TRUE(s) << s.message();
  ExpectSameRecords(p, q);
  // A shard pack.json lists but the caller does not give: named as missing.
  m.files.erase(p.shards[1].file);
  s = catdog::pack::ParsePack(m.manifest, m.Spans(), &q, "mem/pack.json");
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find(p.shards[1].file + ": missing"), std::string::npos) << s.message();
  // The pixel-memory cap (the fuzzer's) is checked before anything is allocated.
  catdog::pack::ParseOptions o;
  o.max_pixel_bytes = 1000;
  s = catdog::pack::ParsePack(m.manifest, m.Spans(), &q, "mem/pack.json", o);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("30 images of 40x40 need more than the limit of 1000 bytes"), std::string::npos) << s.message();
}

// Numbers of the wrong kind in pack.json: refused with a message, no float-to-int undefined
// behaviour and no negative values wrapping to huge sizes (checked under UBSan in the asan build).
TEST(Pack, ManifestNumbersOfTheWrongKindAreRefused) {
  catdog::test::TempDir tmp;
  Pack p = MakePack(3, 8, 22);
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("p"), p));
  MemPack m = ToMemory(tmp.path("p"), p);
  auto expect_error = [&](const std::function<void(nlohmann::json&)>& f, const std::string& needle) {
    nlohmann::json j = nlohmann::json::parse(m.manifest);
    f(j);
    Pack q;
    auto s = catdog::pack::ParsePack(j.dump(), m.Spans(), &q, "mem/pack.json");
    ASSERT_FALSE(s) << "accepted: " << j.dump().substr(0, 200);
    EXPECT_NE(s.message().find("mem/pack.json"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
  };
  expect_error([](auto& j) { j["image"]["size"] = 1e20; }, "\"image\" needs size");
  expect_error([](auto& j) { j["image"]["size"] = 8.5; }, "\"image\" needs size");
  expect_error([](auto& j) { j["image"]["size"] = 4294967304LL; }, "\"image\" needs size");  // 2^32 + 8
  expect_error([](auto& j) { j["version"] = 1.0e300; }, "missing \"version\"");
  expect_error([](auto& j) { j["count"] = -1; }, "needs seed, val_fraction, test_fraction, count");
  expect_error([](auto& j) { j["seed"] = -5; }, "needs seed");
  expect_error([](auto& j) { j["val_fraction"] = "0.2"; }, "needs seed, val_fraction");
  expect_error([](auto& j) { j["shards"][0]["records"] = -3; }, "shard entry 0 needs");
  expect_error([](auto& j) { j["shards"][0]["bytes"] = 1e30; }, "shard entry 0 needs");
  // Settings the writer refuses are refused by the reader too (fuzz_pack: val_fraction 5.25 was read).
  expect_error([](auto& j) { j["val_fraction"] = 5.25; }, "val_fraction 5.25");
  expect_error([](auto& j) { j["test_fraction"] = -0.5; }, "test_fraction -0.5");
  expect_error([](auto& j) { j["image"]["fit"] = "zoom"; }, "image fit 'zoom'");
  expect_error([](auto& j) { j["image"]["gray"] = ""; }, "gray formula is empty");
}

// pack.json declaring billions of records (or records that cannot fit the declared raw size) is
// refused before the pixel buffers are allocated: no std::bad_alloc, no ASan allocation failure.
TEST(Pack, ManifestDeclaringHugeCountsIsRefusedBeforeAllocating) {
  catdog::test::TempDir tmp;
  Pack p = MakePack(3, 8, 23);
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("p"), p));
  MemPack m = ToMemory(tmp.path("p"), p);
  nlohmann::json j = nlohmann::json::parse(m.manifest);
  j["count"] = 4000000000LL;
  j["image"]["size"] = 4096;
  j["shards"][0]["records"] = 4000000000LL;
  Pack q;
  auto s = catdog::pack::ParsePack(j.dump(), m.Spans(), &q, "mem/pack.json");
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("4000000000 records of 4096x4096 do not fit its raw size"), std::string::npos) << s.message();
  // Many shards, each individually plausible, adding up to more than memory: refused by the
  // shard/count check (records beyond count) rather than by an allocation.
  j = nlohmann::json::parse(m.manifest);
  j["shards"][0]["records"] = 18446744073709551615ull;  // would wrap the running total
  j["shards"].push_back(j["shards"][0]);
  s = catdog::pack::ParsePack(j.dump(), m.Spans(), &q, "mem/pack.json");
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("exceed count 3"), std::string::npos) << s.message();
  // Through the file reader too.
  ASSERT_TRUE(catdog::fs::WriteFileAtomic(tmp.path("p/pack.json"), j.dump()));
  s = catdog::pack::ReadPack(tmp.path("p"), &q);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("pack.json"), std::string::npos) << s.message();
}

// A record path longer than PATH_MAX is refused (by the writer, and by the reader before it
// allocates the path), so a tiny zstd frame cannot make the reader allocate gigabytes.
TEST(Pack, OverlongRecordPathsAreRefused) {
  catdog::test::TempDir tmp;
  Pack p = MakePack(2, 4, 24);
  p.paths[1] = std::string(5000, 'x');
  auto s = catdog::pack::WritePack(tmp.path("w"), p);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("record 1 has a path of 5000 bytes"), std::string::npos) << s.message();
  // Reader: a valid pack whose shard is rebuilt with a 4 GB path length (checksums fixed up).
  p.paths[1] = "Dog/1.jpg";
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("r"), p));
  MemPack m = ToMemory(tmp.path("r"), p);
  std::vector<uint8_t>& comp = m.files.begin()->second;
  std::vector<uint8_t> raw(p.shards[0].raw_bytes);
  ASSERT_EQ(ZSTD_decompress(raw.data(), raw.size(), comp.data(), comp.size()), raw.size());
  const size_t len_at = 24 + 2 * 2 + 4;  // header, labels, splits, then record 1's path length
  raw[len_at] = raw[len_at + 1] = raw[len_at + 2] = raw[len_at + 3] = 0xFF;
  std::vector<uint8_t> again(ZSTD_compressBound(raw.size()));
  again.resize(ZSTD_compress(again.data(), again.size(), raw.data(), raw.size(), 1));
  comp = again;
  nlohmann::json j = nlohmann::json::parse(m.manifest);
  j["shards"][0]["bytes"] = comp.size();
  j["shards"][0]["sha256"] = catdog::pack::Sha256::Hex(comp.data(), comp.size());
  Pack q;
  s = catdog::pack::ParsePack(j.dump(), m.Spans(), &q, "mem/pack.json");
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("record 1 has a path of 4294967295 bytes (at most 4096)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(p.shards[0].file), std::string::npos) << s.message();
}

// ---- temporaries are recognised by a marker, never by a name pattern -------------------

// prepare and train once deleted anything named "*.tmp<digits>" in --out ("thesis.tmp1",
// "album.tmp7/"). Only staging folders with a catdog marker naming a process that has ended are
// removed now; user files of any name, unmarked look-alikes and a live process's staging stay.
TEST(Pack, StaleTempCleanupRemovesOnlyMarkedStagingFoldersOfEndedProcesses) {
  catdog::test::TempDir tmp;
  const std::string dir = tmp.path("out");
  stdfs::create_directories(dir + "/album.tmp7");
  std::ofstream(dir + "/album.tmp7/photo.jpg") << "mine";
  std::ofstream(dir + "/thesis.tmp1") << "mine";
  std::ofstream(dir + "/last.pt.tmp123456") << "mine";
  stdfs::create_directories(dir + "/model.tmp-export-42");
  stdfs::create_directories(dir + "/.catdog-tmp-1-2");
  std::ofstream(dir + "/.catdog-tmp-1-2/notes.txt") << "mine, no marker";
  // A staging folder of a process that ended without cleaning up (killed mid-write).
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto* leak = new catdog::fs::StagingDir;  // never destroyed: what a SIGKILL leaves
    ::_exit(leak->Create(dir, "pack.json") ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::vector<std::string> staged;
  for (const auto& e : stdfs::directory_iterator(dir))
    if (catdog::fs::IsStagingDir(e.path().string())) staged.push_back(e.path().string());
  ASSERT_EQ(staged.size(), 1u);
  std::ofstream(staged[0] + "/shard-00000.zst") << "half written";
  // One of this (live) process: in use, kept.
  catdog::fs::StagingDir live;
  ASSERT_TRUE(live.Create(dir, "report.json"));

  size_t removed = 0;
  ASSERT_TRUE(catdog::fs::RemoveStaleTemps(dir, &removed));
  EXPECT_EQ(removed, 1u);
  EXPECT_FALSE(stdfs::exists(staged[0]));
  EXPECT_TRUE(stdfs::exists(live.path()));
  for (const char* kept : {"album.tmp7/photo.jpg", "thesis.tmp1", "last.pt.tmp123456", "model.tmp-export-42",
                           ".catdog-tmp-1-2/notes.txt"})
    EXPECT_TRUE(stdfs::exists(dir + "/" + kept)) << kept << " was deleted";
  // WriteFileAtomic stages inside its own folder and leaves nothing beside the file.
  ASSERT_TRUE(catdog::fs::WriteFileAtomic(tmp.path("w/a.json"), std::string("{}")));
  std::vector<std::string> names;
  for (const auto& e : stdfs::directory_iterator(tmp.path("w"))) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"a.json"});
}

// A source folder whose name is not UTF-8 made pack.json's dump throw after the shards were
// written (shards and no pack.json). The name is stored escaped; the pack is whole.
TEST(Pack, NonUtf8SourceFolderIsStoredEscaped) {
  catdog::test::TempDir tmp;
  Pack p = MakePack(6, 16, 11);
  p.sources = {"/photos/\xff\xfe-cats"};
  ASSERT_TRUE(catdog::pack::WritePack(tmp.path("p"), p));
  Pack q;
  ASSERT_TRUE(catdog::pack::ReadPack(tmp.path("p"), &q));
  ASSERT_EQ(q.sources.size(), 1u);
  EXPECT_EQ(q.sources[0], "/photos/\\xFF\\xFE-cats");
}

// Writing a pack where --out is a file named the message after the OS ("...: Success").
TEST(Pack, WritingIntoAFileSaysSo) {
  catdog::test::TempDir tmp;
  std::ofstream(tmp.path("f")) << "x";
  Pack p = MakePack(2, 16, 12);
  catdog::Status s = catdog::pack::WritePack(tmp.path("f"), p);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("not a folder"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("Success"), std::string::npos) << s.message();
}

// `catdog unpack` (data/unpack.h): NumPy 1.0 files a Python reader takes as they are.
TEST(Unpack, WritesNpyArraysOfEveryNonEmptySplit) {
  catdog::test::TempDir tmp;
  const Pack p = MakePack(10, 8, 5);  // 8 train, 2 val, no test
  std::vector<catdog::pack::UnpackedSplit> written;
  catdog::Status s = catdog::pack::UnpackToNpy(p, tmp.path("npy"), &written);
  ASSERT_TRUE(s) << s.message();
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0].name, "train");
  EXPECT_EQ(written[0].images, 8u);
  EXPECT_EQ(written[0].x_path, tmp.path("npy/x_train.npy"));
  EXPECT_EQ(written[1].name, "val");
  EXPECT_FALSE(stdfs::exists(tmp.path("npy/x_test.npy")));
  auto read = [](const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  const std::string x = read(tmp.path("npy/x_val.npy")), y = read(tmp.path("npy/y_val.npy"));
  // Magic, version 1.0, header length; the data starts on a 64-byte boundary.
  ASSERT_GE(x.size(), 10u);
  EXPECT_EQ(x.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header = 10 + (uint8_t(x[8]) | uint8_t(x[9]) << 8);
  EXPECT_EQ(header % 64, 0u);
  EXPECT_NE(x.find("'descr': '|u1', 'fortran_order': False, 'shape': (2,8,8), }"), std::string::npos);
  EXPECT_NE(y.find("'shape': (2,), }"), std::string::npos);
  ASSERT_EQ(x.size(), header + 2 * 64);
  const std::vector<size_t> val = p.Indices(catdog::pack::kVal);
  ASSERT_EQ(val.size(), 2u);
  EXPECT_EQ(0, std::memcmp(x.data() + header, p.image(val[0]), 64)) << "val images in pack order";
  EXPECT_EQ(0, std::memcmp(x.data() + header + 64, p.image(val[1]), 64));
  ASSERT_GE(y.size(), 2u);
  EXPECT_EQ((y.size() - 2) % 64, 0u);
  EXPECT_EQ(uint8_t(y[y.size() - 2]), p.labels[val[0]]);
  EXPECT_EQ(uint8_t(y[y.size() - 1]), p.labels[val[1]]);
}
