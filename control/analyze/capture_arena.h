// Capture buffers for `smtpgw analyze`: reference-counted chunks of 1 MiB that TCP payloads point
// into, so the reassembler holds references to a chunk (tcp::OwnerOps) instead of copying bytes.
// Two ways fill a chunk:
// - PcapReader reads a classic pcap file window by window straight into chunks (one pread each)
//   and hands out payloads inside them;
// - copy() takes frames read with libpcap, whose buffer is reused by the next packet, and copies
//   each payload once.
// A chunk is recycled (kept for reuse, never returned to the allocator) when its last reference
// goes: the filler's own, while it still writes into it, and one per segment the reassembler
// keeps. Single-threaded.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/tcp/reassembler.h"

namespace smtpgw::analyze {

class CaptureArena {
 public:
  static constexpr uint32_t kChunkBytes = 1u << 20;
  struct Chunk;

  CaptureArena() = default;
  CaptureArena(const CaptureArena&) = delete;
  CaptureArena& operator=(const CaptureArena&) = delete;

  // Copies `len` bytes; *out points to the copy. Returns the owner handle, holding one reference.
  // Never fails (a new chunk is allocated when none is free); O(len).
  void* copy(const uint8_t* data, uint32_t len, const uint8_t** out) {
    if (copying_ == nullptr || copying_->used + len > copying_->size) {
      if (copying_ != nullptr) {
        release_chunk(copying_);
      }
      copying_ = acquire(len);
    }
    uint8_t* dst = copying_->bytes.get() + copying_->used;
    std::memcpy(dst, data, len);
    copying_->used += len;
    ++copying_->refs;
    *out = dst;
    return copying_;
  }

  // A chunk of kChunkBytes for a reader to fill, holding the reader's reference (give it back
  // with release_chunk). nullptr when none is free and `max_in_use` are referenced already: the
  // caller must read some other way (the bound on its memory). O(1).
  Chunk* acquire_window(size_t max_in_use) {
    if (free_.empty() && all_.size() - free_.size() >= max_in_use) {
      return nullptr;
    }
    return acquire(kChunkBytes);
  }
  static uint8_t* bytes(Chunk* c);
  // One more reference to `c` (a segment that points into it). O(1).
  static void retain_chunk(Chunk* c);
  // Drops one reference; the chunk is recycled when none is left. O(1).
  void release_chunk(Chunk* c);

  static tcp::OwnerOps owner_ops(CaptureArena& arena) {
    return tcp::OwnerOps{&CaptureArena::retain, &CaptureArena::release, &arena};
  }

  size_t chunks_allocated() const { return all_.size(); }
  size_t chunks_in_use() const { return all_.size() - free_.size(); }

  struct Chunk {
    std::unique_ptr<uint8_t[]> bytes;
    uint32_t size = 0;
    uint32_t used = 0;  // copy(): bytes taken
    uint32_t refs = 0;
  };

 private:
  // A chunk of at least `len` bytes with one reference (the caller's).
  Chunk* acquire(uint32_t len) {
    Chunk* c = nullptr;
    if (len <= kChunkBytes && !free_.empty()) {
      c = free_.back();
      free_.pop_back();
    } else {
      auto made = std::make_unique<Chunk>();
      made->size = len > kChunkBytes ? len : kChunkBytes;
      // Not value-initialised: every byte is written before it is read.
      made->bytes.reset(new uint8_t[made->size]);
      c = made.get();
      all_.push_back(std::move(made));
    }
    c->used = 0;
    c->refs = 1;
    return c;
  }

  static void retain(void*, void* owner) { retain_chunk(static_cast<Chunk*>(owner)); }
  static void release(void* ctx, void* owner) {
    static_cast<CaptureArena*>(ctx)->release_chunk(static_cast<Chunk*>(owner));
  }

  std::vector<std::unique_ptr<Chunk>> all_;
  std::vector<Chunk*> free_;  // only chunks of kChunkBytes (larger ones stay out of reuse)
  Chunk* copying_ = nullptr;  // the chunk copy() fills, with copy()'s own reference
};

inline uint8_t* CaptureArena::bytes(Chunk* c) { return c->bytes.get(); }
inline void CaptureArena::retain_chunk(Chunk* c) { ++c->refs; }
inline void CaptureArena::release_chunk(Chunk* c) {
  if (--c->refs == 0 && c->size == kChunkBytes) {
    free_.push_back(c);
  }
}

}  // namespace smtpgw::analyze
