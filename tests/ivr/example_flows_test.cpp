#define CAF_SUITE ivr.example_flows

#include "ivr/session.hpp"

#include <caf/test/unit_test.hpp>

#include <filesystem>
#include <optional>

using namespace callgrid::ivr;
using namespace std::chrono;

namespace {

const std::string flows_dir = CALLGRID_FLOWS_DIR;

std::shared_ptr<const flow> load_example(const std::string& file) {
  auto r = load_flow_file(flows_dir + "/" + file);
  for (const auto& d : r.problems)
    CAF_MESSAGE(render(d));
  CAF_REQUIRE(r.flow != nullptr);
  return r.flow;
}

// Drives a session like the call actor does and records what it was told to do.
struct caller {
  explicit caller(std::shared_ptr<const flow> f) : s(std::move(f)) {
  }

  session s;
  std::vector<command> last;
  std::uint64_t timer = 0;
  std::uint64_t lookup = 0;

  void feed(const event& e) {
    last.clear();
    s.handle(e, last);
    for (const auto& c : last) {
      if (auto t = std::get_if<start_timer>(&c))
        timer = t->timer_id;
      if (auto l = std::get_if<start_lookup>(&c))
        lookup = l->request_id;
    }
  }
  void start(std::string number = "+15550100") {
    feed(started{{std::move(number), "demo.example.com", "", {}}, system_clock::time_point{}});
  }
  // The prompt that is playing plays out.
  void listen() {
    feed(prompt_finished{});
  }
  void press(const std::string& digits) {
    for (char d : digits)
      feed(digit_pressed{d});
  }
  void wait() {
    feed(timer_expired{timer});
  }
  template <class T>
  std::optional<T> issued() const {
    for (const auto& c : last)
      if (auto x = std::get_if<T>(&c))
        return *x;
    return std::nullopt;
  }
  // Named strings, so checks never compare a member of a temporary (see common test rules).
  std::string played() const {
    auto x = issued<play_prompt>();
    return x ? x->uri : std::string{};
  }
  std::string transferred_to() const {
    auto x = issued<transfer_call>();
    return x ? x->target : std::string{};
  }
  std::string bridged_to() const {
    auto x = issued<bridge_call>();
    return x ? x->endpoint : std::string{};
  }
  std::string hangup_cause() const {
    auto x = issued<hang_up>();
    return x ? x->cause : std::string{};
  }
  std::string variable_set() const {
    auto x = issued<set_variable>();
    return x ? x->name + "=" + x->value : std::string{};
  }
  std::string path() const {
    std::string out;
    for (const auto& step : s.path())
      out += (out.empty() ? "" : " ") + step.node + ":" + step.choice;
    return out;
  }
};

} // namespace

CAF_TEST(every example flow loads without errors or warnings) {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(flows_dir)) {
    const auto ext = entry.path().extension();
    if (ext != ".yaml" && ext != ".json")
      continue;
    ++count;
    auto r = load_flow_file(entry.path().string());
    for (const auto& d : r.problems)
      CAF_ERROR(render(d));
    CAF_CHECK(r.flow != nullptr);
    if (r.flow) {
      auto again = load_flow(r.flow->to_json(), "stored.json");
      CAF_CHECK(again.flow != nullptr);
      CAF_CHECK(again.problems.empty());
    }
  }
  CAF_CHECK_GREATER_OR_EQUAL(count, 2u);
}

CAF_TEST(main menu lists its prompts for warming) {
  auto f = load_example("main_menu.yaml");
  const auto uris = f->prompt_uris();
  CAF_CHECK_EQUAL(uris.size(), 14u);
  CAF_CHECK(std::find(uris.begin(), uris.end(), "ivr/welcome.wav") != uris.end());
}

