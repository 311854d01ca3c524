#define CAF_SUITE ivr.session

#include "ivr/session.hpp"

#include <caf/test/unit_test.hpp>

#include <optional>

using namespace callgrid::ivr;
using namespace std::chrono;

namespace {

std::string describe(const std::vector<command>& commands) {
  std::string out;
  for (const auto& c : commands) {
    if (!out.empty())
      out += "; ";
    std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, play_prompt>)
          out += "play " + x.uri;
        else if constexpr (std::is_same_v<T, stop_prompt>)
          out += "stop";
        else if constexpr (std::is_same_v<T, start_timer>)
          out += "timer " + std::to_string(x.timer_id) + " " + std::to_string(x.after.count()) + "ms";
        else if constexpr (std::is_same_v<T, cancel_timer>)
          out += "cancel " + std::to_string(x.timer_id);
        else if constexpr (std::is_same_v<T, start_lookup>)
          out += "lookup " + std::to_string(x.request_id) + " " + x.key + " " + std::to_string(x.budget.count()) + "ms";
        else if constexpr (std::is_same_v<T, set_variable>)
          out += "set " + x.name + "=" + x.value;
        else if constexpr (std::is_same_v<T, transfer_call>)
          out += "transfer " + x.target;
        else if constexpr (std::is_same_v<T, bridge_call>)
          out += "bridge " + x.endpoint;
        else
          out += "hangup " + x.cause;
      },
      c);
  }
  return out;
}

std::string describe(const std::vector<ivr_step>& path) {
  std::string out;
  for (const auto& step : path)
    out += (out.empty() ? "" : " ") + step.node + ":" + step.choice;
  return out;
}

constexpr const char* menu_flow = R"(name: menus
version: 1
start: main
prompts:
  menu: m.wav
  sub: sub.wav
  noinput: ni.wav
  invalid: inv.wav
globals:
  agent: agents
defaults:
  first_digit_timeout: 5s
  inter_digit_timeout: 2s
  max_no_input: 2
  max_invalid: 2
nodes:
  main:
    kind: menu
    prompt: menu
    no_input_prompt: noinput
    invalid_prompt: invalid
    options:
      "1": sub
      "2": done
      "12": twelve
  sub:
    kind: menu
    prompt: sub
    options:
      "1": done
      "0": zero
    keys:
      "#": none
  plain:
    kind: menu
    prompt: menu
    global_keys: false
    on_exhausted: done
    options:
      "1": done
  zero:
    kind: transfer
    target: zero
  twelve:
    kind: transfer
    target: twelve
  done:
    kind: hangup
)";

struct fixture {
  std::shared_ptr<const flow> f;
  std::optional<session> s;

  void load(const std::string& text) {
    auto r = load_flow(text, "test.yaml");
    for (const auto& d : r.problems)
      if (d.level == severity::error)
        CAF_FAIL(render(d));
    f = r.flow;
    s.emplace(f);
  }

  std::string feed(const event& e) {
    std::vector<command> out;
    s->handle(e, out);
    return describe(out);
  }

  std::string start(call_facts facts = {}, system_clock::time_point now = {}) {
    return feed(started{std::move(facts), now});
  }
  std::string finished() {
    return feed(prompt_finished{});
  }
  std::string press(char d) {
    return feed(digit_pressed{d});
  }
  std::string expire(std::uint64_t id) {
    return feed(timer_expired{id});
  }
  std::string path() const {
    return describe(s->path());
  }
};

