#define CAF_SUITE persistence.record_spool

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "persistence/errc.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/record_spool.hpp"
#include "services/service_process.hpp"

using namespace callgrid::persistence;
namespace fs = std::filesystem;

namespace {

/// A fresh directory `$TMPDIR/callgrid-spool-XXXXXX`, removed at the end of the test.
struct spool_dir : callgrid::test_support::temp_dir {
  spool_dir() : temp_dir("spool") {}
};

call_record make_record(uint64_t i) {
  call_record rec;
  rec.call_uuid = "call-" + std::to_string(i);
  rec.leg_uuid = "leg-" + std::to_string(i);
  rec.leg = static_cast<int32_t>(i % 3);
  rec.direction = i % 2 == 0 ? call_direction::inbound : call_direction::outbound;
  rec.caller = "+49301234" + std::to_string(i % 1000);
  rec.callee = "+49409876" + std::to_string(i % 777);
  if (i % 2 == 0)
    rec.route_id = static_cast<int64_t>(i % 50);
  if (i % 5 == 0)
    rec.campaign_id = static_cast<int64_t>(i % 7);
  rec.node = "fs-" + std::to_string(i % 4);
  rec.created_us = 1'795'000'000'000'000 + static_cast<int64_t>(i) * 1000;
  if (i % 3 != 0)
    rec.answered_us = rec.created_us + 2'000'000;
  rec.ended_us = rec.created_us + 30'000'000;
  rec.duration_ms = 30'000;
  rec.billsec_ms = rec.answered_us ? 28'000 : 0;
  rec.hangup_cause = i % 3 != 0 ? "NORMAL_CLEARING" : "NO_ANSWER";
  if (i % 4 == 0)
    rec.sip_code = 486;
  rec.disposition = i % 3 != 0 ? "answered" : "no_answer";
  if (i % 6 == 0)
    rec.ivr_path = {{"main", std::to_string(i % 10)}};
  return rec;
}

std::vector<call_record> make_records(uint64_t first, uint64_t count) {
  std::vector<call_record> out;
  for (uint64_t i = first; i < first + count; ++i)
    out.push_back(make_record(i));
  return out;
}

/// Checks that `entries` hold records `first`.. in order with sequence numbers from `first_seq`.
void check_entries(const std::vector<spool_entry>& entries, uint64_t first_record,
                   uint64_t first_seq, uint64_t count) {
  CAF_REQUIRE_EQUAL(entries.size(), count);
  for (uint64_t i = 0; i < count; ++i) {
    if (entries[i].sequence != first_seq + i || !(entries[i].record == make_record(first_record + i))) {
      CAF_FAIL("entry " << i << " has sequence " << entries[i].sequence << " and call "
                        << entries[i].record.call_uuid);
    }
  }
}

std::vector<fs::path> segment_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& item : fs::directory_iterator{dir}) {
    auto name = item.path().filename().string();
    if (name.starts_with("spool-") && name.ends_with(".seg"))
      out.push_back(item.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Offsets of the entries of a segment file, read from their length fields.
std::vector<uint64_t> entry_offsets(const fs::path& file) {
  std::ifstream in{file, std::ios::binary};
  std::vector<unsigned char> bytes{std::istreambuf_iterator<char>{in}, {}};
  std::vector<uint64_t> out;
  uint64_t pos = 0;
  while (pos + 8 <= bytes.size()) {
    uint32_t length = bytes[pos] | bytes[pos + 1] << 8 | bytes[pos + 2] << 16
                      | static_cast<uint32_t>(bytes[pos + 3]) << 24;
    out.push_back(pos);
    pos += 8 + length;
  }
  return out;
}

void flip_byte(const fs::path& file, uint64_t offset) {
  std::fstream io{file, std::ios::binary | std::ios::in | std::ios::out};
  io.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  io.get(c);
  io.seekp(static_cast<std::streamoff>(offset));
  io.put(static_cast<char>(c ^ 0x5A));
}

void append_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream out{file, std::ios::binary | std::ios::app};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

record_spool open_spool(const fs::path& dir, spool_options options = {}) {
  auto spool = record_spool::open(dir, std::move(options));
  if (!spool)
    CAF_FAIL("open failed: " << render_error(spool.error()));
  return std::move(*spool);
}

/// A write path that fails like a full disk on demand: it writes half of the batch, then
/// reports `error` (the way write(2) ends when the space runs out mid-batch).
class failing_writer : public file_writer {
public:
  int error = 0;
  bool fail_sync = false;

  int write_all(int fd, std::span<const std::byte> bytes) override {
    if (error != 0 && !fail_sync) {
      auto half = bytes.first(bytes.size() / 2);
      [[maybe_unused]] auto ignored = posix_file_writer()->write_all(fd, half);
      return error;
    }
    return posix_file_writer()->write_all(fd, bytes);
  }

  int sync_data(int fd) override {
    if (error != 0 && fail_sync)
      return error;
    return posix_file_writer()->sync_data(fd);
  }
};

} // namespace

// -- append, read back, acknowledge ---------------------------------------------------------------

CAF_TEST(appended records come back in order after a reopen) {
  spool_dir dir;
  {
    auto spool = open_spool(dir.path());
    CAF_CHECK(spool.report().clean());
    auto first = spool.append(make_records(0, 10));
    CAF_REQUIRE(first);
    CAF_CHECK_EQUAL(*first, (sequence_range{1, 10}));
    auto second = spool.append(make_records(10, 5));
    CAF_REQUIRE(second);
    CAF_CHECK_EQUAL(second->first, 11u);
    CAF_CHECK_EQUAL(second->last(), 15u);
    auto now = spool.pending();
    CAF_REQUIRE(now);
    check_entries(*now, 0, 1, 15);
  }
  auto spool = open_spool(dir.path());
  CAF_CHECK(spool.report().clean());
  CAF_CHECK_EQUAL(spool.report().entries, 15u);
  CAF_CHECK_EQUAL(spool.report().pending, 15u);
  CAF_CHECK_EQUAL(spool.depth(), 15u);
  CAF_CHECK_EQUAL(spool.next_sequence(), 16u);
  auto entries = spool.pending();
  CAF_REQUIRE(entries);
  check_entries(*entries, 0, 1, 15);
  auto limited = spool.pending(4);
  CAF_REQUIRE(limited);
  check_entries(*limited, 0, 1, 4);
}

CAF_TEST(open creates the directory and an empty batch writes nothing) {
  spool_dir dir;
  auto path = dir.path() / "var" / "spool";
  auto spool = open_spool(path);
  CAF_CHECK(fs::is_directory(path));
  auto range = spool.append({});
  CAF_REQUIRE(range);
  CAF_CHECK_EQUAL(range->count, 0u);
  CAF_CHECK_EQUAL(spool.depth(), 0u);
  CAF_CHECK(segment_files(path).empty());
}

CAF_TEST(acknowledging trims whole segments and survives a reopen) {
  spool_dir dir;
  spool_options options;
  options.segment_bytes = 1; // every batch starts a new segment
  {
    auto spool = open_spool(dir.path(), options);
    for (uint64_t batch = 0; batch < 4; ++batch)
      CAF_REQUIRE(spool.append(make_records(batch * 10, 10)));
    CAF_CHECK_EQUAL(segment_files(dir.path()).size(), 4u);
    // Half of the second segment: the first segment goes, the second stays.
    CAF_CHECK(!spool.acknowledge(15));
    CAF_CHECK_EQUAL(segment_files(dir.path()).size(), 3u);
    CAF_CHECK_EQUAL(spool.depth(), 25u);
    auto rest = spool.pending();
    CAF_REQUIRE(rest);
    check_entries(*rest, 15, 16, 25);
    // Acknowledging less than before changes nothing.
    CAF_CHECK(!spool.acknowledge(3));
    CAF_CHECK_EQUAL(spool.depth(), 25u);
  }
  {
    auto spool = open_spool(dir.path(), options);
    CAF_CHECK(spool.report().clean());
    CAF_CHECK_EQUAL(spool.report().acknowledged_up_to, 15u);
    CAF_CHECK_EQUAL(spool.depth(), 25u);
    auto rest = spool.pending();
    CAF_REQUIRE(rest);
    check_entries(*rest, 15, 16, 25);
    // Everything: no segment is left, and sequence numbers go on after a reopen.
    CAF_CHECK(!spool.acknowledge(40));
    CAF_CHECK(segment_files(dir.path()).empty());
    CAF_CHECK_EQUAL(spool.depth(), 0u);
  }
  auto spool = open_spool(dir.path(), options);
  CAF_CHECK_EQUAL(spool.depth(), 0u);
  CAF_CHECK_EQUAL(spool.next_sequence(), 41u);
  auto range = spool.append(make_records(40, 2));
  CAF_REQUIRE(range);
  CAF_CHECK_EQUAL(range->first, 41u);
}

CAF_TEST(an acknowledgement reaches the disk lazily and a crash before that only resends) {
  spool_dir dir;
  const auto live = dir.path() / "spool";
  const auto crashed = dir.path() / "as-after-a-crash";
  spool_options options;
  options.ack_sync_interval = std::chrono::hours{1};
  {
    auto spool = open_spool(live, options);
    CAF_REQUIRE(spool.append(make_records(0, 10)));
    CAF_REQUIRE(spool.append(make_records(10, 10)));
    // The first acknowledgement after opening is written at once; the next waits.
    CAF_CHECK(!spool.acknowledge(5));
    CAF_CHECK_EQUAL(spool.durable_acknowledgement(), 5u);
    CAF_CHECK(!spool.acknowledge(15));
    CAF_CHECK_EQUAL(spool.acknowledged_up_to(), 15u);
    CAF_CHECK_EQUAL(spool.durable_acknowledgement(), 5u);
    CAF_CHECK_EQUAL(spool.depth(), 5u);
    // What the disk holds now is what a crash would leave: records 6 to 15 go again (the
    // database drops them), none is lost.
    fs::copy(live, crashed);
    fs::remove(crashed / "lock");
    {
      auto after_crash = open_spool(crashed, options);
      CAF_CHECK(after_crash.report().clean());
      auto pending = after_crash.pending();
      CAF_REQUIRE(pending);
      check_entries(*pending, 5, 6, 15);
    }
    CAF_CHECK(!spool.sync_acknowledgement());
    CAF_CHECK_EQUAL(spool.durable_acknowledgement(), 15u);
    // Everything acknowledged: the active segment stays until the acknowledgement is written.
    CAF_CHECK(!spool.acknowledge(20));
    CAF_CHECK_EQUAL(spool.depth(), 0u);
    CAF_CHECK_EQUAL(segment_files(live).size(), 1u);
  }
  // Closing wrote it and removed the segment; numbering goes on.
  auto spool = open_spool(live, options);
  CAF_CHECK_EQUAL(spool.report().acknowledged_up_to, 20u);
  CAF_CHECK(segment_files(live).empty());
  CAF_CHECK_EQUAL(spool.next_sequence(), 21u);
}

CAF_TEST(a closed segment is deleted behind a durable acknowledgement at once) {
  spool_dir dir;
  spool_options options;
  options.segment_bytes = 1; // every batch starts a new segment
  options.ack_sync_interval = std::chrono::hours{1};
  auto spool = open_spool(dir.path(), options);
  CAF_REQUIRE(spool.append(make_records(0, 10)));
  CAF_CHECK(!spool.acknowledge(3)); // the first one is written at once
  CAF_REQUIRE(spool.append(make_records(10, 10)));
  CAF_REQUIRE(spool.append(make_records(20, 10)));
  CAF_CHECK(!spool.acknowledge(12));
  CAF_CHECK_EQUAL(spool.durable_acknowledgement(), 12u);
  CAF_CHECK_EQUAL(segment_files(dir.path()).size(), 2u);
  CAF_CHECK(!spool.acknowledge(15));
  CAF_CHECK_EQUAL(spool.durable_acknowledgement(), 12u);
  CAF_CHECK_EQUAL(spool.depth(), 15u);
}

CAF_TEST(acknowledging a sequence that was never appended is refused) {
  spool_dir dir;
  auto spool = open_spool(dir.path());
  CAF_REQUIRE(spool.append(make_records(0, 3)));
  auto err = spool.acknowledge(4);
  CAF_CHECK(err == errc::invalid_acknowledgement);
  CAF_CHECK_EQUAL(spool.depth(), 3u);
}

CAF_TEST(segments roll once they reach segment_bytes and a batch never spans two) {
  spool_dir dir;
  spool_options options;
  options.segment_bytes = 4096;
  auto spool = open_spool(dir.path(), options);
  for (uint64_t batch = 0; batch < 20; ++batch)
    CAF_REQUIRE(spool.append(make_records(batch * 7, 7)));
  auto files = segment_files(dir.path());
  CAF_CHECK_GREATER(files.size(), 2u);
  CAF_CHECK_EQUAL(files.size(), spool.segment_count());
  CAF_CHECK_EQUAL(files.front().filename().string(), "spool-00000000000000000001.seg");
  for (const auto& file : files) {
    // Each file starts at a batch boundary: its name is 1 + a multiple of 7.
    auto name = file.filename().string();
    auto first = std::stoull(name.substr(6, 20));
    CAF_CHECK_EQUAL((first - 1) % 7, 0u);
    // At most one batch past the limit.
    CAF_CHECK_LESS(fs::file_size(file), options.segment_bytes + 7 * 200);
  }
  auto all = spool.pending();
  CAF_REQUIRE(all);
  check_entries(*all, 0, 1, 140);
}

CAF_TEST(read starts after the batches in flight) {
  spool_dir dir;
  spool_options options;
  options.segment_bytes = 1024;
  auto spool = open_spool(dir.path(), options);
  CAF_REQUIRE(spool.append(make_records(0, 30)));
  CAF_REQUIRE(spool.append(make_records(30, 30)));
  auto next = spool.read(25, 10);
  CAF_REQUIRE(next);
  check_entries(*next, 24, 25, 10);
  CAF_CHECK(!spool.acknowledge(40));
  auto after = spool.read(5);
  CAF_REQUIRE(after);
  check_entries(*after, 40, 41, 20);
}

CAF_TEST(a second open of the same directory is refused while the first is open) {
  spool_dir dir;
  auto first = open_spool(dir.path());
  auto second = record_spool::open(dir.path());
  CAF_REQUIRE(!second);
  CAF_CHECK(second.error() == errc::spool_locked);
}

CAF_TEST(depth and the age of the oldest record follow appends and acknowledgements) {
  spool_dir dir;
  auto spool = open_spool(dir.path());
  auto now = caf::timestamp{std::chrono::microseconds{make_record(0).ended_us + 5'000'000}};
  CAF_CHECK(!spool.oldest_pending_age(now));
  CAF_REQUIRE(spool.append(make_records(0, 10)));
  CAF_CHECK_EQUAL(spool.depth(), 10u);
  CAF_CHECK_EQUAL(spool.oldest_pending_age(now), std::chrono::microseconds{5'000'000});
  CAF_CHECK(!spool.acknowledge(4));
  CAF_CHECK_EQUAL(spool.depth(), 6u);
  // make_record(4) ended 4 ms after make_record(0).
  CAF_CHECK_EQUAL(spool.oldest_pending_age(now), std::chrono::microseconds{4'996'000});
  // A reopen rebuilds the same view from the files.
  spool = record_spool{std::move(spool)};
  {
    auto moved = std::move(spool);
  }
  auto reopened = open_spool(dir.path());
  CAF_CHECK_EQUAL(reopened.depth(), 6u);
  CAF_CHECK_EQUAL(reopened.oldest_pending_age(now), std::chrono::microseconds{4'996'000});
  CAF_CHECK(!reopened.acknowledge(10));
  CAF_CHECK(!reopened.oldest_pending_age(now));
}

CAF_TEST(one hundred thousand records in batches of 500 are read back in order) {
  spool_dir dir;
  constexpr uint64_t total = 100'000;
  constexpr uint64_t batch = 500;
  std::vector<std::vector<call_record>> batches;
  for (uint64_t first = 0; first < total; first += batch)
    batches.push_back(make_records(first, batch));
  using clock = std::chrono::steady_clock;
  auto ms = [](clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  spool_options options;
  options.segment_bytes = 1024 * 1024;
  auto t0 = clock::now();
  {
    auto spool = open_spool(dir.path(), options);
    for (const auto& records : batches)
      CAF_REQUIRE(spool.append(records));
  }
  auto t1 = clock::now();
  auto spool = open_spool(dir.path(), options);
  auto t2 = clock::now();
  auto all = spool.pending();
  auto t3 = clock::now();
  CAF_REQUIRE(all);
  check_entries(*all, 0, 1, total);
  uintmax_t bytes = 0;
  for (const auto& file : segment_files(dir.path()))
    bytes += fs::file_size(file);
  CAF_CHECK_GREATER(spool.segment_count(), 10u);
  std::printf("persistence.record_spool: 100,000 records (%zu segments, %ju bytes): append in "
              "200 fsynced batches %lld ms, reopen+verify %lld ms, read back %lld ms\n",
              spool.segment_count(), bytes,
              static_cast<long long>(ms(t1 - t0)), static_cast<long long>(ms(t2 - t1)),
              static_cast<long long>(ms(t3 - t2)));
  CAF_CHECK(!spool.acknowledge(total));
  CAF_CHECK_EQUAL(spool.depth(), 0u);
  CAF_CHECK(segment_files(dir.path()).empty());
}

// -- failures while writing ---------------------------------------------------------------------

CAF_TEST(a full disk is reported as spool_full and loses nothing appended before) {
  spool_dir dir;
  auto writer = std::make_shared<failing_writer>();
  spool_options options;
  options.writer = writer;
  {
    auto spool = open_spool(dir.path(), options);
    CAF_REQUIRE(spool.append(make_records(0, 10)));
    writer->error = ENOSPC;
    auto full = spool.append(make_records(100, 10));
    CAF_REQUIRE(!full);
    CAF_CHECK(full.error() == errc::spool_full);
    CAF_MESSAGE(render_error(full.error()));
    CAF_CHECK_NOT_EQUAL(render_error(full.error()).find("No space left on device"),
                        std::string::npos);
    writer->error = EDQUOT;
    auto quota = spool.append(make_records(100, 10));
    CAF_REQUIRE(!quota);
    CAF_CHECK(quota.error() == errc::spool_full);
    CAF_CHECK_EQUAL(spool.depth(), 10u);
    // Space again: the batch goes on right after the first one, no sequence number skipped.
    writer->error = 0;
    auto again = spool.append(make_records(10, 5));
    CAF_REQUIRE(again);
    CAF_CHECK_EQUAL(again->first, 11u);
  }
  auto spool = open_spool(dir.path());
  CAF_CHECK(spool.report().clean());
  auto all = spool.pending();
  CAF_REQUIRE(all);
  check_entries(*all, 0, 1, 15);
}

CAF_TEST(a failed fdatasync is an io error and the batch is rolled back) {
  spool_dir dir;
  auto writer = std::make_shared<failing_writer>();
  spool_options options;
  options.writer = writer;
  {
    auto spool = open_spool(dir.path(), options);
    CAF_REQUIRE(spool.append(make_records(0, 3)));
    writer->error = EIO;
    writer->fail_sync = true;
    auto failed = spool.append(make_records(100, 3));
    CAF_REQUIRE(!failed);
    CAF_CHECK(failed.error() == errc::spool_io_error);
    CAF_CHECK_NOT_EQUAL(render_error(failed.error()).find("fdatasync"), std::string::npos);
    writer->error = 0;
    CAF_REQUIRE(spool.append(make_records(3, 3)));
  }
  auto spool = open_spool(dir.path());
  CAF_CHECK(spool.report().clean());
  auto all = spool.pending();
  CAF_REQUIRE(all);
  check_entries(*all, 0, 1, 6);
}

CAF_TEST(a record larger than max_record_bytes is refused before anything is written) {
  spool_dir dir;
  spool_options options;
  options.max_record_bytes = 256;
  auto spool = open_spool(dir.path(), options);
  auto records = make_records(0, 3);
  records[2].disposition.assign(1000, 'x');
  auto result = spool.append(records);
  CAF_REQUIRE(!result);
  CAF_CHECK(result.error() == errc::record_too_large);
  CAF_CHECK_EQUAL(spool.depth(), 0u);
}

// -- recovery -----------------------------------------------------------------------------------

CAF_TEST(a tail torn in the middle of the last entry is cut and reported) {
  spool_dir dir;
  {
    auto spool = open_spool(dir.path());
    CAF_REQUIRE(spool.append(make_records(0, 10)));
    CAF_REQUIRE(spool.append(make_records(10, 5)));
  }
  auto file = segment_files(dir.path()).at(0);
  auto offsets = entry_offsets(file);
  CAF_REQUIRE_EQUAL(offsets.size(), 15u);
  auto size = fs::file_size(file);
  fs::resize_file(file, size - 7);
  {
    auto spool = open_spool(dir.path());
    const auto& report = spool.report();
    CAF_REQUIRE_EQUAL(report.damage.size(), 1u);
    const auto& damage = report.damage[0];
    CAF_MESSAGE(to_string(damage));
    CAF_CHECK(damage.what == spool_damage::kind::torn_tail);
    CAF_CHECK_EQUAL(damage.file, file);
    CAF_CHECK_EQUAL(damage.offset, offsets.back());
    CAF_CHECK_EQUAL(damage.bytes_removed, size - 7 - offsets.back());
    CAF_CHECK_EQUAL(damage.first_bad_sequence, 15u);
    CAF_CHECK_EQUAL(fs::file_size(file), offsets.back());
    auto all = spool.pending();
    CAF_REQUIRE(all);
    check_entries(*all, 0, 1, 14);
    // Writing goes on where the good entries end.
    auto range = spool.append(make_records(14, 1));
    CAF_REQUIRE(range);
    CAF_CHECK_EQUAL(range->first, 15u);
  }
  auto spool = open_spool(dir.path());
  CAF_CHECK(spool.report().clean());
  auto all = spool.pending();
  CAF_REQUIRE(all);
  check_entries(*all, 0, 1, 15);
}

CAF_TEST(a flipped byte in the last entry is a torn tail) {
  spool_dir dir;
  {
    auto spool = open_spool(dir.path());
    CAF_REQUIRE(spool.append(make_records(0, 8)));
  }
  auto file = segment_files(dir.path()).at(0);
  auto offsets = entry_offsets(file);
  flip_byte(file, offsets.back() + 8 + 5);
  auto spool = open_spool(dir.path());
  CAF_REQUIRE_EQUAL(spool.report().damage.size(), 1u);
  CAF_CHECK(spool.report().damage[0].what == spool_damage::kind::torn_tail);
  CAF_CHECK_EQUAL(spool.report().damage[0].reason, "checksum mismatch");
  CAF_CHECK_EQUAL(fs::file_size(file), offsets.back());
  auto all = spool.pending();
  CAF_REQUIRE(all);
  check_entries(*all, 0, 1, 7);
}

CAF_TEST(a partial header or a zero filled tail is a torn tail) {
  spool_dir dir;
  {
    auto spool = open_spool(dir.path());
    CAF_REQUIRE(spool.append(make_records(0, 4)));
  }
  auto file = segment_files(dir.path()).at(0);
  auto size = fs::file_size(file);
  append_bytes(file, std::string("\x10\x00\x00", 3));
  {
    auto spool = open_spool(dir.path());
    CAF_REQUIRE_EQUAL(spool.report().damage.size(), 1u);
    CAF_CHECK(spool.report().damage[0].what == spool_damage::kind::torn_tail);
    CAF_CHECK_EQUAL(spool.report().damage[0].bytes_removed, 3u);
    CAF_CHECK_EQUAL(spool.depth(), 4u);
  }
  append_bytes(file, std::string(300, '\0'));
  auto spool = open_spool(dir.path());
  CAF_REQUIRE_EQUAL(spool.report().damage.size(), 1u);
  CAF_CHECK(spool.report().damage[0].what == spool_damage::kind::torn_tail);
  CAF_CHECK_EQUAL(fs::file_size(file), size);
  CAF_CHECK_EQUAL(spool.depth(), 4u);
}

CAF_TEST(corruption inside an earlier segment is quarantined and the good entries kept) {
  spool_dir dir;
  spool_options options;
  options.segment_bytes = 1; // one batch per segment
  {
    auto spool = open_spool(dir.path(), options);
    for (uint64_t batch = 0; batch < 3; ++batch)
      CAF_REQUIRE(spool.append(make_records(batch * 10, 10)));
  }
  auto files = segment_files(dir.path());
  CAF_REQUIRE_EQUAL(files.size(), 3u);
  auto offsets = entry_offsets(files[0]);
  CAF_REQUIRE_EQUAL(offsets.size(), 10u);
  flip_byte(files[0], offsets[4] + 8 + 3); // the fifth entry of the first segment
  {
    auto spool = open_spool(dir.path(), options);
    const auto& report = spool.report();
    CAF_REQUIRE_EQUAL(report.damage.size(), 1u);
    const auto& damage = report.damage[0];
    CAF_MESSAGE(to_string(damage));
    CAF_CHECK(damage.what == spool_damage::kind::corrupt_entry);
    CAF_CHECK_EQUAL(damage.first_bad_sequence, 5u);
    CAF_CHECK_EQUAL(damage.offset, offsets[4]);
    CAF_CHECK(fs::exists(damage.quarantined_as));
    CAF_CHECK_EQUAL(damage.quarantined_as.filename().string(),
                    files[0].filename().string() + ".corrupt");
    // Sequences 1-4 from the first segment, 11-30 from the others; 5-10 are in quarantine.
    auto all = spool.pending();
    CAF_REQUIRE(all);
    CAF_REQUIRE_EQUAL(all->size(), 24u);
    std::vector<spool_entry> head(all->begin(), all->begin() + 4);
    std::vector<spool_entry> tail(all->begin() + 4, all->end());
    check_entries(head, 0, 1, 4);
    check_entries(tail, 10, 11, 20);
    CAF_CHECK_EQUAL(spool.depth(), 24u);
  }
  // The repair is durable: the next open is clean and sees the same entries.
  auto spool = open_spool(dir.path(), options);
  CAF_CHECK(spool.report().clean());
  CAF_CHECK_EQUAL(spool.depth(), 24u);
  CAF_CHECK_EQUAL(spool.next_sequence(), 31u);
}

CAF_TEST(corruption followed by more entries in the last segment is not taken for a torn tail) {
  spool_dir dir;
  {
    auto spool = open_spool(dir.path());
    CAF_REQUIRE(spool.append(make_records(0, 6)));
  }
  auto file = segment_files(dir.path()).at(0);
  auto offsets = entry_offsets(file);
  flip_byte(file, offsets[2] + 8 + 1);
  auto spool = open_spool(dir.path());
  CAF_REQUIRE_EQUAL(spool.report().damage.size(), 1u);
  CAF_CHECK(spool.report().damage[0].what == spool_damage::kind::corrupt_entry);
  auto all = spool.pending();
  CAF_REQUIRE(all);
  check_entries(*all, 0, 1, 2);
}

CAF_TEST(a crash between acknowledging and deleting is finished by the next open) {
  spool_dir dir;
  spool_options options;
  options.segment_bytes = 1;
  auto saved = dir.path() / "saved";
  {
    auto spool = open_spool(dir.path(), options);
    CAF_REQUIRE(spool.append(make_records(0, 10)));
    CAF_REQUIRE(spool.append(make_records(10, 10)));
    auto first = segment_files(dir.path()).at(0);
    fs::copy_file(first, saved);
    CAF_CHECK(!spool.acknowledge(10));
    CAF_CHECK(!fs::exists(first));
    // As if the process died after the ack file was renamed but before the unlink.
    fs::rename(saved, first);
    append_bytes(dir.path() / "ack.tmp", "half-written");
    append_bytes(first.string() + ".tmp", "half-written");
  }
  auto spool = open_spool(dir.path(), options);
  CAF_CHECK(spool.report().clean());
  CAF_CHECK_EQUAL(segment_files(dir.path()).size(), 1u);
  CAF_CHECK(!fs::exists(dir.path() / "ack.tmp"));
  auto all = spool.pending();
  CAF_REQUIRE(all);
  check_entries(*all, 10, 11, 10);
}

CAF_TEST(a damaged ack file is reported and everything left is sent again) {
  spool_dir dir;
  {
    auto spool = open_spool(dir.path());
    CAF_REQUIRE(spool.append(make_records(0, 10)));
    CAF_CHECK(!spool.acknowledge(6));
  }
  flip_byte(dir.path() / "ack", 0);
  auto spool = open_spool(dir.path());
  CAF_REQUIRE_EQUAL(spool.report().damage.size(), 1u);
  CAF_CHECK(spool.report().damage[0].what == spool_damage::kind::bad_ack_file);
  CAF_CHECK_EQUAL(spool.depth(), 10u);
}

CAF_TEST(an entry in a format this build cannot read keeps the spool closed) {
  spool_dir dir;
  {
    auto spool = open_spool(dir.path());
    CAF_REQUIRE(spool.append(make_records(0, 2)));
  }
  // A well-formed entry holding [2]: a record from a newer build.
  std::vector<std::byte> payload{std::byte{0x91}, std::byte{0x02}};
  auto crc = crc32c(payload);
  std::string entry{"\x02\x00\x00\x00", 4};
  for (int i = 0; i < 4; ++i)
    entry += static_cast<char>((crc >> (8 * i)) & 0xFF);
  entry += "\x91\x02";
  auto file = segment_files(dir.path()).at(0);
  append_bytes(file, entry);
  auto size = fs::file_size(file);
  auto spool = record_spool::open(dir.path());
  CAF_REQUIRE(!spool);
  CAF_CHECK(spool.error() == errc::unsupported_record_version);
  CAF_MESSAGE(render_error(spool.error()));
  CAF_CHECK_EQUAL(fs::file_size(file), size); // left for an operator, not cut
}