CAF_TEST(main menu sales new customer) {
  caller c{load_example("main_menu.yaml")};
  c.start();
  CAF_CHECK_EQUAL(c.played(), "ivr/welcome.wav");
  c.listen();
  CAF_CHECK_EQUAL(c.played(), "ivr/main_menu.wav");
  c.listen();
  c.press("1");
  CAF_CHECK_EQUAL(c.played(), "ivr/sales_menu.wav");
  c.press("1");  // barge in
  CAF_CHECK(c.issued<stop_prompt>().has_value());
  CAF_CHECK_EQUAL(c.transferred_to(), "sales_new XML default");
  CAF_CHECK_EQUAL(c.s.result(), outcome::transferred);
  CAF_CHECK_EQUAL(c.path(), "main:1 sales:1");
}

CAF_TEST(main menu support back to main then technical support bridge) {
  caller c{load_example("main_menu.yaml")};
  c.start();
  c.listen();
  c.listen();
  c.press("2");
  c.listen();
  c.press("*");
  CAF_CHECK_EQUAL(c.played(), "ivr/main_menu.wav");
  c.listen();
  c.press("2");
  c.listen();
  c.press("1");
  CAF_CHECK_EQUAL(c.played(), "tone_stream://%(200,100,440)");
  c.listen();
  CAF_CHECK_EQUAL(c.bridged_to(), "user/support@demo.example.com");
  CAF_CHECK_EQUAL(c.s.result(), outcome::bridged);
  CAF_CHECK_EQUAL(c.path(), "main:2 support:back main:2 support:1");
}

CAF_TEST(main menu agent key from the main menu) {
  caller c{load_example("main_menu.yaml")};
  c.start();
  c.listen();
  c.press("0");
  CAF_CHECK_EQUAL(c.transferred_to(), "agents XML default");
  CAF_CHECK_EQUAL(c.path(), "main:agent");
  CAF_CHECK_EQUAL(c.s.result(), outcome::transferred);
}

CAF_TEST(main menu silent caller is escalated to an agent after three tries) {
  caller c{load_example("main_menu.yaml")};
  c.start();
  c.listen();
  c.listen();
  for (int i = 0; i < 2; ++i) {
    c.wait();
    CAF_CHECK_EQUAL(c.played(), "ivr/no_input.wav");
    c.listen();
    c.listen();
  }
  c.wait();
  CAF_CHECK_EQUAL(c.transferred_to(), "agents XML default");
  CAF_CHECK_EQUAL(c.s.result(), outcome::escalated);
  CAF_CHECK_EQUAL(c.path(), "main:exhausted:no_input");
}

CAF_TEST(main menu account lookup found) {
  caller c{load_example("main_menu.yaml")};
  c.start();
  c.listen();
  c.listen();
  c.press("3");
  CAF_CHECK_EQUAL(c.played(), "ivr/enter_account.wav");
  c.listen();
  c.press("123456");
  auto lookup = c.issued<start_lookup>();
  CAF_REQUIRE(lookup.has_value());
  const auto key = lookup->key;
  const auto budget = lookup->budget;
  CAF_CHECK_EQUAL(key, "account:123456");
  CAF_CHECK_EQUAL(budget, milliseconds{200});
  CAF_CHECK_EQUAL(c.s.variables().at("account"), "123456");
  c.feed(lookup_finished{c.lookup, std::string{"active"}, false});
  CAF_CHECK_EQUAL(c.variable_set(), "account_status=active");
  CAF_CHECK_EQUAL(c.played(), "ivr/account_found.wav");
  c.listen();
  CAF_CHECK_EQUAL(c.played(), "ivr/main_menu.wav");
  CAF_CHECK_EQUAL(c.path(), "main:3 account_entry:collected account_lookup:found");
}

CAF_TEST(main menu account lookup not found and short entry retried) {
  caller c{load_example("main_menu.yaml")};
  c.start();
  c.listen();
  c.listen();
  c.press("3");
  c.listen();
  c.press("123#");
  CAF_CHECK_EQUAL(c.played(), "ivr/invalid.wav");
  c.listen();
  c.listen();
  c.press("654321");
  c.feed(lookup_finished{c.lookup, std::nullopt, false});
  CAF_CHECK_EQUAL(c.played(), "ivr/account_not_found.wav");
  CAF_CHECK_EQUAL(c.path(), "main:3 account_entry:collected account_lookup:missing");
}