system_clock::time_point utc(int y, unsigned m, unsigned d, int h, int min) {
  return sys_days{year{y} / month{m} / day{d}} + hours{h} + minutes{min};
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(session_tests, fixture)

CAF_TEST(a menu plays its prompt and starts the first digit timer when the prompt ends) {
  load(menu_flow);
  CAF_CHECK_EQUAL(start(), "play m.wav");
  CAF_CHECK_EQUAL(s->current_node(), "main");
  CAF_CHECK_EQUAL(finished(), "timer 1 5000ms");
  CAF_CHECK_EQUAL(press('2'), "cancel 1; hangup NORMAL_CLEARING");
  CAF_CHECK(s->finished());
  CAF_CHECK_EQUAL(s->result(), outcome::hung_up_by_flow);
  CAF_CHECK_EQUAL(path(), "main:2");
}

CAF_TEST(a digit during the prompt barges in) {
  load(menu_flow);
  start();
  CAF_CHECK_EQUAL(press('2'), "stop; hangup NORMAL_CLEARING");
  CAF_CHECK_EQUAL(path(), "main:2");
}

CAF_TEST(the end of a prompt broken by a barge in starts no timer) {
  load(menu_flow);
  start();
  CAF_CHECK_EQUAL(press('7'), "stop; play inv.wav");
  CAF_CHECK_EQUAL(finished(), "");  // the broken menu prompt
  CAF_CHECK_EQUAL(finished(), "play m.wav");
  CAF_CHECK_EQUAL(finished(), "timer 1 5000ms");
}

CAF_TEST(a prefix of a longer option waits for the inter digit timeout) {
  load(menu_flow);
  start();
  finished();
  CAF_CHECK_EQUAL(press('1'), "cancel 1; timer 2 2000ms");
  CAF_CHECK_EQUAL(press('2'), "cancel 2; transfer twelve");
  CAF_CHECK_EQUAL(path(), "main:12");
  CAF_CHECK_EQUAL(s->result(), outcome::transferred);
}

CAF_TEST(the inter digit timeout selects the shorter option) {
  load(menu_flow);
  start();
  finished();
  press('1');
  CAF_CHECK_EQUAL(expire(2), "play sub.wav");
  CAF_CHECK_EQUAL(s->current_node(), "sub");
  CAF_CHECK_EQUAL(path(), "main:1");
}

CAF_TEST(no input replays the no input prompt then the menu and escalates at the cap) {
  load(menu_flow);
  start();
  finished();
  CAF_CHECK_EQUAL(expire(1), "play ni.wav");
  CAF_CHECK_EQUAL(finished(), "play m.wav");
  CAF_CHECK_EQUAL(finished(), "timer 2 5000ms");
  CAF_CHECK_EQUAL(expire(2), "transfer agents");
  CAF_CHECK_EQUAL(s->result(), outcome::escalated);
  CAF_CHECK_EQUAL(path(), "main:exhausted:no_input");
}

CAF_TEST(invalid input plays the invalid prompt and escalates at its own cap) {
  load(menu_flow);
  start();
  finished();
  CAF_CHECK_EQUAL(expire(1), "play ni.wav");  // one no input does not count as invalid
  finished();
  finished();
  CAF_CHECK_EQUAL(press('7'), "cancel 2; play inv.wav");
  finished();
  finished();
  CAF_CHECK_EQUAL(press('8'), "cancel 3; transfer agents");
  CAF_CHECK_EQUAL(s->result(), outcome::escalated);
  CAF_CHECK_EQUAL(path(), "main:exhausted:invalid");
}

CAF_TEST(without an agent target exhaustion hangs up as failed) {
  std::string text = menu_flow;
  text.replace(text.find("globals:\n  agent: agents\n"), 25, "");
  load(text);
  start();
  finished();
  press('7');
  finished();
  finished();
  CAF_CHECK_EQUAL(press('7'), "cancel 2; hangup NORMAL_CLEARING");
  CAF_CHECK_EQUAL(s->result(), outcome::failed);
}

CAF_TEST(the agent key transfers to the agent target) {
  load(menu_flow);
  start();
  CAF_CHECK_EQUAL(press('0'), "stop; transfer agents");
  CAF_CHECK_EQUAL(s->result(), outcome::transferred);
  CAF_CHECK_EQUAL(path(), "main:agent");
}

CAF_TEST(the repeat key replays the prompt without counting) {
  load(menu_flow);
  start();
  finished();
  press('7');  // invalid 1 of 2
  finished();
  finished();
  CAF_CHECK_EQUAL(press('#'), "cancel 2; play m.wav");
  CAF_CHECK_EQUAL(finished(), "timer 3 5000ms");
  CAF_CHECK_EQUAL(press('#'), "cancel 3; play m.wav");
  finished();
  CAF_CHECK_EQUAL(press('7'), "cancel 4; transfer agents");
}

CAF_TEST(the back key returns to the previous menu and re-prompts at the first) {
  load(menu_flow);
  start();
  finished();
  CAF_CHECK_EQUAL(press('*'), "cancel 1; play m.wav");  // first menu: re-prompt
  finished();
  press('1');
  CAF_CHECK_EQUAL(expire(3), "play sub.wav");
  finished();
  CAF_CHECK_EQUAL(press('*'), "cancel 4; play m.wav");
  CAF_CHECK_EQUAL(s->current_node(), "main");
  CAF_CHECK_EQUAL(path(), "main:1 sub:back");
}

CAF_TEST(a menu option overrides a global key and a menu can disable one) {
  load(menu_flow);
  start();
  finished();
  press('1');
  expire(2);
  finished();
  CAF_CHECK_EQUAL(press('#'), "cancel 3; play sub.wav");  // disabled here: invalid, no invalid prompt
  finished();
  CAF_CHECK_EQUAL(press('0'), "cancel 4; transfer zero");
  CAF_CHECK_EQUAL(path(), "main:1 sub:0");
}

CAF_TEST(a menu without global keys treats them as invalid) {
  std::string text = menu_flow;
  text.replace(text.find("start: main"), 11, "start: plain");
  load(text);
  start();
  finished();
  CAF_CHECK_EQUAL(press('0'), "cancel 1; play m.wav");
  finished();
  CAF_CHECK_EQUAL(press('*'), "cancel 2; hangup NORMAL_CLEARING");
  CAF_CHECK_EQUAL(path(), "plain:exhausted:invalid");
  CAF_CHECK_EQUAL(s->result(), outcome::hung_up_by_flow);
}

CAF_TEST(stale timers are ignored) {
  load(menu_flow);
  start();
  finished();
  press('1');
  CAF_CHECK_EQUAL(expire(1), "");
  CAF_CHECK_EQUAL(expire(99), "");
  CAF_CHECK_EQUAL(s->current_node(), "main");
  CAF_CHECK_EQUAL(expire(2), "play sub.wav");
  CAF_CHECK_EQUAL(expire(2), "");
}

CAF_TEST(the caller hanging up mid prompt ends the session and ignores later events) {
  load(menu_flow);
  start();
  CAF_CHECK_EQUAL(feed(caller_hung_up{}), "");
  CAF_CHECK(s->finished());
  CAF_CHECK_EQUAL(s->result(), outcome::caller_hung_up);
  CAF_CHECK_EQUAL(path(), "main:hangup");
  CAF_CHECK_EQUAL(finished(), "");
  CAF_CHECK_EQUAL(press('1'), "");
}

CAF_TEST(the caller hanging up while a timer runs cancels it) {
  load(menu_flow);
  start();
  finished();
  CAF_CHECK_EQUAL(feed(caller_hung_up{}), "cancel 1");
  CAF_CHECK_EQUAL(s->result(), outcome::caller_hung_up);
}

CAF_TEST(events before the start are ignored and a second start too) {
  load(menu_flow);
  CAF_CHECK_EQUAL(press('1'), "");
  CAF_CHECK_EQUAL(finished(), "");
  CAF_CHECK_EQUAL(s->current_node(), "");
  CAF_CHECK_EQUAL(start(), "play m.wav");
  CAF_CHECK_EQUAL(start(), "");
  CAF_CHECK_EQUAL(press('X'), "");
}

CAF_TEST(a play node plays its prompts in order and ignores digits) {
  load("name: p\nversion: 1\nstart: hi\nprompts:\n  a: a.wav\n  b: b_${caller}.wav\nnodes:\n"
       "  hi:\n    kind: play\n    prompts: [a, b]\n    next: bye\n  bye:\n    kind: hangup\n    cause: USER_BUSY\n");
  CAF_CHECK_EQUAL(start({"+4930123", "", "", {}}), "play a.wav");
  CAF_CHECK_EQUAL(press('1'), "");
  CAF_CHECK_EQUAL(finished(), "play b_+4930123.wav");
  CAF_CHECK_EQUAL(finished(), "hangup USER_BUSY");
  CAF_CHECK_EQUAL(s->result(), outcome::hung_up_by_flow);
  CAF_CHECK_EQUAL(path(), "");
}

namespace {

constexpr const char* confirm_flow = R"(name: c
version: 1
start: ask
prompts:
  sure: sure.wav
  wrong: wrong.wav
nodes:
  ask:
    kind: confirm
    prompt: sure
    invalid_prompt: wrong
    timeout: 3s
    max_tries: 2
    on_confirm: yes
    on_cancel: no
  yes:
    kind: transfer
    target: confirmed
  no:
    kind: transfer
    target: cancelled
)";

} // namespace

