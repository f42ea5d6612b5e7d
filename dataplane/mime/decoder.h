// Streaming MIME decoder: turns a message's content (headers and body as transmitted, after
// dot-unstuffing) into the scan fields of contract/fields.h, with bounded memory whatever the
// input. See docs/mime.md for what it decodes, its limits and their outcomes.
//
// Data flow:  content(chunk) ─► header section ─► kHeader fields + Summary
//                             └► body: multipart boundaries ─► base64 / QP ─► text/plain,
//                                text/html (rendered) ─► kBodyText, kUri; attachments ─► Summary
//             every byte ─► kFull chunks; every byte after the top-level header ─► kRawBody
//
// Output contract (tests hold the decoder to it):
// - Fields come in stream order, and the sequence of fields (kinds, names, values and chunk
//   boundaries) depends only on the bytes of the message, never on how they were split into
//   content() calls: feeding one byte at a time gives exactly the fields of one single call.
// - kFull, kRawBody and kBodyText chunks are at most Limits::chunk_bytes long. A kFull chunk is
//   emitted when its buffer is full; the kRawBody chunk just before it is the same buffer's
//   body bytes (one copy serves both); kBodyText when its own buffer is full and at the end of
//   each text part; all at end_content. kHeader and kUri fields are complete values.
// - kHeader fields are emitted for the top-level header section only; part headers are read
//   (Content-Type, Content-Transfer-Encoding, Content-Disposition) but not emitted.
// - The decoder never calls FieldSink::begin_message/end_message/abort_message: the SMTP
//   session owns the message and brackets the content calls with them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "contract/fields.h"
#include "dataplane/mime/summary.h"

namespace smtpgw::mime {

// Bounds of one message. Values below a floor are raised to it (floors in parentheses) so a
// Decoder is always usable; buffers are allocated once, at construction.
struct Limits {
  uint32_t max_depth = 16;                      // nesting of multipart/message parts (1)
  uint32_t max_parts = 1000;                    // entities per message, the message included (1)
  uint32_t max_header_section_bytes = 256 * 1024;  // one header section, blank line included
  uint32_t max_header_bytes = 16 * 1024;        // one unfolded header, name and value (64)
  uint32_t max_line_bytes = 998;                // body line length counted as kLongLine (RFC 5322)
  uint32_t chunk_bytes = 4 * 1024;              // kFull/kRawBody/kBodyText chunk buffers (64)
  uint32_t max_uri_bytes = 2048;                // one URI (16)
  uint32_t max_uris = 1000;                     // kUri fields per message
};

struct Stats {
  uint64_t messages = 0;   // begin_content calls
  uint64_t ended = 0;      // end_content calls that closed a message
  uint64_t aborted = 0;    // abort_content calls that closed a message
  uint64_t bytes = 0;      // content bytes
  std::array<uint64_t, kNoteCount> notes{};  // summed over messages
};

class DecoderImpl;

// The buffers a decoder uses only while it completes one header (its RFC 2047 decoding and
// parameter values, 6 × max_header_bytes): decoders used on one thread may share one, since a
// thread completes one header at a time and the decoded text lives only for the field() call
// that carries it. A worker's decoders share one; a Decoder made without one owns its own.
class HeaderScratch {
 public:
  explicit HeaderScratch(const Limits& limits = Limits{});
  ~HeaderScratch();
  HeaderScratch(const HeaderScratch&) = delete;
  HeaderScratch& operator=(const HeaderScratch&) = delete;
  // Bytes allocated for `limits`. Cost: O(1).
  static size_t memory_bytes(const Limits& limits);

 private:
  friend class DecoderImpl;
  size_t cap_;                         // 3 * max_header_bytes each: UTF-8 output can grow
  std::unique_ptr<char[]> decoded_;    // RFC 2047 output
  std::unique_ptr<char[]> parameter_;  // a parameter value, unquoted, before its decoding
};

// One Decoder decodes one message at a time and is reused for the next (begin_content resets
// it). Not thread-safe: one Decoder per worker thread (or per flow, if the caller keeps message
// state per flow). Never throws; never allocates after construction.
class Decoder final : public ContentSink {
 public:
  // Allocates the buffers for `limits` (memory_bytes(limits) in total, plus
  // HeaderScratch::memory_bytes(limits) when `shared` is null). `sink` must outlive the Decoder
  // or be replaced with set_sink(); `shared`, made with the same limits, must outlive it and be
  // used only on the thread that uses this Decoder. Thread: any (not on the hot path).
  explicit Decoder(FieldSink& sink, const Limits& limits = Limits{},
                   HeaderScratch* shared = nullptr);
  ~Decoder() override;
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Starts a new message: resets all per-message state and the summary. Cost: O(1).
  void begin_content() override;
  // Decodes the next bytes of the message; emits the fields they complete. Any split is allowed.
  // Cost: O(chunk size), no allocation. Without begin_content: ignored, kOutOfOrderCall counted.
  void content(std::string_view chunk) override;
  // Ends the message: completes pending headers, parts, URIs and chunks and emits them; notes
  // unterminated structures. The summary stays readable until the next begin_content.
  void end_content() override;
  // Drops the message: nothing more is emitted; summary().aborted is set.
  void abort_content() override;

  // The summary of the current (or last) message. Valid until the next begin_content.
  const Summary& summary() const;
  // Totals since construction. Read on the decoder's own thread.
  const Stats& stats() const;
  const Limits& limits() const;
  // Redirects fields to another sink; only between messages.
  void set_sink(FieldSink& sink);

  // Bytes allocated by a Decoder built with `limits` and a shared HeaderScratch (its own
  // buffers and state). Cost: O(1).
  static size_t memory_bytes(const Limits& limits);
  // Writes every buffer once, so that its pages are mapped now rather than at first use (a
  // worker's pools are made at start: a first message on the packet path would otherwise take
  // a page fault per 4 KB it decodes into). Cost: memory_bytes() of writes. Thread: the owner's,
  // between messages.
  void prefault();

 private:
  std::unique_ptr<DecoderImpl> impl_;
};

}  // namespace smtpgw::mime
