#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/timestamp.hpp>

#include "persistence/call_record.hpp"
#include "persistence/errc.hpp"

namespace callgrid::persistence {

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, as in iSCSI and ext4) of `bytes`.
/// The spool's per-entry checksum. Pure; `crc32c("123456789") == 0xE3069283`.
[[nodiscard]] uint32_t crc32c(std::span<const std::byte> bytes) noexcept;

/// The write path of a spool: the seam through which tests make a write fail the way a full
/// disk does. The default (`posix_file_writer()`) calls write(2) and fdatasync(2). Called only
/// from the thread that owns the spool.
class file_writer {
public:
  virtual ~file_writer();
  /// Writes all of `bytes` at the end of the file open as `fd` (opened with O_APPEND).
  /// Returns 0, or the errno value of the failure (some bytes may have been written).
  [[nodiscard]] virtual int write_all(int fd, std::span<const std::byte> bytes) = 0;
  /// Makes the data written to `fd` durable. Returns 0 or an errno value.
  [[nodiscard]] virtual int sync_data(int fd) = 0;
};

/// Returns the process-wide writer that uses write(2) and fdatasync(2).
[[nodiscard]] std::shared_ptr<file_writer> posix_file_writer();

/// How a spool behaves. Read at `open`.
struct spool_options {
  /// A segment is closed and a new one started before a batch once the segment holds at least
  /// this many bytes. A batch never spans segments, so a segment can exceed this by one batch.
  std::size_t segment_bytes = 16 * 1024 * 1024;
  /// The largest encoded record accepted by `append` and believed by `open`: a length field
  /// above it is treated as damage. At most 2^32 - 1 (the length field has 32 bits).
  std::size_t max_record_bytes = 1024 * 1024;
  /// The write path; null means `posix_file_writer()`. Tests pass a failing one.
  std::shared_ptr<file_writer> writer;
  /// How long an acknowledgement may live in memory only. `acknowledge` writes the `ack` file
  /// when it deletes a segment, or when this long has passed since the file was last written;
  /// otherwise only `sync_acknowledgement` (and the destructor) write it. A crash loses at most
  /// this much acknowledgement, which only sends those records again (the database's unique
  /// key drops them); nothing is lost. Zero writes the file on every `acknowledge`.
  std::chrono::milliseconds ack_sync_interval{1000};
};

/// One entry of the spool: its sequence number (from 1, increasing, never reused while the
/// spool exists except after quarantined entries) and the record.
struct spool_entry {
  uint64_t sequence = 0;
  call_record record;

  friend bool operator==(const spool_entry&, const spool_entry&) = default;
};

/// The sequence numbers one `append` assigned: `first` to `first + count - 1`.
struct sequence_range {
  uint64_t first = 0;
  uint64_t count = 0;

  /// The last sequence number of the range (meaningless when `count == 0`).
  [[nodiscard]] uint64_t last() const noexcept { return first + count - 1; }

  friend bool operator==(const sequence_range&, const sequence_range&) = default;
};

/// One piece of damage that `open` found and repaired.
struct spool_damage {
  enum class kind : uint8_t {
    /// A partial entry or a checksum mismatch at the very end of the last segment, as a crash
    /// in the middle of a write leaves. The file was truncated to its last good entry.
    torn_tail,
    /// A bad entry that is not a torn tail (inside a segment, or at the end of an earlier
    /// one). The good entries before it were kept in a rewritten segment; the original file,
    /// including everything from the bad entry on, was renamed to `quarantined_as`.
    corrupt_entry,
    /// The `ack` file was unreadable or failed its checksum. The acknowledgement fell back to
    /// what the segments prove (everything before the first segment), so some records may be
    /// sent again; the database's unique key absorbs the duplicates.
    bad_ack_file,
  };
  kind what = kind::torn_tail;
  /// The damaged file.
  std::filesystem::path file;
  /// Byte offset of the first bad byte in `file`.
  uint64_t offset = 0;
  /// Bytes removed from the live segment (cut or moved to quarantine).
  uint64_t bytes_removed = 0;
  /// Sequence number the first bad entry would have had.
  uint64_t first_bad_sequence = 0;
  /// For `corrupt_entry`: where the original file now is.
  std::filesystem::path quarantined_as;
  /// Why the entry is bad, e.g. "checksum mismatch" or "entry runs past the end of the file".
  std::string reason;
};

