#include "control/analyze/pcap_reader.h"

#include <fcntl.h>
#include <pcap/dlt.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "control/analyze/packet_decode.h"

namespace smtpgw::analyze {

namespace {

constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
// libpcap's MAXIMUM_SNAPLEN: max_snaplen_for_dlt() of every link type we decode.
constexpr uint32_t kMaxSnaplen = 262144;

// The DLT value libpcap's linktype_to_dlt() gives for a file's LINKTYPE_ value, for the link
// types packet_decode.h handles; -1 for the others (left to libpcap).
int dlt_of(uint32_t linktype) {
  switch (linktype) {
    case kLinkEthernet:
    case kLinkLinuxSll:
    case kLinkLinuxSll2:
      return static_cast<int>(linktype);
    case kLinkRaw:
      return DLT_RAW;
    default:
      return -1;
  }
}

}  // namespace

PcapReader::~PcapReader() {
  close_file();
  if (window_ != nullptr) {
    arena_.release_chunk(window_);
  }
  if (map_ != nullptr) {
    munmap(const_cast<uint8_t*>(map_), file_size_);
  }
}

void PcapReader::close_file() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool PcapReader::open(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    return false;
  }
  struct stat st {};
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) < kFileHeader) {
    close_file();
    return false;
  }
  file_size_ = static_cast<uint64_t>(st.st_size);
  // The kernel reads ahead: the file is read once, in order.
  posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  pos_ = 0;
  if (!refill() || end_ - cur_ < static_cast<ptrdiff_t>(kFileHeader)) {
    close_file();
    return false;
  }
  const uint8_t* p = cur_;
  uint32_t magic;
  std::memcpy(&magic, p, sizeof magic);
  bool swapped = false;
  if (magic != kMagicMicro && magic != kMagicNano) {
    magic = __builtin_bswap32(magic);
    swapped = true;
  }
  swapped_ = swapped;
  uint16_t major;
  uint16_t minor;
  std::memcpy(&major, p + 4, sizeof major);
  std::memcpy(&minor, p + 6, sizeof minor);
  if (swapped) {
    major = __builtin_bswap16(major);
    minor = __builtin_bswap16(minor);
  }
  uint32_t snaplen = load32(p + 16);
  uint32_t linktype = load32(p + 20);
  int link = dlt_of(linktype);  // extension bits (FCS) make it unknown too
  if ((magic != kMagicMicro && magic != kMagicNano) || major != 2 || (minor != 3 && minor != 4) ||
      link < 0) {
    close_file();
    return false;
  }
  frac_ns_ = magic == kMagicNano ? 1 : 1'000;
  cur_ += kFileHeader;
  pos_ = kFileHeader;
  // pcap_adjust_snapshot(): 0 or above the maximum means the maximum.
  snapshot_ = snaplen == 0 || snaplen > kMaxSnaplen ? kMaxSnaplen : snaplen;
  link_ = link;
  maybe_swapped_ = minor == 3;
  return true;
}

PcapReader::Next PcapReader::next_slow(PcapRecord& rec) {
  uint64_t left = file_size_ - pos_;
  if (left == 0) {
    return Next::kEnd;
  }
  if (left < kRecordHeader) {
    return Next::kHandOver;  // a record header cut by the end of the file
  }
  size_t avail = static_cast<size_t>(end_ - cur_);
  if (avail >= kRecordHeader) {
    uint32_t caplen = load32(cur_ + 8);
    uint32_t len = load32(cur_ + 12);
    if (caplen > snapshot_ || (maybe_swapped_ && caplen > len) ||
        caplen > left - kRecordHeader) {
      return Next::kHandOver;  // libpcap's to cut, swap, reject or report
    }
  }
  // next() takes every good record that is whole in memory, so this one is whole in the file
  // and runs past the bytes in memory (or its header does): read on from it. A window holds any
  // record (snapshot lengths are at most kMaxSnaplen), so one refill is enough unless the read
  // comes up short (the file shrank) or fails: then libpcap takes over here.
  if (map_ != nullptr || !refill()) {
    return Next::kHandOver;
  }
  size_t now = static_cast<size_t>(end_ - cur_);
  if (now < kRecordHeader || load32(cur_ + 8) > now - kRecordHeader) {
    return Next::kHandOver;
  }
  return next(rec);
}

bool PcapReader::refill() {
  static_assert(CaptureArena::kChunkBytes >= kFileHeader + kRecordHeader + kMaxSnaplen,
                "a window must hold the file header and any record libpcap passes through");
  // The reader's own window goes back first: the bytes from pos_ on are read again anyway, and
  // when no segment kept it, it is the window acquired next (still in the cache).
  if (window_ != nullptr) {
    arena_.release_chunk(window_);
    window_ = nullptr;
    cur_ = end_ = nullptr;
  }
  CaptureArena::Chunk* w = arena_.acquire_window(max_windows_);
  if (w == nullptr) {
    // Every window is still referenced: walk the rest in a mapping (page cache, reclaimable).
    void* m = mmap(nullptr, file_size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (m == MAP_FAILED) {
      return false;
    }
    madvise(m, file_size_, MADV_SEQUENTIAL);
    map_ = static_cast<const uint8_t*>(m);
    cur_ = map_ + pos_;
    end_ = map_ + file_size_;
    return true;
  }
  // Re-read from pos_ (the start of the record that did not fit): at most one record's bytes
  // are read twice, and the window starts on a record.
  uint8_t* dst = CaptureArena::bytes(w);
  size_t want = static_cast<size_t>(std::min<uint64_t>(CaptureArena::kChunkBytes,
                                                       file_size_ - pos_));
  size_t got = 0;
  while (got < want) {
    ssize_t r = pread(fd_, dst + got, want - got, static_cast<off_t>(pos_ + got));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      break;  // an error or the file shrank: what was read is walked, then libpcap takes over
    }
    got += static_cast<size_t>(r);
  }
  window_ = w;
  cur_ = dst;
  end_ = dst + got;
  return true;
}

}  // namespace smtpgw::analyze
