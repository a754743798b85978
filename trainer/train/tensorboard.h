// TensorBoard event files without TensorFlow: TFRecord framing (length, masked CRC32C of the
// length, payload, masked CRC32C of the payload) around hand-encoded Event protobufs. The first
// record carries file_version "brain.Event:2"; then one Event per scalar (Summary.Value with
// simple_value), which is what TensorBoard's scalar dashboard reads.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "catdog/catdog.h"

namespace catdog::tb {

// CRC-32C (Castagnoli), and TFRecord's mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t Crc32c(const void* data, size_t size);
uint32_t MaskedCrc32c(const void* data, size_t size);

class EventWriter {
 public:
  EventWriter() = default;
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // Creates `dir` and a new file events.out.tfevents.<unix seconds>.<host>.<pid>.<n> in it, and
  // writes the file_version record.
  Status Open(const std::string& dir);
  // One scalar; each record is written whole and flushed (TensorBoard reads files while they grow).
  Status AddScalar(const std::string& tag, float value, int64_t step, double wall_time = -1);
  const std::string& path() const { return path_; }
  void Close();

 private:
  Status WriteRecord(const std::string& payload);
  std::FILE* f_ = nullptr;
  std::string path_;
};

// A decoded event (for tests and tools).
struct Event {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::vector<std::pair<std::string, float>> scalars;  // tag, simple_value
};

// Reads a whole event file, checking both CRCs of every record. Messages name the file and offset.
Status ReadEventFile(const std::string& path, std::vector<Event>* out);

// Crash repair for a resumed run: keeps the records of `path` that parse whole, drops a torn tail
// (a writer killed mid-record) and every scalar event with step >= `keep_below_step` (epochs the
// checkpoint being resumed does not have, so they are not logged twice), and rewrites the file
// atomically when anything was dropped. `changed` says whether it did.
Status RepairEventFile(const std::string& path, int64_t keep_below_step, bool* changed);

// Protobuf encoding of one Event (exposed for tests).
std::string EncodeEvent(const Event& e);

}  // namespace catdog::tb
