#pragma once

#include <atomic>
#include <cstdint>

namespace callgrid::esl {

/// Totals of one ESL link, kept across reconnects. Written by the link's I/O thread, read by
/// anyone (metrics) without locks; each counter only grows.
struct connection_counters {
  /// Frames parsed, of any type.
  std::atomic<std::uint64_t> frames_received{0};
  /// Frames that were events (plain, json or xml).
  std::atomic<std::uint64_t> events_received{0};
  /// Plain events dropped unread by the parser (`connection_options::skipped_events`); not in
  /// `frames_received` or `events_received`.
  std::atomic<std::uint64_t> events_skipped{0};
  /// Bytes read from and written to the socket.
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  /// Commands written, and the write calls that carried them (batching makes this smaller).
  std::atomic<std::uint64_t> commands_sent{0};
  std::atomic<std::uint64_t> write_batches{0};
  /// Commands refused because the outgoing queue was full or the link was down.
  std::atomic<std::uint64_t> commands_rejected{0};
  /// Links closed because of a corrupt stream, an unmatched reply or a reply timeout.
  std::atomic<std::uint64_t> protocol_errors{0};
  /// Socket and connect errors.
  std::atomic<std::uint64_t> io_errors{0};
  /// Successful connections after the first one.
  std::atomic<std::uint64_t> reconnects{0};
};

} // namespace callgrid::esl
