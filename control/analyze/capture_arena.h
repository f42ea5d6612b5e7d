// Capture buffers for `smtpgw analyze`, for frames read with libpcap (mapped captures need none:
// see mapped_pcap.h): libpcap reuses its buffer for the next packet, so each TCP payload is copied
// once into a large reference-counted chunk, and the reassembler holds references to the chunk
// (tcp::OwnerOps) instead of copying again. A chunk is recycled when the last segment in it is
// released. Single-threaded.
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

  CaptureArena() = default;
  CaptureArena(const CaptureArena&) = delete;
  CaptureArena& operator=(const CaptureArena&) = delete;

  // Copies `len` bytes; *out points to the copy. Returns the owner handle, holding one reference.
  void* copy(const uint8_t* data, uint32_t len, const uint8_t** out) {
    if (current_ == nullptr || current_->used + len > current_->size) {
      start_chunk(len);
    }
    uint8_t* dst = current_->bytes.get() + current_->used;
    std::memcpy(dst, data, len);
    current_->used += len;
    ++current_->refs;
    *out = dst;
    return current_;
  }

  static tcp::OwnerOps owner_ops(CaptureArena& arena) {
    return tcp::OwnerOps{&CaptureArena::retain, &CaptureArena::release, &arena};
  }

  size_t chunks_allocated() const { return all_.size(); }
  size_t chunks_in_use() const { return all_.size() - free_.size(); }

 private:
  struct Chunk {
    std::unique_ptr<uint8_t[]> bytes;
    uint32_t size = 0;
    uint32_t used = 0;
    uint32_t refs = 0;
  };

  void start_chunk(uint32_t len) {
    Chunk* old = current_;
    current_ = nullptr;
    if (old != nullptr && old->refs == 0) {
      recycle(old);
    }
    if (len <= kChunkBytes && !free_.empty()) {
      current_ = free_.back();
      free_.pop_back();
    } else {
      auto c = std::make_unique<Chunk>();
      c->size = len > kChunkBytes ? len : kChunkBytes;
      c->bytes = std::make_unique<uint8_t[]>(c->size);
      current_ = c.get();
      all_.push_back(std::move(c));
    }
    current_->used = 0;
  }

  void recycle(Chunk* c) {
    c->used = 0;
    if (c->size == kChunkBytes) {
      free_.push_back(c);
    }
  }

  static void retain(void*, void* owner) { ++static_cast<Chunk*>(owner)->refs; }
  static void release(void* ctx, void* owner) {
    auto* self = static_cast<CaptureArena*>(ctx);
    auto* c = static_cast<Chunk*>(owner);
    if (--c->refs == 0 && c != self->current_) {
      self->recycle(c);
    }
  }

  std::vector<std::unique_ptr<Chunk>> all_;
  std::vector<Chunk*> free_;
  Chunk* current_ = nullptr;
};

}  // namespace smtpgw::analyze
