// Fuzz target: PcapReader must give, for any file, exactly the records a plain in-memory walk of
// the same bytes gives, and stop (end or hand-over to libpcap) at the same offset, whatever
// windows the records fall across and whether the windows run out (fall-back to the mapping).
//
// The input is the start of a file; its records (after the 24-byte file header) are repeated
// until the file passes 2.2 MiB, so records straddle the 1 MiB windows. Inputs of even length
// keep no window and read window after window; inputs of odd length keep their first window (a
// reference, as the reassembler keeps held bytes) with a bound of one window, so the rest of the
// file is walked in the fall-back mapping.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "control/analyze/capture_arena.h"
#include "control/analyze/pcap_reader.h"

namespace {

using smtpgw::analyze::CaptureArena;
using smtpgw::analyze::PcapReader;
using smtpgw::analyze::PcapRecord;

struct Oracle {
  std::vector<std::pair<size_t, uint32_t>> records;  // offset of the data, caplen
  size_t stop = 0;                                   // offset where the walk stopped
  bool clean_end = false;
};

uint32_t load32(const uint8_t* p, bool swapped) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swapped ? __builtin_bswap32(v) : v;
}

// The records libpcap would read from a file PcapReader accepted (its header is valid).
Oracle walk(const std::vector<uint8_t>& f) {
  Oracle o;
  uint32_t magic;
  std::memcpy(&magic, f.data(), 4);
  bool swapped = magic != 0xa1b2c3d4 && magic != 0xa1b23c4d;
  uint16_t minor;
  std::memcpy(&minor, f.data() + 6, 2);
  if (swapped) {
    minor = __builtin_bswap16(minor);
  }
  uint32_t snaplen = load32(f.data() + 16, swapped);
  uint32_t snapshot = snaplen == 0 || snaplen > 262144 ? 262144 : snaplen;
  size_t pos = 24;
  while (true) {
    if (pos == f.size()) {
      o.clean_end = true;
      break;
    }
    if (f.size() - pos < 16) {
      break;
    }
    uint32_t caplen = load32(f.data() + pos + 8, swapped);
    uint32_t len = load32(f.data() + pos + 12, swapped);
    if (caplen > snapshot || caplen > f.size() - pos - 16 || (minor == 3 && caplen > len)) {
      break;
    }
    o.records.emplace_back(pos + 16, caplen);
    pos += 16 + caplen;
  }
  o.stop = pos;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 24) {
    return 0;
  }
  std::vector<uint8_t> file(data, data + size);
  if (size > 24) {
    while (file.size() < (9u << 18)) {
      file.insert(file.end(), data + 24, data + size);
    }
  }
  int fd = memfd_create("pcap_reader_fuzz", MFD_CLOEXEC);
  if (fd < 0 || write(fd, file.data(), file.size()) != static_cast<ssize_t>(file.size())) {
    __builtin_trap();
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  CaptureArena arena;
  std::vector<CaptureArena::Chunk*> kept;
  {
    bool keep_first = size % 2 == 1;
    PcapReader reader(arena, keep_first ? 1 : 2);
    if (reader.open(path)) {
      Oracle o = walk(file);
      PcapRecord rec;
      PcapReader::Next n;
      size_t i = 0;
      while ((n = reader.next(rec)) == PcapReader::Next::kRecord) {
        if (i >= o.records.size() || rec.caplen != o.records[i].second ||
            std::memcmp(rec.data, file.data() + o.records[i].first, rec.caplen) != 0) {
          __builtin_trap();
        }
        if (keep_first && i == 0 && rec.window != nullptr) {
          CaptureArena::retain_chunk(rec.window);
          kept.push_back(rec.window);
        }
        ++i;
      }
      bool ended = n == PcapReader::Next::kEnd;
      if (i != o.records.size() || reader.offset() != o.stop || ended != o.clean_end) {
        __builtin_trap();
      }
      // The bound held: the kept window and the one being read, or the mapping.
      if (arena.chunks_allocated() > 2 || (keep_first && i > 0 && o.stop > (1u << 20) &&
                                            !reader.fell_back())) {
        __builtin_trap();
      }
    }
  }
  for (auto* c : kept) {
    arena.release_chunk(c);
  }
  if (arena.chunks_in_use() != 0) {
    __builtin_trap();
  }
  close(fd);
  return 0;
}
