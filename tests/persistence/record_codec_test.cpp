#define CAF_SUITE persistence.record_codec

#include <caf/test/unit_test.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "persistence/errc.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/record_spool.hpp"

using namespace callgrid::persistence;

namespace {

call_record full_record() {
  call_record rec;
  rec.call_uuid = "6c1f8f0e-2b9e-4a51-9f0c-1d2e3f405162";
  rec.leg_uuid = "a1b2c3d4-0000-4000-8000-000000000001";
  rec.leg = 1;
  rec.direction = call_direction::outbound;
  rec.caller = "+4930123456";
  rec.callee = "+4940987654";
  rec.route_id = 17;
  rec.flow_id = 4;
  rec.campaign_id = 9'000'000'001;
  rec.attempt_id = -3;
  rec.node = "fs-berlin-02";
  rec.mode = esl_mode::outbound;
  rec.created_us = 1'795'000'000'123'456;
  rec.answered_us = 1'795'000'004'000'000;
  rec.ended_us = 1'795'000'064'500'000;
  rec.duration_ms = 64'377;
  rec.billsec_ms = 60'500;
  rec.hangup_cause = "NORMAL_CLEARING";
  rec.sip_code = 200;
  rec.disposition = "answered";
  rec.ivr_path = {{"main", "2"}, {"billing", "1"}, {"survey", ""}};
  rec.reason = end_reason::node_drain;
  return rec;
}

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values)
    out.push_back(static_cast<std::byte>(v));
  return out;
}

} // namespace

CAF_TEST(a record with every field set comes back unchanged) {
  auto rec = full_record();
  auto bytes = record_codec::encode(rec);
  auto back = record_codec::decode(bytes);
  CAF_REQUIRE(back);
  CAF_CHECK(*back == rec);
  CAF_CHECK_EQUAL(back->ivr_path.size(), 3u);
  CAF_CHECK_EQUAL(*back->campaign_id, 9'000'000'001);
}

CAF_TEST(a record with the optional fields absent comes back with them absent) {
  call_record rec;
  rec.call_uuid = "c";
  rec.leg_uuid = "l";
  rec.created_us = 5;
  rec.ended_us = 6;
  rec.hangup_cause = "NO_ANSWER";
  rec.reason = end_reason::engine_restart;
  auto back = record_codec::decode(record_codec::encode(rec));
  CAF_REQUIRE(back);
  CAF_CHECK(*back == rec);
  CAF_CHECK(!back->route_id && !back->flow_id && !back->campaign_id && !back->attempt_id);
  CAF_CHECK(!back->answered_us);
  CAF_CHECK(!back->sip_code);
  CAF_CHECK(back->ivr_path.empty());
}

CAF_TEST(every end reason and direction survives the codec) {
  for (auto reason : {end_reason::normal, end_reason::node_drain, end_reason::node_lost,
                      end_reason::engine_restart}) {
    auto rec = full_record();
    rec.reason = reason;
    rec.direction = call_direction::inbound;
    rec.mode = esl_mode::inbound;
    auto back = record_codec::decode(record_codec::encode(rec));
    CAF_REQUIRE(back);
    CAF_CHECK(*back == rec);
  }
}

CAF_TEST(the encoding starts with the format version) {
  auto bytes = record_codec::encode(full_record());
  CAF_REQUIRE_GREATER(bytes.size(), 2u);
  CAF_CHECK_EQUAL(static_cast<int>(bytes[0]), 0xdc); // array 16 (23 elements)
  CAF_CHECK_EQUAL(static_cast<int>(bytes[3]), 1);     // positive fixint: version 1
}

CAF_TEST(an unknown format version is refused and named) {
  auto back = record_codec::decode(bytes_of({0x91, 0x07})); // [7]
  CAF_REQUIRE(!back);
  CAF_CHECK(back.error() == errc::unsupported_record_version);
  auto text = render_error(back.error());
  CAF_MESSAGE(text);
  CAF_CHECK_NOT_EQUAL(text.find("version 7"), std::string::npos);
}

CAF_TEST(truncated malformed and padded bytes are refused) {
  auto bytes = record_codec::encode(full_record());
  auto cut = bytes;
  cut.pop_back();
  auto truncated = record_codec::decode(cut);
  CAF_REQUIRE(!truncated);
  CAF_CHECK(truncated.error() == errc::record_decode_failed);
  auto padded = bytes;
  padded.push_back(std::byte{0});
  auto trailing = record_codec::decode(padded);
  CAF_REQUIRE(!trailing);
  CAF_CHECK(trailing.error() == errc::record_decode_failed);
  CAF_CHECK(!record_codec::decode({}));
  CAF_CHECK(!record_codec::decode(bytes_of({0xc1}))); // never-used msgpack byte
  CAF_CHECK(!record_codec::decode(bytes_of({0x01}))); // not an array
}

CAF_TEST(an out of range enum value is refused naming its field) {
  auto bytes = record_codec::encode(full_record());
  bytes.back() = std::byte{9}; // end_reason is the last element, a positive fixint
  auto back = record_codec::decode(bytes);
  CAF_REQUIRE(!back);
  CAF_CHECK(back.error() == errc::record_decode_failed);
  CAF_CHECK_NOT_EQUAL(render_error(back.error()).find("end_reason"), std::string::npos);
}

CAF_TEST(the checksum is crc32c) {
  std::string check = "123456789";
  auto bytes = std::as_bytes(std::span{check});
  CAF_CHECK_EQUAL(crc32c(bytes), 0xE3069283u); // 9 bytes: the 8-byte loop and the byte loop
  CAF_CHECK_EQUAL(crc32c({}), 0u);
  // RFC 3720 (iSCSI) B.4 test vectors: they run through the 8-byte loop.
  std::vector<std::byte> zeros(32, std::byte{0});
  std::vector<std::byte> ones(32, std::byte{0xFF});
  std::vector<std::byte> ascending(32);
  for (std::size_t i = 0; i < ascending.size(); ++i)
    ascending[i] = static_cast<std::byte>(i);
  CAF_CHECK_EQUAL(crc32c(zeros), 0x8A9136AAu);
  CAF_CHECK_EQUAL(crc32c(ones), 0x62A8AB43u);
  CAF_CHECK_EQUAL(crc32c(ascending), 0x46DD794Eu);
}

CAF_TEST(an array header announcing more elements than the input holds is refused without allocating) {
  // Found by tests/fuzz/record_codec_fuzz: 32 bytes whose array32 header claims ~620 million
  // elements made msgpack try to allocate 17 GB.
  const std::uint8_t input[] = {0xdc, 0x02, 0x17, 0x7c, 0x04, 0x17, 0x01, 0x38, 0x24, 0xdd, 0x24,
                                0xf0, 0x38, 0x24, 0x01, 0xd9};
  auto bytes = std::as_bytes(std::span{input});
  auto decoded = callgrid::persistence::record_codec::decode(bytes);
  CAF_REQUIRE(!decoded);
  // Refused by the size limit, not by running out of memory or bytes after allocating.
  CAF_MESSAGE(render_error(decoded.error()));
  CAF_CHECK(render_error(decoded.error()).find("size overflow") != std::string::npos);
}