/// Returns a one-line description of `damage` for the log.
[[nodiscard]] std::string to_string(const spool_damage& damage);

/// What `open` found: counts, and every repair it made. The daemon logs each damage entry.
struct open_report {
  std::size_t segments = 0;
  /// Good entries in the spool after repairs, acknowledged or not.
  uint64_t entries = 0;
  /// Entries not yet acknowledged.
  uint64_t pending = 0;
  /// The acknowledgement in effect (0: nothing acknowledged yet).
  uint64_t acknowledged_up_to = 0;
  std::vector<spool_damage> damage;

  /// True when nothing had to be repaired.
  [[nodiscard]] bool clean() const noexcept { return damage.empty(); }
};

/// A durable, append-only spool of call records in one directory: the record writer appends
/// each batch, which is on disk (fdatasync) before `append` returns; the batcher reads
/// `pending()` entries (or ships the appended batch from memory), ships them, and
/// `acknowledge`s them, which deletes whole segments and is written to disk lazily
/// (`spool_options::ack_sync_interval`).
///
/// Owned by one actor (the record writer) and used from one thread at a time; not thread-safe.
/// Another process opening the same directory gets `errc::spool_locked`. Failures are values:
/// `errc::spool_full` when the disk is full, `errc::spool_io_error` for other I/O failures
/// (with the operation, the path and the errno text). See persistence/README.md for the
/// on-disk format and the crash and corruption policy.
///
/// ```cpp
/// auto spool = record_spool::open("/var/spool/callgrid/cdr", {});
/// if (!spool) return spool.error();
/// for (const auto& d : spool->report().damage) log(to_string(d));
/// auto range = spool->append(batch);         // durable when it returns
/// auto todo = spool->pending(500);            // oldest first
/// ... COPY them ...
/// spool->acknowledge(todo->back().sequence);  // trims the spool, survives a restart
/// ```
class record_spool {
public:
  record_spool(record_spool&& other) noexcept;
  record_spool& operator=(record_spool&& other) noexcept;
  record_spool(const record_spool&) = delete;
  record_spool& operator=(const record_spool&) = delete;
  ~record_spool();

  /// Opens (creating if needed) the spool in `dir`: takes the lock, reads the acknowledgement,
  /// verifies every entry of every segment (checksum and decoding), repairs damage as the README
  /// describes and reports it in `report()`. Fails with `spool_io_error`, `spool_locked`,
  /// `spool_corrupt` (overlapping segments), or the decode error of an entry whose checksum is
  /// right but whose record cannot be read (e.g. written by a newer build): such a spool is left
  /// untouched for an operator rather than dropped.
  [[nodiscard]] static caf::expected<record_spool> open(const std::filesystem::path& dir,
                                                        spool_options options = {});

  /// What `open` found and repaired.
  [[nodiscard]] const open_report& report() const noexcept { return report_; }

  /// Appends `records` as one batch: writes them all to the active segment, then one
  /// fdatasync (plus a directory fsync when the batch starts a new segment). All or nothing: on
  /// failure the segment is cut back to where it was, no sequence number is used, and the
  /// records before this batch are untouched. Fails with `spool_full` (ENOSPC, EDQUOT),
  /// `spool_io_error`, `record_too_large`, or `spool_broken` after a failure that could not be
  /// rolled back (reopen the spool).
  [[nodiscard]] caf::expected<sequence_range> append(std::span<const call_record> records);

