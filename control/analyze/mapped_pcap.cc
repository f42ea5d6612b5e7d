#include "control/analyze/mapped_pcap.h"

#include <fcntl.h>
#include <pcap/dlt.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

MappedPcap::~MappedPcap() {
  if (base_ != nullptr) {
    munmap(const_cast<uint8_t*>(base_), size_);
  }
}

bool MappedPcap::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) < kFileHeader) {
    ::close(fd);
    return false;
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* m = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);  // the mapping keeps the file
  if (m == MAP_FAILED) {
    return false;
  }
  const auto* p = static_cast<const uint8_t*>(m);
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
    munmap(m, size);
    return false;
  }
  // The kernel reads ahead and drops pages behind: the records are walked once, in order.
  madvise(m, size, MADV_SEQUENTIAL);
  base_ = p;
  size_ = size;
  pos_ = kFileHeader;
  // pcap_adjust_snapshot(): 0 or above the maximum means the maximum.
  snapshot_ = snaplen == 0 || snaplen > kMaxSnaplen ? kMaxSnaplen : snaplen;
  link_ = link;
  maybe_swapped_ = minor == 3;
  return true;
}

}  // namespace smtpgw::analyze