CAF_TEST(confirm takes 1 as confirm) {
  load(confirm_flow);
  start();
  CAF_CHECK_EQUAL(finished(), "timer 1 3000ms");
  CAF_CHECK_EQUAL(press('1'), "cancel 1; transfer confirmed");
  CAF_CHECK_EQUAL(path(), "ask:confirm");
}

CAF_TEST(confirm takes 2 as cancel) {
  load(confirm_flow);
  start();
  CAF_CHECK_EQUAL(press('2'), "stop; transfer cancelled");
  CAF_CHECK_EQUAL(path(), "ask:cancel");
}

CAF_TEST(confirm counts other keys and silence and cancels at the cap) {
  load(confirm_flow);
  start();
  finished();
  CAF_CHECK_EQUAL(press('5'), "cancel 1; play wrong.wav");
  finished();
  finished();
  CAF_CHECK_EQUAL(expire(2), "transfer cancelled");
  CAF_CHECK_EQUAL(path(), "ask:exhausted");
}

namespace {

constexpr const char* collect_flow = R"(name: c
version: 1
start: pin
prompts:
  pin: pin.wav
  wrong: wrong.wav
  silent: silent.wav
nodes:
  pin:
    kind: collect
    prompt: pin
    invalid_prompt: wrong
    no_input_prompt: silent
    min_digits: 3
    max_digits: 5
    pattern: "1[0-9]*"
    variable: pin
    first_digit_timeout: 4s
    inter_digit_timeout: 1s
    max_tries: 2
    next: ok
    on_failure: failed
  ok:
    kind: transfer
    target: pin_${pin}
  failed:
    kind: hangup
    cause: CALL_REJECTED
)";

} // namespace

