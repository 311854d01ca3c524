#include "persistence/record_spool.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/message.hpp>

#include "persistence/record_codec.hpp"

namespace callgrid::persistence {

namespace fs = std::filesystem;

namespace {

// Entry header: 4-byte little-endian payload length, 4-byte little-endian CRC-32C of the payload.
constexpr std::size_t header_bytes = 8;
// Ack file: 8-byte little-endian sequence number, 4-byte little-endian CRC-32C of those 8 bytes.
constexpr std::size_t ack_bytes = 12;
constexpr const char* ack_name = "ack";
constexpr const char* ack_temp_name = "ack.tmp";
constexpr const char* lock_name = "lock";
constexpr std::string_view segment_prefix = "spool-";
constexpr std::string_view segment_suffix = ".seg";
constexpr std::size_t sequence_digits = 20;

caf::error io_error(std::string_view operation, const fs::path& path, int err) {
  std::string text{operation};
  text += ' ';
  text += path.string();
  text += ": ";
  text += std::strerror(err);
  // A full disk must be told apart from other failures: the daemon reports it loudly.
  auto code = (err == ENOSPC || err == EDQUOT) ? errc::spool_full : errc::spool_io_error;
  return caf::make_error(code, std::move(text));
}

void put_le32(std::byte* out, uint32_t value) noexcept {
  for (int i = 0; i < 4; ++i)
    out[i] = static_cast<std::byte>((value >> (8 * i)) & 0xFFU);
}

uint32_t get_le32(const std::byte* in) noexcept {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i)
    value |= static_cast<uint32_t>(in[i]) << (8 * i);
  return value;
}

uint64_t get_le64(const std::byte* in) noexcept {
  return static_cast<uint64_t>(get_le32(in)) | static_cast<uint64_t>(get_le32(in + 4)) << 32;
}

std::string segment_name(uint64_t first_sequence) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "spool-%020" PRIu64 ".seg", first_sequence);
  return buf;
}

std::optional<uint64_t> parse_segment_name(const std::string& name) {
  if (name.size() != segment_prefix.size() + sequence_digits + segment_suffix.size()
      || !name.starts_with(segment_prefix) || !name.ends_with(segment_suffix))
    return std::nullopt;
  uint64_t value = 0;
  for (std::size_t i = 0; i < sequence_digits; ++i) {
    char c = name[segment_prefix.size() + i];
    if (c < '0' || c > '9')
      return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

/// Closes a file descriptor when it goes out of scope.
class fd_guard {
public:
  explicit fd_guard(int fd) noexcept : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }

private:
  int fd_;
};

// Call records name callers and callees: not world-readable.
int open_file(const fs::path& path, int flags, mode_t mode = 0640) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

caf::expected<std::vector<std::byte>> read_range(const fs::path& path, int fd, uint64_t offset,
                                                 uint64_t size) {
  std::vector<std::byte> bytes(size);
  uint64_t done = 0;
  while (done < size) {
    auto got = ::pread(fd, bytes.data() + done, size - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR)
        continue;
      return io_error("read", path, errno);
    }
    if (got == 0) {
      bytes.resize(done);
      break;
    }
    done += static_cast<uint64_t>(got);
  }
  return bytes;
}

caf::expected<std::vector<std::byte>> read_whole_file(const fs::path& path) {
  fd_guard fd{open_file(path, O_RDONLY)};
  if (fd.get() < 0)
    return io_error("open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return io_error("stat", path, errno);
  return read_range(path, fd.get(), 0, static_cast<uint64_t>(st.st_size));
}

caf::error sync_directory(int dir_fd, const fs::path& dir) {
  if (::fsync(dir_fd) != 0)
    return io_error("fsync directory", dir, errno);
  return {};
}

/// Writes `bytes` to a new file at `path` through `writer` and makes it durable.
caf::error write_new_file(file_writer& writer, const fs::path& path,
                          std::span<const std::byte> bytes) {
  fd_guard fd{open_file(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND)};
  if (fd.get() < 0)
    return io_error("create", path, errno);
  if (int rc = writer.write_all(fd.get(), bytes); rc != 0)
    return io_error("write", path, rc);
  if (int rc = writer.sync_data(fd.get()); rc != 0)
    return io_error("fdatasync", path, rc);
  if (::close(fd.release()) != 0)
    return io_error("close", path, errno);
  return {};
}

caf::error rename_file(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return io_error("rename to " + to.string(), from, errno);
  return {};
}

class posix_writer final : public file_writer {
public:
  int write_all(int fd, std::span<const std::byte> bytes) override {
    while (!bytes.empty()) {
      auto put = ::write(fd, bytes.data(), bytes.size());
      if (put < 0) {
        if (errno == EINTR)
          continue;
        return errno;
      }
      bytes = bytes.subspan(static_cast<std::size_t>(put));
    }
    return 0;
  }

  int sync_data(int fd) override {
    while (::fdatasync(fd) != 0) {
      if (errno != EINTR)
        return errno;
    }
    return 0;
  }
};

/// The context text of an error built by this component (empty if it has none).
std::string context_of(const caf::error& err) {
  const auto& context = err.context();
  if (context.size() == 1 && context.match_element<std::string>(0))
    return context.get_as<std::string>(0);
  return caf::to_string(err);
}

bool all_zero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

} // namespace

