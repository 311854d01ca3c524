#define CAF_SUITE ivr.time_zone

#include "ivr/time_zone.hpp"

#include <caf/test/unit_test.hpp>

#include "ivr/errc.hpp"

using namespace callgrid::ivr;
using namespace std::chrono;

namespace {

sys_seconds utc(int y, unsigned m, unsigned d, int h, int min) {
  return sys_days{year{y} / month{m} / day{d}} + hours{h} + minutes{min};
}

} // namespace

CAF_TEST(fixed offsets are read from UTC plus or minus hours and minutes) {
  auto plus = time_zone::load("UTC+02:00");
  CAF_REQUIRE(plus);
  CAF_CHECK_EQUAL(plus->offset_at(utc(2026, 1, 1, 0, 0)).count(), 7200);
  auto minus = time_zone::load("-05:30");
  CAF_REQUIRE(minus);
  CAF_CHECK_EQUAL(minus->offset_at(utc(2026, 1, 1, 0, 0)).count(), -(5 * 3600 + 30 * 60));
  auto plain = time_zone::load("UTC");
  CAF_REQUIRE(plain);
  CAF_CHECK_EQUAL(plain->offset_at(utc(2026, 7, 1, 0, 0)).count(), 0);
}

CAF_TEST(Berlin is one hour ahead in winter and two in summer) {
  auto berlin = time_zone::load("Europe/Berlin");
  CAF_REQUIRE(berlin);
  CAF_CHECK_EQUAL(berlin->offset_at(utc(2026, 1, 15, 12, 0)).count(), 3600);
  CAF_CHECK_EQUAL(berlin->offset_at(utc(2026, 7, 15, 12, 0)).count(), 7200);
  // 2026-03-29 01:00 UTC is the switch to summer time.
  CAF_CHECK_EQUAL(berlin->offset_at(utc(2026, 3, 29, 0, 59)).count(), 3600);
  CAF_CHECK_EQUAL(berlin->offset_at(utc(2026, 3, 29, 1, 0)).count(), 7200);
}

CAF_TEST(New York local time follows its own daylight saving dates) {
  auto ny = time_zone::load("America/New_York");
  CAF_REQUIRE(ny);
  CAF_CHECK_EQUAL(ny->offset_at(utc(2026, 1, 15, 12, 0)).count(), -5 * 3600);
  CAF_CHECK_EQUAL(ny->offset_at(utc(2026, 7, 15, 12, 0)).count(), -4 * 3600);
  const auto local = ny->to_local(utc(2026, 7, 15, 12, 0));
  CAF_CHECK(local == utc(2026, 7, 15, 8, 0));
}

CAF_TEST(unknown and malformed zone names are refused) {
  for (const char* name : {"Europe/Berlinn", "../etc/passwd", "", "UTC+25", "/etc/localtime"}) {
    auto tz = time_zone::load(name);
    CAF_CHECK(!tz);
    if (!tz)
      CAF_CHECK_EQUAL(render_error(tz.error()).rfind("ivr.unknown_time_zone", 0), 0u);
  }
}