CAF_TEST(collect ends at the terminator and stores the variable) {
  load(collect_flow);
  start();
  CAF_CHECK_EQUAL(press('1'), "stop; timer 1 1000ms");
  CAF_CHECK_EQUAL(press('2'), "cancel 1; timer 2 1000ms");
  press('3');
  CAF_CHECK_EQUAL(press('#'), "cancel 3; set pin=123; transfer pin_123");
  CAF_CHECK_EQUAL(s->variables().at("pin"), "123");
  CAF_CHECK_EQUAL(path(), "pin:collected");
}

CAF_TEST(collect ends by itself at max digits) {
  load(collect_flow);
  start();
  finished();
  for (char d : std::string{"1234"})
    press(d);
  CAF_CHECK_EQUAL(press('5'), "cancel 5; set pin=12345; transfer pin_12345");
}

CAF_TEST(collect evaluates what it has when the inter digit timeout fires) {
  load(collect_flow);
  start();
  finished();
  press('1');
  press('0');
  press('0');
  CAF_CHECK_EQUAL(expire(4), "set pin=100; transfer pin_100");
}

CAF_TEST(collect refuses too few digits and a pattern mismatch and fails at the cap) {
  load(collect_flow);
  start();
  finished();
  press('1');
  CAF_CHECK_EQUAL(press('#'), "cancel 2; play wrong.wav");  // 1 digit < min 3
  finished();
  finished();
  press('9');
  press('9');
  press('9');
  CAF_CHECK_EQUAL(press('#'), "cancel 6; hangup CALL_REJECTED");  // pattern wants a leading 1
  CAF_CHECK_EQUAL(s->result(), outcome::hung_up_by_flow);
  CAF_CHECK_EQUAL(path(), "pin:exhausted");
  CAF_CHECK(s->variables().count("pin") == 0);
}