file_writer::~file_writer() = default;

std::shared_ptr<file_writer> posix_file_writer() {
  static auto instance = std::make_shared<posix_writer>();
  return instance;
}

std::string to_string(const spool_damage& damage) {
  std::string out;
  switch (damage.what) {
    case spool_damage::kind::torn_tail:
      out = "torn tail cut: ";
      break;
    case spool_damage::kind::corrupt_entry:
      out = "corrupt entry quarantined: ";
      break;
    case spool_damage::kind::bad_ack_file:
      out = "bad acknowledgement file ignored: ";
      break;
  }
  out += damage.file.string();
  if (damage.what != spool_damage::kind::bad_ack_file) {
    out += " at offset " + std::to_string(damage.offset) + " (sequence "
           + std::to_string(damage.first_bad_sequence) + "), "
           + std::to_string(damage.bytes_removed) + " bytes removed";
  }
  out += ": " + damage.reason;
  if (!damage.quarantined_as.empty())
    out += "; original kept as " + damage.quarantined_as.string();
  return out;
}

// -- lifetime -----------------------------------------------------------------------------------

record_spool::record_spool(record_spool&& other) noexcept
  : dir_(std::move(other.dir_)),
    options_(std::move(other.options_)),
    writer_(std::move(other.writer_)),
    lock_fd_(std::exchange(other.lock_fd_, -1)),
    dir_fd_(std::exchange(other.dir_fd_, -1)),
    active_fd_(std::exchange(other.active_fd_, -1)),
    broken_(other.broken_),
    segments_(std::move(other.segments_)),
    acked_(other.acked_),
    acked_on_disk_(other.acked_on_disk_),
    ack_written_at_(other.ack_written_at_),
    next_sequence_(other.next_sequence_),
    report_(std::move(other.report_)),
    buffer_(std::move(other.buffer_)) {}

record_spool& record_spool::operator=(record_spool&& other) noexcept {
  if (this != &other) {
    this->~record_spool();
    new (this) record_spool(std::move(other));
  }
  return *this;
}

record_spool::~record_spool() {
  // Best effort: a failure here only means those records are sent again after a restart.
  if (dir_fd_ >= 0)
    static_cast<void>(sync_acknowledgement());
  close_active();
  if (dir_fd_ >= 0)
    ::close(std::exchange(dir_fd_, -1));
  // Closing the lock file's descriptor releases the flock.
  if (lock_fd_ >= 0)
    ::close(std::exchange(lock_fd_, -1));
}

void record_spool::close_active() noexcept {
  if (active_fd_ >= 0)
    ::close(std::exchange(active_fd_, -1));
}

// -- open ---------------------------------------------------------------------------------------

