#include "tensorboard.h"

#include <chrono>
#include <cstring>
#include <filesystem>

#include <unistd.h>

#include "fsutil.h"

namespace catdog::tb {

namespace {

struct Crc32cTable {
  uint32_t t[256];
  Crc32cTable() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected Castagnoli
      t[i] = c;
    }
  }
};

void PutVarint(std::string* s, uint64_t v) {
  while (v >= 0x80) {
    s->push_back(char(uint8_t(v) | 0x80));
    v >>= 7;
  }
  s->push_back(char(v));
}
void PutFixed32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(char(uint8_t(v >> (8 * i))));
}
void PutFixed64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(char(uint8_t(v >> (8 * i))));
}
void PutTag(std::string* s, int field, int wire) { PutVarint(s, (uint64_t(field) << 3) | uint64_t(wire)); }
void PutBytes(std::string* s, int field, const std::string& b) {
  PutTag(s, field, 2);
  PutVarint(s, b.size());
  s->append(b);
}

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Minimal protobuf reader over a byte range.
struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;
  bool done() const { return p >= end; }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) { ok = false; return 0; }
      uint8_t b = *p++;
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  uint64_t Fixed(int n) {
    if (end - p < n) { ok = false; p = end; return 0; }
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t(p[i]) << (8 * i);
    p += n;
    return v;
  }
  std::string Bytes() {
    uint64_t n = Varint();
    if (!ok || uint64_t(end - p) < n) { ok = false; p = end; return {}; }
    std::string s(reinterpret_cast<const char*>(p), size_t(n));
    p += n;
    return s;
  }
  void Skip(int wire) {
    switch (wire) {
      case 0: Varint(); break;
      case 1: Fixed(8); break;
      case 2: Bytes(); break;
      case 5: Fixed(4); break;
      default: ok = false; p = end;
    }
  }
};

bool DecodeValue(const std::string& b, std::string* tag, float* value) {
  Reader r{reinterpret_cast<const uint8_t*>(b.data()), reinterpret_cast<const uint8_t*>(b.data()) + b.size()};
  bool have = false;
  while (r.ok && !r.done()) {
    uint64_t key = r.Varint();
    int field = int(key >> 3), wire = int(key & 7);
    if (field == 1 && wire == 2) *tag = r.Bytes();
    else if (field == 2 && wire == 5) {
      uint32_t u = uint32_t(r.Fixed(4));
      std::memcpy(value, &u, 4);
      have = true;
    } else r.Skip(wire);
  }
  return r.ok && have;
}

bool DecodeEvent(const std::string& b, Event* e) {
  Reader r{reinterpret_cast<const uint8_t*>(b.data()), reinterpret_cast<const uint8_t*>(b.data()) + b.size()};
  while (r.ok && !r.done()) {
    uint64_t key = r.Varint();
    int field = int(key >> 3), wire = int(key & 7);
    if (field == 1 && wire == 1) {
      uint64_t u = r.Fixed(8);
      std::memcpy(&e->wall_time, &u, 8);
    } else if (field == 2 && wire == 0) {
      e->step = int64_t(r.Varint());
    } else if (field == 3 && wire == 2) {
      e->file_version = r.Bytes();
    } else if (field == 5 && wire == 2) {
      std::string summary = r.Bytes();
      Reader sr{reinterpret_cast<const uint8_t*>(summary.data()),
                reinterpret_cast<const uint8_t*>(summary.data()) + summary.size()};
      while (sr.ok && !sr.done()) {
        uint64_t k2 = sr.Varint();
        if ((k2 >> 3) == 1 && (k2 & 7) == 2) {
          std::string tag;
          float v = 0;
          if (!DecodeValue(sr.Bytes(), &tag, &v)) return false;
          e->scalars.emplace_back(tag, v);
        } else sr.Skip(int(k2 & 7));
      }
      if (!sr.ok) return false;
    } else {
      r.Skip(wire);
    }
  }
  return r.ok;
}

}  // namespace