CAF_TEST(collect counts silence as a try and plays the no input prompt) {
  load(collect_flow);
  start();
  finished();
  CAF_CHECK_EQUAL(expire(1), "play silent.wav");
  CAF_CHECK_EQUAL(finished(), "play pin.wav");
}

namespace {

constexpr const char* lookup_flow = R"(name: l
version: 1
start: find
defaults:
  lookup_budget: 250ms
nodes:
  find:
    kind: lookup
    key: account:${caller}
    variable: status
    on_found: found
    on_missing: missing
    on_timeout: slow
  found:
    kind: transfer
    target: status_${status}
  missing:
    kind: transfer
    target: missing
  slow:
    kind: transfer
    target: slow
)";

} // namespace

CAF_TEST(lookup found stores the value and follows on found) {
  load(lookup_flow);
  CAF_CHECK_EQUAL(start({"555", "", "", {}}), "lookup 1 account:555 250ms; timer 2 250ms");
  CAF_CHECK_EQUAL(feed(lookup_finished{1, std::string{"gold"}, false}), "cancel 2; set status=gold; transfer status_gold");
  CAF_CHECK_EQUAL(path(), "find:found");
}

CAF_TEST(lookup missing follows on missing) {
  load(lookup_flow);
  start();
  CAF_CHECK_EQUAL(feed(lookup_finished{1, std::nullopt, false}), "cancel 2; transfer missing");
  CAF_CHECK_EQUAL(path(), "find:missing");
}

CAF_TEST(lookup budget expiry takes the fallback and a late answer is ignored) {
  load(lookup_flow);
  start();
  CAF_CHECK_EQUAL(expire(2), "transfer slow");
  CAF_CHECK_EQUAL(path(), "find:timeout");
  CAF_CHECK_EQUAL(feed(lookup_finished{1, std::string{"gold"}, false}), "");
}

CAF_TEST(lookup timed out by the host takes the fallback and stale ids are ignored) {
  load(lookup_flow);
  start();
  CAF_CHECK_EQUAL(feed(lookup_finished{7, std::string{"x"}, false}), "");
  CAF_CHECK_EQUAL(feed(lookup_finished{1, std::nullopt, true}), "cancel 2; transfer slow");
}

namespace {

constexpr const char* branch_flow = R"(name: b
version: 1
start: route
defaults:
  time_zone: Europe/Berlin
nodes:
  route:
    kind: branch
    cases:
      - caller_prefix: ["+4930", "030"]
        next: berlin
      - caller_matches: "^\\+1[0-9]{10}$"
        next: america
      - campaign: spring
        next: spring
      - variable: tier
        equals: gold
        next: gold
      - variable: tier
        matches: "^sil"
        next: silver
      - time: "09:00-17:00"
        days: mon-fri
        next: open
      - time: "22:00-06:00"
        time_zone: America/New_York
        next: night_in_new_york
    default: closed
  berlin: {kind: transfer, target: berlin}
  america: {kind: transfer, target: america}
  spring: {kind: transfer, target: spring}
  gold: {kind: transfer, target: gold}
  silver: {kind: transfer, target: silver}
  open: {kind: transfer, target: open}
  night_in_new_york: {kind: transfer, target: night}
  closed: {kind: transfer, target: closed}
)";

std::string route(fixture& fx, call_facts facts, system_clock::time_point now) {
  fx.load(branch_flow);
  return fx.start(std::move(facts), now);
}

// Wednesday 2026-01-14, 12:00 UTC = 13:00 in Berlin = 07:00 in New York.
const auto wednesday_noon = utc(2026, 1, 14, 12, 0);

} // namespace

CAF_TEST(branch on caller prefix and caller pattern) {
  CAF_CHECK_EQUAL(route(*this, {"+493012345", "", "", {}}, wednesday_noon), "transfer berlin");
  CAF_CHECK_EQUAL(route(*this, {"+12125551234", "", "", {}}, wednesday_noon), "transfer america");
  CAF_CHECK_EQUAL(route(*this, {"+121255512345", "", "", {}}, utc(2026, 1, 17, 12, 0)), "transfer closed");
}