caf::expected<record_spool> record_spool::open(const fs::path& dir, spool_options options) {
  record_spool spool;
  spool.dir_ = dir;
  spool.writer_ = options.writer ? options.writer : posix_file_writer();
  spool.options_ = std::move(options);
  // The length field has 32 bits.
  spool.options_.max_record_bytes
    = std::min<std::size_t>(spool.options_.max_record_bytes, UINT32_MAX);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return io_error("create directory", dir, ec.value());
  spool.dir_fd_ = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (spool.dir_fd_ < 0)
    return io_error("open directory", dir, errno);
  auto lock_path = dir / lock_name;
  spool.lock_fd_ = open_file(lock_path, O_RDWR | O_CREAT);
  if (spool.lock_fd_ < 0)
    return io_error("open", lock_path, errno);
  if (::flock(spool.lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return caf::make_error(errc::spool_locked,
                             "another process (or spool object) has " + dir.string() + " open");
    return io_error("lock", lock_path, errno);
  }
  open_report report;
  if (auto err = spool.load(report))
    return err;
  spool.report_ = std::move(report);
  return spool;
}

caf::error record_spool::load(open_report& report) {
  // Leftovers of an interrupted atomic write: the real file is intact, the temp is garbage.
  std::vector<std::pair<uint64_t, fs::path>> found;
  std::error_code ec;
  for (fs::directory_iterator it{dir_, ec}, end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name == ack_temp_name || (name.starts_with(segment_prefix) && name.ends_with(".seg.tmp"))) {
      if (::unlink(it->path().c_str()) != 0)
        return io_error("remove", it->path(), errno);
    } else if (auto first = parse_segment_name(name)) {
      found.emplace_back(*first, it->path());
    }
  }
  if (ec)
    return io_error("list", dir_, ec.value());
  std::sort(found.begin(), found.end());

  // The acknowledgement.
  auto ack_path = dir_ / ack_name;
  bool ack_ok = true;
  std::string ack_problem;
  if (::access(ack_path.c_str(), F_OK) == 0) {
    auto bytes = read_whole_file(ack_path);
    if (!bytes)
      return std::move(bytes.error());
    if (bytes->size() != ack_bytes) {
      ack_ok = false;
      ack_problem = "size " + std::to_string(bytes->size()) + ", expected "
                    + std::to_string(ack_bytes);
    } else if (crc32c(std::span{*bytes}.first(8)) != get_le32(bytes->data() + 8)) {
      ack_ok = false;
      ack_problem = "checksum mismatch";
    } else {
      acked_ = get_le64(bytes->data());
      acked_on_disk_ = acked_;
    }
  }
  if (!ack_ok) {
    // Everything before the first segment was acknowledged, or its segment would still exist.
    acked_ = found.empty() ? 0 : std::max<uint64_t>(found.front().first, 1) - 1;
    spool_damage damage;
    damage.what = spool_damage::kind::bad_ack_file;
    damage.file = ack_path;
    damage.reason = ack_problem + "; acknowledgement reset to " + std::to_string(acked_);
    report.damage.push_back(std::move(damage));
  }

  for (std::size_t i = 0; i < found.size(); ++i) {
    segment seg;
    seg.first_sequence = found[i].first;
    seg.path = found[i].second;
    if (auto err = load_segment(seg, i + 1 == found.size(), report))
      return err;
    if (!segments_.empty() && seg.first_sequence < segments_.back().end_sequence())
      return caf::make_error(errc::spool_corrupt,
                             seg.path.string() + " starts at sequence "
                               + std::to_string(seg.first_sequence) + " inside "
                               + segments_.back().path.string());
    next_sequence_ = std::max(next_sequence_, seg.end_sequence());
    segments_.push_back(std::move(seg));
  }
  next_sequence_ = std::max(next_sequence_, acked_ + 1);
  report.segments = segments_.size();
  for (const auto& seg : segments_)
    report.entries += seg.offsets.size();

  // Segments acknowledged before a crash (ack written, segment not yet deleted), and empty
  // ones left by repairs, go now; the last remaining segment becomes the active one.
  bool removed = false;
  for (auto it = segments_.begin(); it != segments_.end();) {
    bool last = std::next(it) == segments_.end();
    bool acknowledged = it->end_sequence() <= acked_ + 1;
    if (acknowledged || (it->offsets.empty() && !last)) {
      if (::unlink(it->path.c_str()) != 0)
        return io_error("remove", it->path, errno);
      removed = true;
      it = segments_.erase(it);
    } else {
      ++it;
    }
  }
  if (removed)
    if (auto err = sync_directory(dir_fd_, dir_))
      return err;
  if (!segments_.empty()) {
    const auto& last = segments_.back();
    active_fd_ = open_file(last.path, O_WRONLY | O_APPEND);
    if (active_fd_ < 0)
      return io_error("open", last.path, errno);
  }
  report.pending = depth();
  report.acknowledged_up_to = acked_;
  return {};
}

