// PcapReader: classic pcap files read window by window into CaptureArena chunks. Files are
// written here record by record; every test checks the records (bytes and lengths) the reader
// gives against what was written, across window boundaries, and the defined hand-over to libpcap
// for what the reader does not take.
#include "control/analyze/pcap_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace smtpgw::analyze {
namespace {

using Bytes = std::vector<uint8_t>;

struct Written {
  Bytes data;
  uint32_t len;
  uint64_t offset;  // of the record header in the file
};

class PcapFile {
 public:
  explicit PcapFile(bool swapped = false, uint16_t minor = 4, uint32_t snaplen = 262144)
      : swapped_(swapped) {
    put32(0xa1b2c3d4);
    put16(2);
    put16(minor);
    put32(0);  // thiszone
    put32(0);  // sigfigs
    put32(snaplen);
    put32(1);  // Ethernet
  }
  void add(const Bytes& data, uint32_t len) {
    records.push_back({data, len, bytes_.size()});
    put32(1);  // seconds
    put32(2);  // microseconds
    put32(static_cast<uint32_t>(data.size()));
    put32(len);
    bytes_.insert(bytes_.end(), data.begin(), data.end());
  }
  // Writes the first `cut` bytes (all when 0) to a new temporary file; returns its path.
  std::string write(size_t cut = 0) {
    char path[] = "/tmp/smtpgw-pcap-reader-XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    size_t n = cut == 0 ? bytes_.size() : cut;
    EXPECT_EQ(::write(fd, bytes_.data(), n), static_cast<ssize_t>(n));
    ::close(fd);
    paths_.push_back(path);
    return path;
  }
  ~PcapFile() {
    for (const auto& p : paths_) {
      std::remove(p.c_str());
    }
  }
  size_t size() const { return bytes_.size(); }
  std::vector<Written> records;