CAF_TEST(branch on campaign and on variables) {
  CAF_CHECK_EQUAL(route(*this, {"x", "", "spring", {}}, wednesday_noon), "transfer spring");
  CAF_CHECK_EQUAL(route(*this, {"x", "", "", {{"tier", "gold"}}}, wednesday_noon), "transfer gold");
  CAF_CHECK_EQUAL(route(*this, {"x", "", "", {{"tier", "silver"}}}, wednesday_noon), "transfer silver");
}

CAF_TEST(branch on time of day and weekday in the flow time zone) {
  CAF_CHECK_EQUAL(route(*this, {}, wednesday_noon), "transfer open");
  // 16:30 UTC is 17:30 in Berlin: closed.
  CAF_CHECK_EQUAL(route(*this, {}, utc(2026, 1, 14, 16, 30)), "transfer closed");
  // In July Berlin is UTC+2: 15:30 UTC = 17:30 closed, 14:30 UTC = 16:30 open.
  CAF_CHECK_EQUAL(route(*this, {}, utc(2026, 7, 15, 15, 30)), "transfer closed");
  CAF_CHECK_EQUAL(route(*this, {}, utc(2026, 7, 15, 14, 30)), "transfer open");
  // Saturday noon: closed.
  CAF_CHECK_EQUAL(route(*this, {}, utc(2026, 1, 17, 12, 0)), "transfer closed");
}

CAF_TEST(branch on a time range across midnight in another zone) {
  // 04:00 UTC = 23:00 in New York (and 05:00 in Berlin).
  CAF_CHECK_EQUAL(route(*this, {}, utc(2026, 1, 14, 4, 0)), "transfer night");
  // Saturday 11:30 UTC = 06:30 in New York (after the night range), 12:30 in Berlin (weekend).
  CAF_CHECK_EQUAL(route(*this, {}, utc(2026, 1, 17, 11, 30)), "transfer closed");
}

CAF_TEST(branch time counts the durations of expired timers) {
  load(R"(name: t
version: 1
start: wait
prompts:
  q: q.wav
nodes:
  wait:
    kind: menu
    prompt: q
    first_digit_timeout: 10m
    max_no_input: 2
    on_exhausted: route
    options:
      "1": route
  route:
    kind: branch
    cases:
      - time: "09:00-10:00"
        next: open
    default: closed
  open: {kind: transfer, target: open}
  closed: {kind: transfer, target: closed}
)");
  start({}, utc(2026, 1, 14, 8, 45));
  finished();
  expire(1);
  finished();
  // 08:45 + 10 minutes of the first timeout + 10 of the second = 09:05.
  CAF_CHECK_EQUAL(expire(2), "transfer open");
}

CAF_TEST(set emits and stores variables and templates see them) {
  load(R"(name: s
version: 1
start: mark
nodes:
  mark:
    kind: set
    variables:
      opted_out: "1"
      origin: from-${caller}-${nothing}
    next: out
  out:
    kind: bridge
    endpoint: user/${opted_out}@${callee}
)");
  CAF_CHECK_EQUAL(start({"alice", "example.com", "", {}}),
                  "set opted_out=1; set origin=from-alice-; bridge user/1@example.com");
  CAF_CHECK_EQUAL(s->result(), outcome::bridged);
  CAF_CHECK_EQUAL(s->variables().at("origin"), "from-alice-");
}

CAF_TEST(the recorded path is capped for a caller who goes round and round) {
  load("name: r\nversion: 1\nstart: m\nprompts:\n  p: p.wav\nnodes:\n  m:\n    kind: menu\n    prompt: p\n"
       "    options:\n      \"1\": m\n      \"2\": out\n  out:\n    kind: hangup\n");
  start();
  for (int i = 0; i < 100; ++i)
    press('1');
  CAF_CHECK_EQUAL(s->path().size(), session::max_path_steps);
  CAF_CHECK(!s->finished());
  CAF_CHECK_EQUAL(press('2'), "stop; hangup NORMAL_CLEARING");
  CAF_CHECK_EQUAL(s->result(), outcome::hung_up_by_flow);
}

CAF_TEST(a session stays small) {
  CAF_CHECK_LESS_OR_EQUAL(sizeof(session), 320u);
  CAF_MESSAGE("sizeof(session) = " << sizeof(session));
}

CAF_TEST_FIXTURE_SCOPE_END()