uint32_t Crc32c(const void* data, size_t size) {
  static const Crc32cTable table;
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = table.t[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t MaskedCrc32c(const void* data, size_t size) {
  uint32_t c = Crc32c(data, size);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string EncodeEvent(const Event& e) {
  std::string s;
  uint64_t wt;
  std::memcpy(&wt, &e.wall_time, 8);
  PutTag(&s, 1, 1);
  PutFixed64(&s, wt);
  if (e.step != 0) {
    PutTag(&s, 2, 0);
    PutVarint(&s, uint64_t(e.step));
  }
  if (!e.file_version.empty()) PutBytes(&s, 3, e.file_version);
  if (!e.scalars.empty()) {
    std::string summary;
    for (const auto& [tag, value] : e.scalars) {
      std::string v;
      PutBytes(&v, 1, tag);
      uint32_t u;
      std::memcpy(&u, &value, 4);
      PutTag(&v, 2, 5);
      PutFixed32(&v, u);
      PutBytes(&summary, 1, v);
    }
    PutBytes(&s, 5, summary);
  }
  return s;
}

EventWriter::~EventWriter() { Close(); }

void EventWriter::Close() {
  if (f_) std::fclose(f_);
  f_ = nullptr;
}

Status EventWriter::Open(const std::string& dir) {
  Close();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Error(dir + ": cannot create the log directory: " + ec.message());
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  static int counter = 0;
  std::string name = "events.out.tfevents." + std::to_string(int64_t(Now())) + "." + host + "." +
                     std::to_string(getpid()) + "." + std::to_string(counter++);
  path_ = (std::filesystem::path(dir) / name).string();
  f_ = std::fopen(path_.c_str(), "wb");
  if (!f_) return Status::Error(path_ + ": cannot create: " + std::strerror(errno));
  Event e;
  e.wall_time = Now();
  e.file_version = "brain.Event:2";
  return WriteRecord(EncodeEvent(e));
}

Status EventWriter::WriteRecord(const std::string& payload) {
  if (!f_) return Status::Error("event file is not open");
  std::string rec;
  uint64_t len = payload.size();
  PutFixed64(&rec, len);
  PutFixed32(&rec, MaskedCrc32c(rec.data(), 8));
  rec += payload;
  PutFixed32(&rec, MaskedCrc32c(payload.data(), payload.size()));
  if (std::fwrite(rec.data(), 1, rec.size(), f_) != rec.size() || std::fflush(f_) != 0)
    return Status::Error(path_ + ": write failed: " + std::strerror(errno));
  return Status::Ok();
}

Status EventWriter::AddScalar(const std::string& tag, float value, int64_t step, double wall_time) {
  Event e;
  e.wall_time = wall_time < 0 ? Now() : wall_time;
  e.step = step;
  e.scalars.emplace_back(tag, value);
  return WriteRecord(EncodeEvent(e));
}

namespace {
// Parses records from the start of `bytes`; stops at the first bad one with its message in
// `error` (empty when the whole buffer parsed). `good_end` is the offset after the last good one.
void ParseRecords(const std::string& path, const std::vector<uint8_t>& bytes, std::vector<Event>* out,
                  std::string* error, size_t* good_end);
}  // namespace

Status ReadEventFile(const std::string& path, std::vector<Event>* out) {
  std::vector<uint8_t> bytes;
  Status s = fs::ReadFile(path, &bytes);
  if (!s) return s;
  std::string error;
  size_t good_end = 0;
  ParseRecords(path, bytes, out, &error, &good_end);
  if (!error.empty()) return Status::Error(error);
  return Status::Ok();
}

Status RepairEventFile(const std::string& path, int64_t keep_below_step, bool* changed) {
  *changed = false;
  std::vector<uint8_t> bytes;
  Status s = fs::ReadFile(path, &bytes);
  if (!s) return s;
  std::vector<Event> events;
  std::string error;
  size_t good_end = 0;
  ParseRecords(path, bytes, &events, &error, &good_end);
  std::string kept;
  bool dropped = !error.empty();
  for (const Event& e : events) {
    if (!e.scalars.empty() && e.step >= keep_below_step) {
      dropped = true;
      continue;
    }
    const std::string payload = EncodeEvent(e);
    std::string rec;
    PutFixed64(&rec, payload.size());
    PutFixed32(&rec, MaskedCrc32c(rec.data(), 8));
    rec += payload;
    PutFixed32(&rec, MaskedCrc32c(payload.data(), payload.size()));
    kept += rec;
  }
  if (!dropped) return Status::Ok();
  *changed = true;
  return fs::WriteFileAtomic(path, kept);
}

namespace {
void ParseRecords(const std::string& path, const std::vector<uint8_t>& bytes, std::vector<Event>* out,
                  std::string* error, size_t* good_end) {
  out->clear();
  error->clear();
  *good_end = 0;
  size_t off = 0;
  auto fail = [&](const std::string& msg) { *error = msg; };
  while (off < bytes.size()) {
    const std::string where = path + ": record at offset " + std::to_string(off);
    if (bytes.size() - off < 12) return fail(where + ": truncated header");
    uint64_t len = 0;
    for (int i = 0; i < 8; ++i) len |= uint64_t(bytes[off + i]) << (8 * i);
    uint32_t len_crc = 0, data_crc = 0;
    for (int i = 0; i < 4; ++i) len_crc |= uint32_t(bytes[off + 8 + i]) << (8 * i);
    if (MaskedCrc32c(&bytes[off], 8) != len_crc) return fail(where + ": length CRC mismatch");
    if (bytes.size() - off < 16 || len > bytes.size() - off - 16) return fail(where + ": truncated payload");
    const uint8_t* payload = &bytes[off + 12];
    for (int i = 0; i < 4; ++i) data_crc |= uint32_t(payload[len + i]) << (8 * i);
    if (MaskedCrc32c(payload, len) != data_crc) return fail(where + ": payload CRC mismatch");
    Event e;
    if (!DecodeEvent(std::string(reinterpret_cast<const char*>(payload), len), &e))
      return fail(where + ": malformed Event protobuf");
    out->push_back(std::move(e));
    off += 12 + len + 4;
    *good_end = off;
  }
}
}  // namespace

}  // namespace catdog::tb