caf::error record_spool::load_segment(segment& seg, bool is_last, open_report& report) {
  auto file = read_whole_file(seg.path);
  if (!file)
    return std::move(file.error());
  const auto& bytes = *file;
  const uint64_t size = bytes.size();
  uint64_t pos = 0;
  std::string problem;
  bool reaches_end = false;
  while (pos < size) {
    if (size - pos < header_bytes) {
      problem = "partial entry header (" + std::to_string(size - pos) + " bytes)";
      reaches_end = true;
      break;
    }
    const uint64_t length = get_le32(bytes.data() + pos);
    const uint32_t checksum = get_le32(bytes.data() + pos + 4);
    if (length == 0 || length > options_.max_record_bytes) {
      problem = "implausible entry length " + std::to_string(length);
      // A crash can leave a zero-filled tail (the size reached the disk, the data did not).
      reaches_end = all_zero(std::span{bytes}.subspan(pos))
                    || pos + header_bytes + length >= size;
      break;
    }
    if (pos + header_bytes + length > size) {
      problem = "entry of " + std::to_string(length) + " bytes runs past the end of the file";
      reaches_end = true;
      break;
    }
    auto payload = std::span{bytes}.subspan(pos + header_bytes, length);
    if (crc32c(payload) != checksum) {
      problem = "checksum mismatch";
      reaches_end = pos + header_bytes + length == size;
      break;
    }
    auto rec = record_codec::decode(payload);
    if (!rec) {
      // The checksum says these are the bytes we wrote: a record this build cannot read (e.g.
      // a newer format after a downgrade). Refuse to open rather than drop it.
      auto sequence = seg.first_sequence + seg.offsets.size();
      return caf::make_error(static_cast<errc>(rec.error().code()),
                             "sequence " + std::to_string(sequence) + " in "
                               + seg.path.string() + ": " + context_of(rec.error()));
    }
    seg.offsets.push_back(pos);
    seg.ended_us.push_back(rec->ended_us);
    pos += header_bytes + length;
  }
  seg.size = pos;
  if (problem.empty())
    return {};

  spool_damage damage;
  damage.file = seg.path;
  damage.offset = pos;
  damage.bytes_removed = size - pos;
  damage.first_bad_sequence = seg.end_sequence();
  damage.reason = std::move(problem);
  if (is_last && reaches_end) {
    // A torn tail: the batch being written when the process or machine died. That batch was
    // never acknowledged to the caller, so cutting it loses nothing that was promised.
    damage.what = spool_damage::kind::torn_tail;
    fd_guard fd{open_file(seg.path, O_WRONLY)};
    if (fd.get() < 0)
      return io_error("open", seg.path, errno);
    if (::ftruncate(fd.get(), static_cast<off_t>(pos)) != 0)
      return io_error("truncate", seg.path, errno);
    if (int rc = writer_->sync_data(fd.get()); rc != 0)
      return io_error("fdatasync", seg.path, rc);
  } else {
    // Damage that a crash does not explain: keep the good prefix in a rewritten segment and the
    // whole original next to it for an operator.
    damage.what = spool_damage::kind::corrupt_entry;
    auto quarantine = seg.path;
    quarantine += ".corrupt";
    for (int n = 1; ::access(quarantine.c_str(), F_OK) == 0; ++n) {
      quarantine = seg.path;
      quarantine += "." + std::to_string(n) + ".corrupt";
    }
    auto temp = seg.path;
    temp += ".tmp";
    if (auto err = write_new_file(*writer_, temp, std::span{bytes}.first(pos)))
      return err;
    // A second name for the original first, then the atomic replace: a crash at any point
    // leaves either the original or the repaired segment under the segment's name.
    if (::link(seg.path.c_str(), quarantine.c_str()) != 0)
      return io_error("link to " + quarantine.string(), seg.path, errno);
    if (auto err = rename_file(temp, seg.path))
      return err;
    if (auto err = sync_directory(dir_fd_, dir_))
      return err;
    damage.quarantined_as = quarantine;
  }
  report.damage.push_back(std::move(damage));
  return {};
}

// -- append -------------------------------------------------------------------------------------

caf::error record_spool::roll() {
  close_active();
  segment seg;
  seg.first_sequence = next_sequence_;
  seg.path = dir_ / segment_name(next_sequence_);
  int fd = open_file(seg.path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND);
  if (fd < 0)
    return io_error("create", seg.path, errno);
  // The new name must be durable before its data is acknowledged.
  if (auto err = sync_directory(dir_fd_, dir_)) {
    ::close(fd);
    ::unlink(seg.path.c_str());
    return err;
  }
  active_fd_ = fd;
  segments_.push_back(std::move(seg));
  return {};
}

