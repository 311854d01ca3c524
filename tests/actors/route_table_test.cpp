#define CAF_SUITE actors.route_table

#include "actors/route_table.hpp"

#include <caf/test/unit_test.hpp>

using namespace callgrid::actors;
using namespace std::chrono;

namespace {

route make_route(int64_t id, std::string name, std::string prefix, int priority = 100) {
  route r;
  r.id = id;
  r.name = std::move(name);
  r.match_prefix = std::move(prefix);
  r.priority = priority;
  return r;
}

system_clock::time_point at(int y, unsigned m, unsigned d, int hour, int minute) {
  return sys_days{year{y} / month{m} / day{d}} + hours{hour} + minutes{minute};
}

} // namespace

CAF_TEST(the longest matching prefix wins) {
  auto table = route_table::build({make_route(1, "any", ""), make_route(2, "sales", "1000"),
                                   make_route(3, "ten", "10")});
  auto now = system_clock::now();
  const route* r = table->match("1000", "555", now);
  CAF_REQUIRE(r != nullptr);
  CAF_CHECK_EQUAL(r->name, "sales");
  r = table->match("1099", "555", now);
  CAF_REQUIRE(r != nullptr);
  CAF_CHECK_EQUAL(r->name, "ten");
  r = table->match("2000", "555", now);
  CAF_REQUIRE(r != nullptr);
  CAF_CHECK_EQUAL(r->name, "any");
}

CAF_TEST(equal prefixes are ordered by priority then id) {
  auto table = route_table::build(
    {make_route(7, "late", "1", 50), make_route(3, "early", "1", 50), make_route(1, "low", "1", 90)});
  const route* r = table->match("123", "", system_clock::now());
  CAF_REQUIRE(r != nullptr);
  CAF_CHECK_EQUAL(r->name, "early");
}

CAF_TEST(no route matches an unknown number) {
  auto table = route_table::build({make_route(1, "sales", "1000")});
  CAF_CHECK(table->match("2000", "555", system_clock::now()) == nullptr);
}

CAF_TEST(a caller pattern restricts a route to matching callers) {
  auto vip = make_route(1, "vip", "1000");
  vip.caller_pattern = R"(\+49.*)";
  auto table = route_table::build({vip, make_route(2, "rest", "1000", 200)});
  auto now = system_clock::now();
  CAF_CHECK_EQUAL(table->match("1000", "+4930123", now)->name, "vip");
  CAF_CHECK_EQUAL(table->match("1000", "+3312345", now)->name, "rest");
}

CAF_TEST(an invalid caller pattern leaves the route out and says why) {
  auto broken = make_route(1, "broken", "1000");
  broken.caller_pattern = "(";
  auto table = route_table::build({broken});
  CAF_CHECK_EQUAL(table->size(), 0u);
  CAF_REQUIRE_EQUAL(table->problems().size(), 1u);
  CAF_CHECK(table->problems()[0].find("broken") != std::string::npos);
}

CAF_TEST(time windows open a route only inside them) {
  auto office = make_route(1, "office", "1000");
  // Monday to Friday, 08:00-18:00 UTC.
  office.windows.push_back(time_window{0x1f, 8 * 60, 18 * 60, nullptr});
  auto table = route_table::build({office, make_route(2, "after_hours", "1000", 500)});
  // 2026-11-26 is a Thursday.
  CAF_CHECK_EQUAL(table->match("1000", "", at(2026, 11, 26, 9, 0))->name, "office");
  CAF_CHECK_EQUAL(table->match("1000", "", at(2026, 11, 26, 18, 0))->name, "after_hours");
  CAF_CHECK_EQUAL(table->match("1000", "", at(2026, 11, 28, 10, 0))->name, "after_hours");
}

CAF_TEST(a window crossing midnight belongs to the day it starts) {
  // Fridays 22:00 to 02:00.
  time_window night{1 << 4, 22 * 60, 2 * 60, nullptr};
  CAF_CHECK(is_open(night, at(2026, 11, 27, 23, 0)));  // Friday night
  CAF_CHECK(is_open(night, at(2026, 11, 28, 1, 30)));  // early Saturday
  CAF_CHECK(!is_open(night, at(2026, 11, 28, 23, 0))); // Saturday night
  CAF_CHECK(!is_open(night, at(2026, 11, 27, 1, 0)));  // early Friday (Thursday's night)
}

CAF_TEST(a window is evaluated in its time zone) {
  auto zone = callgrid::ivr::time_zone::load("UTC+02:00");
  CAF_REQUIRE(zone);
  time_window office{0x7f, 8 * 60, 9 * 60,
                     std::make_shared<const callgrid::ivr::time_zone>(std::move(*zone))};
  CAF_CHECK(is_open(office, at(2026, 11, 26, 6, 30)));  // 08:30 local
  CAF_CHECK(!is_open(office, at(2026, 11, 26, 8, 30))); // 10:30 local
}