CAF_TEST(main menu account lookup timeout falls back to an agent) {
  caller c{load_example("main_menu.yaml")};
  c.start();
  c.listen();
  c.listen();
  c.press("3");
  c.listen();
  c.press("111111");
  c.wait();  // the 200 ms budget runs out
  CAF_CHECK_EQUAL(c.played(), "ivr/account_unavailable.wav");
  c.listen();
  CAF_CHECK_EQUAL(c.transferred_to(), "agents XML default");
  CAF_CHECK_EQUAL(c.path(), "main:3 account_entry:collected account_lookup:timeout");
  c.feed(lookup_finished{c.lookup, std::string{"late"}, false});
  CAF_CHECK(c.last.empty());
}

CAF_TEST(main menu opt out confirmed) {
  caller c{load_example("main_menu.yaml")};
  c.start();
  c.listen();
  c.listen();
  c.press("9");
  CAF_CHECK_EQUAL(c.played(), "ivr/optout_confirm.wav");
  c.listen();
  c.press("1");
  CAF_CHECK_EQUAL(c.variable_set(), "opted_out=1");
  CAF_CHECK_EQUAL(c.played(), "ivr/optout_done.wav");
  c.feed(prompt_finished{});
  CAF_CHECK_EQUAL(c.played(), "ivr/goodbye.wav");
  c.feed(prompt_finished{});
  CAF_CHECK_EQUAL(c.hangup_cause(), "NORMAL_CLEARING");
  CAF_CHECK_EQUAL(c.s.result(), outcome::hung_up_by_flow);
  CAF_CHECK_EQUAL(c.path(), "main:9 optout_confirm:confirm");
  CAF_CHECK_EQUAL(c.s.variables().at("opted_out"), "1");
}

CAF_TEST(main menu opt out cancelled returns to the main menu) {
  caller c{load_example("main_menu.yaml")};
  c.start();
  c.listen();
  c.listen();
  c.press("9");
  c.listen();
  c.press("2");
  CAF_CHECK_EQUAL(c.played(), "ivr/main_menu.wav");
  CAF_CHECK(c.s.variables().count("opted_out") == 0);
  CAF_CHECK_EQUAL(c.path(), "main:9 optout_confirm:cancel");
}

CAF_TEST(main menu caller hangs up in a submenu) {
  caller c{load_example("main_menu.yaml")};
  c.start();
  c.listen();
  c.listen();
  c.press("2");
  c.feed(caller_hung_up{});
  CAF_CHECK_EQUAL(c.s.result(), outcome::caller_hung_up);
  CAF_CHECK_EQUAL(c.path(), "main:2 support:hangup");
}

CAF_TEST(business hours routes by caller and by office hours in Berlin) {
  auto f = load_example("business_hours.json");
  auto route = [&](std::string number, system_clock::time_point now) {
    session s{f};
    std::vector<command> out;
    s.handle(started{{std::move(number), "hq", "", {}}, now}, out);
    return out;
  };
  const auto tuesday_10_utc = sys_days{2026y / 3 / 10} + 10h;  // 11:00 in Berlin
  const auto tuesday_18_utc = sys_days{2026y / 3 / 10} + 18h;  // 19:00 in Berlin
  auto vip = route("+49301234", tuesday_18_utc);
  CAF_REQUIRE(!vip.empty());
  CAF_CHECK(std::holds_alternative<bridge_call>(vip.back()));
  auto open = route("+15550100", tuesday_10_utc);
  CAF_REQUIRE(!open.empty());
  CAF_CHECK(open.back() == command{transfer_call{"front_desk XML default"}});
  auto closed = route("+15550100", tuesday_18_utc);
  CAF_REQUIRE(!closed.empty());
  CAF_CHECK(closed.front() == command{play_prompt{"ivr/closed.wav"}});
}