caf::expected<sequence_range> record_spool::append(std::span<const call_record> records) {
  if (broken_)
    return caf::make_error(errc::spool_broken,
                           "an earlier failed write in " + dir_.string()
                             + " could not be rolled back; reopen the spool");
  if (records.empty())
    return sequence_range{next_sequence_, 0};

  buffer_.clear();
  std::vector<uint64_t> offsets;
  offsets.reserve(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto start = buffer_.size();
    offsets.push_back(start);
    buffer_.resize(start + header_bytes);
    record_codec::encode(records[i], buffer_);
    const auto length = buffer_.size() - start - header_bytes;
    if (length > options_.max_record_bytes)
      return caf::make_error(errc::record_too_large,
                             "record " + std::to_string(i) + " of the batch (call "
                               + records[i].call_uuid + ") encodes to " + std::to_string(length)
                               + " bytes, the limit is "
                               + std::to_string(options_.max_record_bytes));
    put_le32(buffer_.data() + start, static_cast<uint32_t>(length));
    put_le32(buffer_.data() + start + 4,
             crc32c(std::span{buffer_}.subspan(start + header_bytes, length)));
  }

  if (active_fd_ < 0 || segments_.back().size >= options_.segment_bytes)
    if (auto err = roll())
      return err;
  auto& seg = segments_.back();
  const auto old_size = seg.size;
  auto fail = [&](std::string_view operation, int err) -> caf::error {
    // Cut the segment back so the next batch does not follow half a batch.
    if (::ftruncate(active_fd_, static_cast<off_t>(old_size)) != 0)
      broken_ = true;
    return io_error(operation, seg.path, err);
  };
  if (int rc = writer_->write_all(active_fd_, buffer_); rc != 0)
    return fail("write", rc);
  if (int rc = writer_->sync_data(active_fd_); rc != 0)
    return fail("fdatasync", rc);

  for (std::size_t i = 0; i < records.size(); ++i) {
    seg.offsets.push_back(old_size + offsets[i]);
    seg.ended_us.push_back(records[i].ended_us);
  }
  seg.size = old_size + buffer_.size();
  sequence_range range{next_sequence_, records.size()};
  next_sequence_ += records.size();
  return range;
}

// -- read ---------------------------------------------------------------------------------------

caf::expected<std::vector<spool_entry>> record_spool::pending(std::size_t max_entries) const {
  return read(acked_ + 1, max_entries);
}

caf::expected<std::vector<spool_entry>> record_spool::read(uint64_t from_sequence,
                                                           std::size_t max_entries) const {
  std::vector<spool_entry> out;
  const uint64_t start = std::max(from_sequence, acked_ + 1);
  out.reserve(static_cast<std::size_t>(std::min<uint64_t>(max_entries, depth())));
  for (const auto& seg : segments_) {
    if (out.size() >= max_entries)
      break;
    if (seg.end_sequence() <= start)
      continue;
    const std::size_t first = start > seg.first_sequence ? start - seg.first_sequence : 0;
    const std::size_t count = std::min<std::size_t>(max_entries - out.size(),
                                                    seg.offsets.size() - first);
    const uint64_t begin = seg.offsets[first];
    const uint64_t end = first + count < seg.offsets.size() ? seg.offsets[first + count]
                                                            : seg.size;
    fd_guard fd{open_file(seg.path, O_RDONLY)};
    if (fd.get() < 0)
      return io_error("open", seg.path, errno);
    auto bytes = read_range(seg.path, fd.get(), begin, end - begin);
    if (!bytes)
      return std::move(bytes.error());
    if (bytes->size() != end - begin)
      return caf::make_error(errc::spool_corrupt, seg.path.string() + " shrank after it was verified");
    for (std::size_t i = 0; i < count; ++i) {
      const auto sequence = seg.first_sequence + first + i;
      const auto at = seg.offsets[first + i] - begin;
      const auto length = get_le32(bytes->data() + at);
      auto payload = std::span{*bytes}.subspan(at + header_bytes, length);
      if (at + header_bytes + length > bytes->size()
          || crc32c(payload) != get_le32(bytes->data() + at + 4))
        return caf::make_error(errc::spool_corrupt,
                               "sequence " + std::to_string(sequence) + " in "
                                 + seg.path.string() + " changed after it was verified");
      auto rec = record_codec::decode(payload);
      if (!rec)
        return caf::make_error(static_cast<errc>(rec.error().code()),
                               "sequence " + std::to_string(sequence) + " in "
                                 + seg.path.string() + ": " + context_of(rec.error()));
      out.push_back(spool_entry{sequence, std::move(*rec)});
    }
  }
  return out;
}

