// Classic pcap files for `smtpgw analyze`, read window by window (one pread of 1 MiB) into
// CaptureArena chunks: the records are walked in place in the chunk, so a TCP payload handed to
// the reassembler points into the chunk, holds a reference to it, and is never copied.
//
// Why windows and not a mapping of the whole file (what this reader did before): the pipeline
// touches every payload byte first where it is read, and bytes just copied into a reused window
// are in the cache, while a page-cache mapping is walked 4 KiB page by page. Measured on the
// development VM: walking a 544 MB capture through a mapping reads 3.6 GB/s, pread into a 1 MiB
// window and walking it 14 GB/s (docs/analyze.md "Inputs"). Windows also keep a capture that
// shrinks under the reader from raising SIGBUS: a short read is a cut record like any other.
//
// Memory: a window stays allocated while any segment in it is kept by the reassembler (held out
// of order, or delivered and not yet acknowledged). At most `max_windows` are referenced at once;
// when the reader needs one more, it walks the rest of the file in a read-only mapping instead
// (fell_back() tells; the mapping's bytes need no owner), so memory stays bounded whatever the
// capture (a capture of one direction only, whose bytes are never acknowledged, is the usual
// way to get there).
//
// This reader takes only the plain case and hands everything else to libpcap, so what libpcap
// accepts, rejects and reports stays the reference:
// - open() declines (the caller reads the whole file with libpcap) for pcapng and any other
//   format, version 2.0-2.2 and 543.0 files (swapped length fields), the patched "Kuznetzov"
//   format, link types other than those in packet_decode.h, a link type with extension bits (FCS
//   length), files shorter than a file header, and files it cannot open or read.
// - next() stops with kHandOver at the first record it does not take: a record header or data
//   cut by the end of the file (or by a read that came up short), a captured length above the
//   file's snapshot length (libpcap cuts or rejects those), or a version 2.3 record whose captured
//   length exceeds its wire length (libpcap swaps them). The caller reopens the file with
//   libpcap, seeks to offset() and lets libpcap read (or report) the rest.
//
// Bytes of a record stay valid while the caller holds a reference to its window (retain it
// before next() is called again), or, for mapped records (window == nullptr), until the reader is
// destroyed. Offline code, single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "control/analyze/capture_arena.h"

namespace smtpgw::analyze {

struct PcapRecord {
  const uint8_t* data = nullptr;  // caplen bytes inside a window or the mapping
  uint32_t caplen = 0;
  uint32_t len = 0;  // length on the wire
  uint64_t ts_ns = 0;  // capture time, Unix nanoseconds
  // The window holding `data` (no reference is taken for the caller), or nullptr when the
  // record is in the mapping.
  CaptureArena::Chunk* window = nullptr;
};

class PcapReader {
 public:
  enum class Next : uint8_t {
    kRecord,    // `rec` holds the next record
    kEnd,       // clean end of file
    kHandOver,  // a record this reader does not take starts at offset(): continue with libpcap
  };
  // 256 windows of 1 MiB: far more than a capture of acknowledged traffic keeps (tools/bench
  // stream's capture, 512 flows in flight, never has more than 3 windows allocated).
  static constexpr size_t kDefaultMaxWindows = 256;

  explicit PcapReader(CaptureArena& arena, size_t max_windows = kDefaultMaxWindows)
      : arena_(arena), max_windows_(max_windows) {}
  ~PcapReader();
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  // Opens `path`, reads its file header and the first window. False: not a file this reader
  // takes (see above), or it cannot be opened, stat'ed or read; nothing is reported (libpcap
  // reports what is wrong). Cost: open, fstat, one pread of up to 1 MiB.
  bool open(const std::string& path);
  // The link type as pcap_datalink() reports it for the same file (a DLT_ value).
  int link_type() const { return link_; }
  // The next record. O(1) inside a window (reads the 16-byte record header); one pread of up to
  // 1 MiB when the record starts or ends past the window.
  Next next(PcapRecord& rec) {
    size_t avail = static_cast<size_t>(end_ - cur_);
    if (avail >= kRecordHeader) {
      uint32_t caplen = load32(cur_ + 8);
      uint32_t len = load32(cur_ + 12);
      if (caplen <= snapshot_ && caplen <= avail - kRecordHeader &&
          !(maybe_swapped_ && caplen > len)) {
        rec.data = cur_ + kRecordHeader;
        rec.caplen = caplen;
        rec.len = len;
        rec.ts_ns = uint64_t{load32(cur_)} * 1'000'000'000u + uint64_t{load32(cur_ + 4)} * frac_ns_;
        rec.window = window_;
        cur_ += kRecordHeader + caplen;
        pos_ += kRecordHeader + caplen;
        return Next::kRecord;
      }
    }
    return next_slow(rec);
  }
  // File offset of the record next() returns next (or handed over).
  uint64_t offset() const { return pos_; }
  // True once the windows ran out and the rest of the file is walked in a mapping.
  bool fell_back() const { return map_ != nullptr; }

 private:
  static constexpr size_t kFileHeader = 24;
  static constexpr size_t kRecordHeader = 16;

  [[gnu::cold]] Next next_slow(PcapRecord& rec);
  // Brings the bytes from pos_ on into memory: a new window, or the mapping when none is left.
  // False when that fails (the mapping could not be made).
  bool refill();
  void close_file();

  uint32_t load32(const uint8_t* p) const {
    uint32_t v;
    __builtin_memcpy(&v, p, sizeof v);  // records are not aligned in the file
    return swapped_ ? __builtin_bswap32(v) : v;
  }

  CaptureArena& arena_;
  size_t max_windows_;
  int fd_ = -1;
  uint64_t file_size_ = 0;  // as fstat told at open; bytes appended later are not read
  uint64_t pos_ = 0;        // file offset of cur_
  const uint8_t* cur_ = nullptr;  // the next record's bytes in memory
  const uint8_t* end_ = nullptr;  // end of the file's bytes in memory (window or mapping)
  CaptureArena::Chunk* window_ = nullptr;  // with the reader's reference; null when mapped
  const uint8_t* map_ = nullptr;
  uint32_t snapshot_ = 0;  // largest captured length libpcap passes through unchanged
  int link_ = 0;
  uint32_t frac_ns_ = 1'000;    // nanoseconds per unit of a record's second fraction
  bool swapped_ = false;        // the file was written in the other byte order
  bool maybe_swapped_ = false;  // version 2.3: libpcap swaps caplen and len when caplen > len
};

}  // namespace smtpgw::analyze
