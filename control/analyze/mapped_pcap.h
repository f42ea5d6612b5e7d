// Classic pcap files read through a read-only memory mapping, for `smtpgw analyze`: the records
// are walked in place, so a TCP payload handed to the reassembler points into the mapping and is
// never copied (libpcap's pcap_next_ex copies each record into its own buffer, which it reuses,
// so those payloads had to be copied once more into a CaptureArena).
//
// This reader takes only the plain case and hands everything else to libpcap, so what libpcap
// accepts, rejects and reports stays the reference:
// - open() declines (nothing mapped; the caller reads the whole file with libpcap) for pcapng and
//   any other format, version 2.0-2.2 and 543.0 files (swapped length fields), the patched
//   "Kuznetzov" format, link types other than those in packet_decode.h, a link type with
//   extension bits (FCS length), files shorter than a file header, and when mmap fails.
// - next() stops with kHandOver at the first record it does not take: a record header or data
//   cut by the end of the file, a captured length above the file's snapshot length (libpcap cuts
//   or rejects those), or a version 2.3 record whose captured length exceeds its wire length
//   (libpcap swaps them). The caller reopens the file with libpcap, seeks to offset() and lets
//   libpcap read (or report) the rest.
//
// Bytes returned by next() stay valid until the MappedPcap is destroyed. Offline code,
// single-threaded; a file truncated by another process while mapped raises SIGBUS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace smtpgw::analyze {

struct PcapRecord {
  const uint8_t* data = nullptr;  // caplen bytes inside the mapping
  uint32_t caplen = 0;
  uint32_t len = 0;  // length on the wire
};

class MappedPcap {
 public:
  enum class Next : uint8_t {
    kRecord,    // `rec` holds the next record
    kEnd,       // clean end of file
    kHandOver,  // a record this reader does not take starts at offset(): continue with libpcap
  };

  MappedPcap() = default;
  ~MappedPcap();
  MappedPcap(const MappedPcap&) = delete;
  MappedPcap& operator=(const MappedPcap&) = delete;

  // Maps `path` and reads its file header. False: not a file this reader takes (see above), or
  // it cannot be opened, stat'ed or mapped; nothing is reported (libpcap reports what is wrong).
  // Cost: one open, fstat, mmap; O(1).
  bool open(const std::string& path);
  // The link type as pcap_datalink() reports it for the same file (a DLT_ value).
  int link_type() const { return link_; }
  // The next record. O(1): reads the 16-byte record header only.
  Next next(PcapRecord& rec) {
    if (size_ - pos_ < kRecordHeader) {
      return pos_ == size_ ? Next::kEnd : Next::kHandOver;
    }
    const uint8_t* h = base_ + pos_;
    uint32_t caplen = load32(h + 8);
    uint32_t len = load32(h + 12);
    if (caplen > snapshot_ || caplen > size_ - pos_ - kRecordHeader ||
        (maybe_swapped_ && caplen > len)) {
      return Next::kHandOver;
    }
    rec.data = h + kRecordHeader;
    rec.caplen = caplen;
    rec.len = len;
    pos_ += kRecordHeader + caplen;
    return Next::kRecord;
  }
  // File offset of the record next() returns next (or handed over).
  uint64_t offset() const { return pos_; }

 private:
  static constexpr size_t kFileHeader = 24;
  static constexpr size_t kRecordHeader = 16;

  uint32_t load32(const uint8_t* p) const {
    uint32_t v;
    __builtin_memcpy(&v, p, sizeof v);  // records are not aligned in the file
    return swapped_ ? __builtin_bswap32(v) : v;
  }

  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  size_t pos_ = 0;
  uint32_t snapshot_ = 0;  // largest captured length libpcap passes through unchanged
  int link_ = 0;
  bool swapped_ = false;        // the file was written in the other byte order
  bool maybe_swapped_ = false;  // version 2.3: libpcap swaps caplen and len when caplen > len
};

}  // namespace smtpgw::analyze