// -- acknowledge --------------------------------------------------------------------------------

caf::error record_spool::write_ack(uint64_t up_to) {
  std::byte bytes[ack_bytes];
  put_le32(bytes, static_cast<uint32_t>(up_to & 0xFFFFFFFFU));
  put_le32(bytes + 4, static_cast<uint32_t>(up_to >> 32));
  put_le32(bytes + 8, crc32c(std::span{bytes}.first(8)));
  auto temp = dir_ / ack_temp_name;
  if (auto err = write_new_file(*writer_, temp, bytes)) {
    ::unlink(temp.c_str());
    return err;
  }
  if (auto err = rename_file(temp, dir_ / ack_name))
    return err;
  if (auto err = sync_directory(dir_fd_, dir_))
    return err;
  acked_on_disk_ = up_to;
  ack_written_at_ = std::chrono::steady_clock::now();
  return {};
}

caf::error record_spool::sync_acknowledgement() {
  const bool trimmable = !segments_.empty() && segments_.front().end_sequence() <= acked_ + 1;
  if (acked_on_disk_ >= acked_ && !trimmable)
    return {};
  return persist_and_trim();
}

caf::error record_spool::acknowledge(uint64_t up_to_sequence) {
  if (up_to_sequence <= acked_)
    return {};
  if (up_to_sequence >= next_sequence_)
    return caf::make_error(errc::invalid_acknowledgement,
                           "acknowledged sequence " + std::to_string(up_to_sequence)
                             + " but the last appended is "
                             + std::to_string(next_sequence_ - 1));
  acked_ = up_to_sequence;
  // A closed segment goes at once; the active one (which a shipper that keeps up acknowledges
  // completely after nearly every batch) waits for the interval, else every batch would pay for
  // deleting it and creating the next one.
  const bool closed_segment_done
    = segments_.size() > 1 && segments_.front().end_sequence() <= acked_ + 1;
  const bool interval_over
    = std::chrono::steady_clock::now() - ack_written_at_ >= options_.ack_sync_interval;
  if (!closed_segment_done && !interval_over)
    return {};
  return persist_and_trim();
}

caf::error record_spool::persist_and_trim() {
  // Segments are deleted only behind a durable acknowledgement: after a crash the spool must
  // still prove every sequence number it handed out (`next_sequence`).
  if (auto err = write_ack(acked_))
    return err;
  bool removed = false;
  while (!segments_.empty() && segments_.front().end_sequence() <= acked_ + 1) {
    if (segments_.size() == 1)
      close_active();
    const auto& path = segments_.front().path;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      auto err = io_error("remove", path, errno);
      if (segments_.size() == 1) {
        // Keep writing where we were: reopen the active segment.
        active_fd_ = open_file(path, O_WRONLY | O_APPEND);
      }
      return err;
    }
    removed = true;
    segments_.pop_front();
  }
  if (removed)
    return sync_directory(dir_fd_, dir_);
  return {};
}

// -- gauges -------------------------------------------------------------------------------------

uint64_t record_spool::depth() const noexcept {
  uint64_t total = 0;
  for (const auto& seg : segments_) {
    const auto end = seg.end_sequence();
    const auto first = std::max(seg.first_sequence, acked_ + 1);
    if (end > first)
      total += end - first;
  }
  return total;
}

std::optional<std::chrono::microseconds>
record_spool::oldest_pending_age(caf::timestamp now) const noexcept {
  for (const auto& seg : segments_) {
    const auto first = std::max(seg.first_sequence, acked_ + 1);
    if (seg.end_sequence() <= first)
      continue;
    const int64_t ended = seg.ended_us[first - seg.first_sequence];
    const int64_t now_us
      = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    return std::chrono::microseconds{std::max<int64_t>(0, now_us - ended)};
  }
  return std::nullopt;
}

} // namespace callgrid::persistence