 private:
  void put16(uint16_t v) {
    if (swapped_) {
      v = __builtin_bswap16(v);
    }
    bytes_.push_back(static_cast<uint8_t>(v));
    bytes_.push_back(static_cast<uint8_t>(v >> 8));
  }
  void put32(uint32_t v) {
    if (swapped_) {
      v = __builtin_bswap32(v);
    }
    for (int i = 0; i < 4; ++i) {
      bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
  }
  bool swapped_;
  Bytes bytes_;
  std::vector<std::string> paths_;
};

Bytes pattern(size_t n, uint32_t seed) {
  Bytes b(n);
  std::mt19937 rng(seed);
  for (auto& x : b) {
    x = static_cast<uint8_t>(rng());
  }
  return b;
}

// memcmp is not given the null data() of an empty vector (undefined, and UBSan says so).
bool same_bytes(const uint8_t* got, const Bytes& want) {
  return want.empty() || std::memcmp(got, want.data(), want.size()) == 0;
}

// Records of every size class: tiny, MTU-sized, jumbo, and a few of the largest snapshot length,
// so that records start and end on every side of the 1 MiB windows.
PcapFile mixed_file(size_t count, bool swapped = false) {
  PcapFile f(swapped);
  std::mt19937 rng(7);
  for (size_t i = 0; i < count; ++i) {
    size_t n;
    switch (rng() % 8) {
      case 0: n = rng() % 60; break;
      case 1: n = 9000; break;
      case 2: n = i % 50 == 0 ? 262144 : 1514; break;
      default: n = 54 + rng() % 1460; break;
    }
    f.add(pattern(n, static_cast<uint32_t>(i)), static_cast<uint32_t>(n + i % 3));
  }
  return f;
}

// Reads every record, keeping a reference to each record's window when `keep` (as the
// reassembler does for bytes it holds), and checks each against what was written.
void read_all(PcapReader& r, CaptureArena& arena, const std::vector<Written>& expect,
              bool keep, PcapReader::Next want_end = PcapReader::Next::kEnd,
              size_t want_count = SIZE_MAX) {
  if (want_count == SIZE_MAX) {
    want_count = expect.size();
  }
  std::vector<CaptureArena::Chunk*> kept;
  PcapRecord rec;
  size_t i = 0;
  PcapReader::Next n;
  while ((n = r.next(rec)) == PcapReader::Next::kRecord) {
    ASSERT_LT(i, expect.size());
    ASSERT_EQ(rec.caplen, expect[i].data.size()) << "record " << i;
    ASSERT_EQ(rec.len, expect[i].len) << "record " << i;
    ASSERT_TRUE(same_bytes(rec.data, expect[i].data)) << "record " << i;
    if (keep && rec.window != nullptr) {
      CaptureArena::retain_chunk(rec.window);
      kept.push_back(rec.window);
    }
    ++i;
  }
  EXPECT_EQ(n, want_end);
  EXPECT_EQ(i, want_count);
  if (want_count < expect.size()) {
    EXPECT_EQ(r.offset(), expect[want_count].offset);
  }
  for (auto* c : kept) {
    arena.release_chunk(c);
  }
}

// Writes `f` (cut to `cut` bytes; whole when 0) and expects its first `count` records, then a
// hand-over to libpcap at the record after them.
void expect_hand_over(PcapFile& f, size_t count, size_t cut = 0) {
  std::string path = f.write(cut);
  CaptureArena arena;
  PcapReader r(arena);
  ASSERT_TRUE(r.open(path));
  read_all(r, arena, f.records, false, PcapReader::Next::kHandOver, count);
}

TEST(PcapReader, RecordsAcrossWindowBoundaries) {
  PcapFile f = mixed_file(3000);
  ASSERT_GT(f.size(), 4 * CaptureArena::kChunkBytes);  // several windows
  std::string path = f.write();
  CaptureArena arena;
  {
    PcapReader r(arena);
    ASSERT_TRUE(r.open(path));
    EXPECT_EQ(r.link_type(), 1);
    read_all(r, arena, f.records, false);
    EXPECT_FALSE(r.fell_back());
    EXPECT_EQ(r.offset(), f.size());
  }
  // Nothing kept: one window was read into again and again.
  EXPECT_LE(arena.chunks_allocated(), 2u);
  EXPECT_EQ(arena.chunks_in_use(), 0u);
}

TEST(PcapReader, OtherByteOrder) {
  PcapFile f = mixed_file(800, true);
  std::string path = f.write();
  CaptureArena arena;
  PcapReader r(arena);
  ASSERT_TRUE(r.open(path));
  read_all(r, arena, f.records, false);
}

TEST(PcapReader, KeptWindowsStayIntactAndAreRecycledWhenReleased) {
  PcapFile f = mixed_file(2000);
  std::string path = f.write();
  CaptureArena arena;
  std::vector<std::pair<const uint8_t*, CaptureArena::Chunk*>> kept;
  {
    PcapReader r(arena);
    ASSERT_TRUE(r.open(path));
    PcapRecord rec;
    size_t i = 0;
    while (r.next(rec) == PcapReader::Next::kRecord) {
      if (i % 97 == 0) {  // a held segment here and there
        ASSERT_NE(rec.window, nullptr);
        CaptureArena::retain_chunk(rec.window);
        kept.emplace_back(rec.data, rec.window);
      }
      ++i;
    }
    EXPECT_FALSE(r.fell_back());
  }
  // The reader has given back its own window; kept bytes are still what was written.
  for (size_t k = 0; k < kept.size(); ++k) {
    const Written& w = f.records[k * 97];
    EXPECT_TRUE(same_bytes(kept[k].first, w.data)) << "kept " << k;
  }
  EXPECT_GT(arena.chunks_in_use(), 1u);
  for (auto& [p, c] : kept) {
    arena.release_chunk(c);
  }
  EXPECT_EQ(arena.chunks_in_use(), 0u);
}

TEST(PcapReader, FallsBackToTheMappingWhenEveryWindowIsKept) {
  PcapFile f = mixed_file(3000);
  std::string path = f.write();
  CaptureArena arena;
  PcapReader r(arena, 3);
  ASSERT_TRUE(r.open(path));
  read_all(r, arena, f.records, true);  // keeps every window it sees
  EXPECT_TRUE(r.fell_back());
  EXPECT_LE(arena.chunks_allocated(), 3u);  // the bound held
}

TEST(PcapReader, CutDataHandsOverAtTheCutRecord) {
  PcapFile f = mixed_file(1500);
  size_t victim = 1400;  // a record in a later window
  expect_hand_over(f, victim, f.records[victim].offset + 16 + f.records[victim].data.size() / 2);
}

TEST(PcapReader, CutHeaderHandsOver) {
  PcapFile f = mixed_file(500);
  expect_hand_over(f, 400, f.records[400].offset + 7);
}

TEST(PcapReader, RecordAboveSnaplenHandsOver) {
  PcapFile f(false, 4, 2000);
  for (int i = 0; i < 900; ++i) {
    f.add(pattern(i == 850 ? 3000 : 1514, i), 1514);
  }
  expect_hand_over(f, 850);
}

TEST(PcapReader, Version23CaplenAboveLenHandsOver) {
  PcapFile f(false, 3);
  for (int i = 0; i < 10; ++i) {
    f.add(pattern(100, i), i == 6 ? 50 : 100);
  }
  expect_hand_over(f, 6);
}

TEST(PcapReader, DeclinesWhatLibpcapShouldRead) {
  CaptureArena arena;
  {
    PcapFile f;
    f.add(pattern(10, 1), 10);
    std::string path = f.write(20);  // shorter than a file header
    PcapReader r(arena);
    EXPECT_FALSE(r.open(path));
  }
  {
    PcapFile f(false, 2);  // version 2.2
    std::string path = f.write();
    PcapReader r(arena);
    EXPECT_FALSE(r.open(path));
  }
  {
    PcapReader r(arena);
    EXPECT_FALSE(r.open("/nonexistent/capture.pcap"));
  }
  EXPECT_EQ(arena.chunks_in_use(), 0u);
}

TEST(PcapReader, EmptyCaptureEnds) {
  PcapFile f;
  std::string path = f.write();
  CaptureArena arena;
  PcapReader r(arena);
  ASSERT_TRUE(r.open(path));
  PcapRecord rec;
  EXPECT_EQ(r.next(rec), PcapReader::Next::kEnd);
}

}  // namespace
}  // namespace smtpgw::analyze