  /// Returns up to `max_entries` unacknowledged entries, oldest first, read back from disk.
  /// Fails with `spool_io_error`, `spool_corrupt` (an entry changed since it was verified) or
  /// a decode error.
  [[nodiscard]] caf::expected<std::vector<spool_entry>>
  pending(std::size_t max_entries = std::numeric_limits<std::size_t>::max()) const;

  /// Like `pending`, but starting at the first unacknowledged entry whose sequence number is
  /// at least `from_sequence`: lets the batcher read past batches it has in flight.
  [[nodiscard]] caf::expected<std::vector<spool_entry>>
  read(uint64_t from_sequence,
       std::size_t max_entries = std::numeric_limits<std::size_t>::max()) const;

  /// Marks every entry up to and including `up_to_sequence` as delivered. When that makes a
  /// closed segment wholly acknowledged, or `ack_sync_interval` has passed since the `ack` file
  /// was last written, the acknowledgement is made durable there (temp file, fdatasync, rename,
  /// directory fsync) and then every wholly acknowledged segment is deleted (the active one only
  /// then). Otherwise it holds in memory only.
  /// Acknowledging less than before does nothing. Fails with `invalid_acknowledgement` for a
  /// sequence never appended, or an I/O error (the acknowledgement then still holds in memory;
  /// when the deletion fails, the file is already durable).
  [[nodiscard]] caf::error acknowledge(uint64_t up_to_sequence);

  /// Writes the acknowledgement in effect to the `ack` file, durably, if the file is behind,
  /// and deletes every wholly acknowledged segment (the active one too). The destructor does
  /// the same (ignoring failures). Fails with an I/O error.
  [[nodiscard]] caf::error sync_acknowledgement();

  /// The acknowledgement the `ack` file holds: what a reopen after a crash would start from.
  [[nodiscard]] uint64_t durable_acknowledgement() const noexcept { return acked_on_disk_; }

  /// Number of entries not yet acknowledged.
  [[nodiscard]] uint64_t depth() const noexcept;

  /// The acknowledgement in effect.
  [[nodiscard]] uint64_t acknowledged_up_to() const noexcept { return acked_; }

  /// The sequence number the next appended record gets.
  [[nodiscard]] uint64_t next_sequence() const noexcept { return next_sequence_; }

  /// `now` minus the end time (`ended_us`) of the oldest unacknowledged record (records are
  /// appended when their leg ends); empty when nothing is pending. Never negative.
  [[nodiscard]] std::optional<std::chrono::microseconds>
  oldest_pending_age(caf::timestamp now) const noexcept;

  /// Number of segment files in use.
  [[nodiscard]] std::size_t segment_count() const noexcept { return segments_.size(); }

  /// The spool directory.
  [[nodiscard]] const std::filesystem::path& directory() const noexcept { return dir_; }

private:
  /// One segment file: where its entries start, and the end time of each record.
  struct segment {
    uint64_t first_sequence = 0;
    std::filesystem::path path;
    std::vector<uint64_t> offsets;
    std::vector<int64_t> ended_us;
    uint64_t size = 0;

    uint64_t end_sequence() const noexcept { return first_sequence + offsets.size(); }
  };

  record_spool() = default;

  caf::error load(open_report& report);
  caf::error load_segment(segment& seg, bool is_last, open_report& report);
  caf::error roll();
  caf::error write_ack(uint64_t up_to);
  caf::error persist_and_trim();
  void close_active() noexcept;

  std::filesystem::path dir_;
  spool_options options_;
  std::shared_ptr<file_writer> writer_;
  int lock_fd_ = -1;
  int dir_fd_ = -1;
  int active_fd_ = -1;
  bool broken_ = false;
  std::deque<segment> segments_;
  uint64_t acked_ = 0;
  uint64_t acked_on_disk_ = 0;
  std::chrono::steady_clock::time_point ack_written_at_{};
  uint64_t next_sequence_ = 1;
  open_report report_;
  std::vector<std::byte> buffer_;
};

} // namespace callgrid::persistence
