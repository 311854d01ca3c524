#define CAF_SUITE ivr.flow_loader

#include "ivr/flow.hpp"

#include <caf/test/unit_test.hpp>

#include <algorithm>

using namespace callgrid::ivr;

namespace {

// Every node kind, every optional field somewhere; loads without a single problem.
constexpr const char* complete_flow = R"(name: complete
version: 7
start: hello
language: de
prompts:
  hello: ivr/hello.wav
  menu: ivr/${language}/menu.wav
  again: ivr/again.wav
  wrong: ivr/wrong.wav
  pin: ivr/pin.wav
  sure: ivr/sure.wav
  tone: tone_stream://%(100,100,350)
globals:
  agent: agents XML default
  keys:
    "#": none
    "9": repeat
defaults:
  first_digit_timeout: 4s
  inter_digit_timeout: 1500ms
  max_no_input: 2
  max_invalid: 4
  max_tries: 2
  lookup_budget: 150ms
  failure_cause: CALL_REJECTED
  time_zone: Europe/Berlin
nodes:
  hello:
    kind: play
    prompts: [hello, tone]
    next: route
  route:
    kind: branch
    cases:
      - caller_prefix: ["+49", "0049"]
        caller_matches: "^\\+49"
        next: main
      - callee_prefix: "800"
        callee_matches: "00$"
        campaign: [spring, autumn]
        next: main
      - time: "22:00-06:00"
        days: [mon-fri, sun]
        time_zone: America/New_York
        next: remember
      - variable: tier
        equals: gold
        next: remember
      - variable: tier
        matches: "^s"
        next: remember
    default: main
  remember:
    kind: set
    variables:
      seen: "yes"
      from: ${caller}
    next: main
  main:
    kind: menu
    prompt: menu
    no_input_prompt: again
    invalid_prompt: wrong
    options:
      "1": pin_entry
      "12": sure
      "3": desk
      "4": line
    first_digit_timeout: 3s
    inter_digit_timeout: 1s
    max_no_input: 5
    max_invalid: 2
    on_exhausted: bye
    keys:
      "*": none
    global_keys: true
  pin_entry:
    kind: collect
    prompt: pin
    no_input_prompt: again
    invalid_prompt: wrong
    min_digits: 4
    max_digits: 8
    terminators: "#*"
    pattern: "[0-9]+"
    variable: pin
    first_digit_timeout: 6s
    inter_digit_timeout: 2s
    max_tries: 3
    next: check
    on_failure: bye
  check:
    kind: lookup
    key: pin:${caller}:${pin}
    budget: 300ms
    variable: pin_owner
    on_found: sure
    on_missing: main
    on_timeout: bye
  sure:
    kind: confirm
    description: irreversible
    prompt: sure
    confirm_key: "5"
    cancel_key: "6"
    timeout: 7s
    max_tries: 2
    no_input_prompt: again
    invalid_prompt: wrong
    on_confirm: desk
    on_cancel: main
    on_exhausted: bye
  desk:
    kind: transfer
    target: desk_${tier} XML default
  line:
    kind: bridge
    endpoint: sofia/gateway/carrier/${callee}
  bye:
    kind: hangup
    cause: NORMAL_CLEARING
)";

const diagnostic* find(const flow_load_result& r, std::string_view text) {
  for (const auto& d : r.problems)
    if (d.message.find(text) != std::string::npos)
      return &d;
  return nullptr;
}

std::string all(const flow_load_result& r) {
  std::string out;
  for (const auto& d : r.problems)
    out += render(d) + "\n";
  return out;
}

// A small valid flow; tests append or replace pieces of it.
std::string small_flow(const std::string& nodes) {
  return "name: small\nversion: 1\nstart: main\nprompts:\n  menu: ivr/menu.wav\n  hello: ivr/hello.wav\n"
         "globals:\n  agent: agents\nnodes:\n"
         + nodes;
}

constexpr const char* main_menu_node = "  main:\n    kind: menu\n    prompt: menu\n    options:\n      \"1\": bye\n"
                                       "  bye:\n    kind: hangup\n";

} // namespace

CAF_TEST(a flow using every node kind and field loads without problems) {
  auto r = load_flow(complete_flow, "complete.yaml");
  CAF_CHECK_EQUAL(all(r), "");
  CAF_REQUIRE(r.flow != nullptr);
  CAF_CHECK_EQUAL(r.flow->name(), "complete");
  CAF_CHECK_EQUAL(r.flow->version(), 7);
  CAF_CHECK_EQUAL(r.flow->language(), "de");
  CAF_CHECK_EQUAL(r.flow->node_ids().size(), 10u);
}

CAF_TEST(prompt uris for warming leave out templated uris and duplicates) {
  auto r = load_flow(complete_flow, "complete.yaml");
  CAF_REQUIRE(r.flow != nullptr);
  const std::vector<std::string> expected{"ivr/again.wav", "ivr/hello.wav", "ivr/pin.wav", "ivr/sure.wav",
                                          "ivr/wrong.wav", "tone_stream://%(100,100,350)"};
  CAF_CHECK_EQUAL(r.flow->prompt_uris(), expected);
}

CAF_TEST(the canonical JSON loads back into the same flow) {
  auto r = load_flow(complete_flow, "complete.yaml");
  CAF_REQUIRE(r.flow != nullptr);
  const auto json = r.flow->to_json();
  auto again = load_flow(json, "stored.json");
  CAF_CHECK_EQUAL(all(again), "");
  CAF_REQUIRE(again.flow != nullptr);
  CAF_CHECK_EQUAL(again.flow->to_json(), json);
}

CAF_TEST(a syntax error names the line and column) {
  auto r = load_flow("name: x\nnodes:\n  a: [1, 2\n", "broken.yaml");
  CAF_CHECK(r.flow == nullptr);
  CAF_REQUIRE_EQUAL(r.problems.size(), 1u);
  const auto& d = r.problems.front();
  CAF_CHECK_EQUAL(d.level, severity::error);
  CAF_CHECK_EQUAL(d.where.file, "broken.yaml");
  CAF_CHECK_GREATER(d.where.line, 0);
  CAF_CHECK_EQUAL(render(d).rfind("broken.yaml:", 0), 0u);
}

CAF_TEST(a JSON syntax error names the line and column) {
  auto r = load_flow("{\n  \"name\": \"x\",\n  \"nodes\": {\"a\": [1, 2}\n}\n", "broken.json");
  CAF_CHECK(r.flow == nullptr);
  CAF_REQUIRE_EQUAL(r.problems.size(), 1u);
  CAF_CHECK_EQUAL(r.problems.front().where.line, 3);
  CAF_CHECK_GREATER(r.problems.front().where.column, 0);
}

CAF_TEST(problems in JSON documents carry line and column) {
  auto r = load_flow("{\n  \"name\": \"j\",\n  \"version\": 1,\n  \"start\": \"a\",\n  \"nodes\": {\n"
                     "    \"a\": {\"kind\": \"transfer\", \"taget\": \"x\"}\n  }\n}\n",
                     "j.json");
  auto d = find(r, "unknown field 'taget'");
  CAF_REQUIRE(d != nullptr);
  CAF_CHECK_EQUAL(d->where.line, 6);
  CAF_CHECK_EQUAL(d->where.column, 31);
  CAF_CHECK_EQUAL(d->node, "a");
  CAF_CHECK(find(r, "did you mean 'target'") != nullptr);
}

CAF_TEST(an unknown node kind is an error at the kind value) {
  auto r = load_flow(small_flow("  main:\n    kind: mneu\n"), "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  auto d = find(r, "unknown node kind 'mneu' (did you mean 'menu'?)");
  CAF_REQUIRE(d != nullptr);
  CAF_CHECK_EQUAL(d->where.line, 11);
  CAF_CHECK_EQUAL(d->where.column, 11);
  CAF_CHECK_EQUAL(d->node, "main");
}

CAF_TEST(a misspelt field is an error with a suggestion) {
  auto r = load_flow(small_flow("  main:\n    kind: menu\n    promt: menu\n    options:\n      \"1\": bye\n"
                                "  bye:\n    kind: hangup\n"),
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  auto d = find(r, "unknown field 'promt' in a menu node (did you mean 'prompt'?)");
  CAF_REQUIRE(d != nullptr);
  CAF_CHECK_EQUAL(d->where.line, 12);
  CAF_CHECK_EQUAL(d->where.column, 5);
  auto missing = find(r, "missing required field 'prompt'");
  CAF_REQUIRE(missing != nullptr);
  CAF_CHECK_EQUAL(missing->where.line, 10);  // at the node's id
  CAF_CHECK_EQUAL(missing->where.column, 3);
}

CAF_TEST(a dangling target is an error at the target with a suggestion) {
  auto r = load_flow(small_flow("  main:\n    kind: menu\n    prompt: menu\n    options:\n      \"1\": byee\n"
                                "  bye:\n    kind: hangup\n"),
                     "main.yaml");
  CAF_CHECK(r.flow == nullptr);
  auto d = find(r, "target 'byee' does not exist (did you mean 'bye'?)");
  CAF_REQUIRE(d != nullptr);
  CAF_CHECK_EQUAL(d->where.line, 14);
  CAF_CHECK_EQUAL(d->where.column, 12);
  CAF_CHECK_EQUAL(render(*d), "main.yaml:14:12: error: node 'main': target 'byee' does not exist (did you mean "
                              "'bye'?)");
}

CAF_TEST(a prompt missing from the flow and the catalog is an error) {
  auto r = load_flow(small_flow("  main:\n    kind: menu\n    prompt: menu_x\n    options:\n      \"1\": bye\n"
                                "  bye:\n    kind: hangup\n"),
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  auto d = find(r, "prompt 'menu_x' is not in the flow's prompts nor in the prompt catalog");
  CAF_REQUIRE(d != nullptr);
  CAF_CHECK_EQUAL(d->where.line, 12);
  CAF_CHECK_EQUAL(d->where.column, 13);
}

CAF_TEST(a prompt from the catalog is accepted and plays the URI the catalog gives it) {
  const prompt_catalog catalog{{"shared/menu", "/var/lib/prompts/en/menu.wav"}};
  auto r = load_flow(small_flow("  main:\n    kind: menu\n    prompt: shared/menu\n    options:\n"
                                "      \"1\": bye\n  bye:\n    kind: hangup\n"),
                     "f.yaml", catalog);
  CAF_REQUIRE(r.flow != nullptr);
  const auto uris = r.flow->prompt_uris();
  CAF_CHECK(std::find(uris.begin(), uris.end(), "/var/lib/prompts/en/menu.wav") != uris.end());
  CAF_CHECK(std::find(uris.begin(), uris.end(), "shared/menu") == uris.end());
  // The stored form refers to the catalog by name: it loads with the catalog of the moment
  // (a changed URI applies at the next load) and not without one.
  const auto stored = r.flow->to_json();
  CAF_CHECK(stored.find("/var/lib/prompts") == std::string::npos);
  auto moved = load_flow(stored, "stored.json", {{"shared/menu", "/srv/prompts/menu.wav"}});
  CAF_REQUIRE(moved.flow != nullptr);
  const auto moved_uris = moved.flow->prompt_uris();
  CAF_CHECK(std::find(moved_uris.begin(), moved_uris.end(), "/srv/prompts/menu.wav")
            != moved_uris.end());
  auto alone = load_flow(stored, "stored.json");
  CAF_CHECK(alone.flow == nullptr);
  CAF_CHECK(find(alone, "prompt 'shared/menu' is not in the flow's prompts nor in the prompt catalog")
            != nullptr);
}

CAF_TEST(unreachable nodes and unused prompts are warnings only) {
  auto r = load_flow(small_flow(std::string{main_menu_node} + "  lost:\n    kind: hangup\n"), "f.yaml");
  CAF_CHECK(r.flow != nullptr);
  CAF_CHECK_EQUAL(r.count(severity::error), 0u);
  auto d = find(r, "unreachable from the start node 'main'");
  CAF_REQUIRE(d != nullptr);
  CAF_CHECK_EQUAL(d->level, severity::warning);
  CAF_CHECK_EQUAL(d->node, "lost");
  CAF_CHECK_EQUAL(d->where.line, 17);
  auto unused = find(r, "prompt 'hello' is never used");
  CAF_REQUIRE(unused != nullptr);
  CAF_CHECK_EQUAL(unused->level, severity::warning);
  CAF_CHECK_EQUAL(unused->where.line, 6);
}

CAF_TEST(a play to play cycle is a loop without caller input) {
  auto r = load_flow(small_flow("  main:\n    kind: play\n    prompt: menu\n    next: again\n"
                                "  again:\n    kind: play\n    prompt: hello\n    next: main\n"),
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  auto d = find(r, "loop that repeats without caller input: main -> again -> main");
  CAF_REQUIRE(d != nullptr);
  CAF_CHECK_EQUAL(d->where.line, 10);
  CAF_CHECK_EQUAL(d->node, "main");
}

CAF_TEST(branch and set cycles are loops without caller input) {
  auto r = load_flow(small_flow("  main:\n    kind: branch\n    cases:\n      - campaign: x\n        next: mark\n"
                                "    default: mark\n  mark:\n    kind: set\n    variables:\n      a: \"1\"\n"
                                "    next: main\n"),
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  CAF_CHECK(find(r, "loop that repeats without caller input: main -> mark -> main") != nullptr);
}

CAF_TEST(a menu whose exhaustion leads back to itself is a loop) {
  auto r = load_flow(small_flow("  main:\n    kind: menu\n    prompt: menu\n    on_exhausted: sorry\n    options:\n"
                                "      \"1\": bye\n  sorry:\n    kind: play\n    prompt: hello\n    next: main\n"
                                "  bye:\n    kind: hangup\n"),
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  CAF_CHECK(find(r, "loop that repeats without caller input: main -> sorry -> main") != nullptr);
}

CAF_TEST(loops through a key press are allowed) {
  auto r = load_flow(small_flow("  main:\n    kind: menu\n    prompt: menu\n    options:\n      \"1\": info\n"
                                "      \"2\": bye\n  info:\n    kind: play\n    prompt: hello\n    next: main\n"
                                "  bye:\n    kind: hangup\n"),
                     "f.yaml");
  CAF_CHECK_EQUAL(all(r), "");
  CAF_CHECK(r.flow != nullptr);
}

CAF_TEST(a menu with no way out is an error) {
  auto r = load_flow("name: s\nversion: 1\nstart: main\nprompts:\n  menu: ivr/menu.wav\nnodes:\n"
                     "  main:\n    kind: menu\n    prompt: menu\n    options:\n      \"1\": main\n",
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  auto d = find(r, "menu has no way out");
  CAF_REQUIRE(d != nullptr);
  CAF_CHECK_EQUAL(d->where.line, 7);
  CAF_CHECK_EQUAL(d->where.column, 3);
}

CAF_TEST(the agent key counts as a way out of a menu) {
  auto r = load_flow(small_flow("  main:\n    kind: menu\n    prompt: menu\n    options:\n      \"1\": main\n"),
                     "f.yaml");
  CAF_CHECK(find(r, "menu has no way out") == nullptr);
  CAF_CHECK(r.flow != nullptr);
}

CAF_TEST(an invalid regular expression is an error at the pattern) {
  auto r = load_flow(small_flow("  main:\n    kind: collect\n    prompt: menu\n    max_digits: 4\n"
                                "    pattern: \"[0-9\"\n    variable: pin\n    next: bye\n  bye:\n    kind: hangup\n"),
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  auto d = find(r, "invalid regular expression '[0-9'");
  CAF_REQUIRE(d != nullptr);
  CAF_CHECK_EQUAL(d->where.line, 14);
  CAF_CHECK_EQUAL(d->where.column, 14);
}

CAF_TEST(min digits above max digits is an error) {
  auto r = load_flow(small_flow("  main:\n    kind: collect\n    prompt: menu\n    min_digits: 6\n    max_digits: 4\n"
                                "    variable: pin\n    next: bye\n  bye:\n    kind: hangup\n"),
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  auto d = find(r, "min_digits (6) is greater than max_digits (4)");
  CAF_REQUIRE(d != nullptr);
  CAF_CHECK_EQUAL(d->where.line, 13);
}

CAF_TEST(durations need a known unit and a sane range) {
  auto r = load_flow(small_flow("  main:\n    kind: menu\n    prompt: menu\n    first_digit_timeout: 5\n"
                                "    inter_digit_timeout: 2h\n    options:\n      \"1\": look\n"
                                "  look:\n    kind: lookup\n    key: k\n    budget: 0ms\n    on_found: bye\n"
                                "    on_missing: bye\n  bye:\n    kind: hangup\n"),
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  auto no_unit = find(r, "bad duration '5' (a unit is required");
  CAF_REQUIRE(no_unit != nullptr);
  CAF_CHECK_EQUAL(no_unit->where.line, 13);
  CAF_CHECK_EQUAL(no_unit->where.column, 26);
  CAF_CHECK(find(r, "bad duration '2h' (unknown unit") != nullptr);
  CAF_CHECK(find(r, "bad duration '0ms' (must be from 1ms") != nullptr);
}

CAF_TEST(an unknown time zone is an error) {
  auto r = load_flow(small_flow("  main:\n    kind: branch\n    cases:\n      - time: \"09:00-17:00\"\n"
                                "        time_zone: Europe/Berlinn\n        next: bye\n    default: bye\n"
                                "  bye:\n    kind: hangup\n"),
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  auto d = find(r, "unknown time zone 'Europe/Berlinn'");
  CAF_REQUIRE(d != nullptr);
  CAF_CHECK_EQUAL(d->where.line, 14);
  CAF_CHECK_EQUAL(d->where.column, 20);
}

CAF_TEST(bad times and days in a branch are errors) {
  auto r = load_flow(small_flow("  main:\n    kind: branch\n    cases:\n      - time: \"9-17\"\n"
                                "        days: [mon-fry]\n        next: bye\n    default: bye\n"
                                "  bye:\n    kind: hangup\n"),
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  CAF_CHECK(find(r, "'time' must be a range HH:MM-HH:MM") != nullptr);
  CAF_CHECK(find(r, "'mon-fry' is not a day") != nullptr);
}

CAF_TEST(duplicate node ids are an error at the second definition) {
  auto r = load_flow(small_flow(std::string{main_menu_node} + "  bye:\n    kind: hangup\n"), "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  auto d = find(r, "duplicate node id");
  CAF_REQUIRE(d != nullptr);
  CAF_CHECK_EQUAL(d->where.line, 17);
  CAF_CHECK_EQUAL(d->node, "bye");
}

CAF_TEST(a missing or unknown start node is an error) {
  auto missing = load_flow("name: s\nversion: 1\nnodes:\n  bye:\n    kind: hangup\n", "f.yaml");
  CAF_CHECK(missing.flow == nullptr);
  CAF_CHECK(find(missing, "missing required field 'start'") != nullptr);
  auto unknown = load_flow("name: s\nversion: 1\nstart: hello\nnodes:\n  bye:\n    kind: hangup\n", "f.yaml");
  CAF_CHECK(unknown.flow == nullptr);
  auto d = find(unknown, "start node 'hello' does not exist");
  CAF_REQUIRE(d != nullptr);
  CAF_CHECK_EQUAL(d->where.line, 3);
  CAF_CHECK_EQUAL(d->where.column, 8);
}

CAF_TEST(every problem is reported not only the first) {
  auto r = load_flow(small_flow("  main:\n    kind: menu\n    prompt: nope\n    options:\n      \"1\": gone\n"
                                "    max_invalid: 99\n  other:\n    kind: teleport\n"),
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  CAF_CHECK(find(r, "prompt 'nope'") != nullptr);
  CAF_CHECK(find(r, "target 'gone' does not exist") != nullptr);
  CAF_CHECK(find(r, "'max_invalid' must be a whole number from 1 to 20") != nullptr);
  CAF_CHECK(find(r, "unknown node kind 'teleport'") != nullptr);
  CAF_CHECK_GREATER_OR_EQUAL(r.count(severity::error), 4u);
  // Sorted by position in the document.
  for (std::size_t i = 1; i < r.problems.size(); ++i)
    CAF_CHECK_LESS_OR_EQUAL(r.problems[i - 1].where.line, r.problems[i].where.line);
}

CAF_TEST(variable names and templates are checked) {
  auto r = load_flow(small_flow("  main:\n    kind: set\n    variables:\n      caller: x\n      ok: ${unclosed\n"
                                "    next: bye\n  bye:\n    kind: transfer\n    target: ${9bad}\n"),
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  CAF_CHECK(find(r, "'caller' is reserved") != nullptr);
  CAF_CHECK(find(r, "unterminated '${'") != nullptr);
  CAF_CHECK(find(r, "bad variable name '9bad'") != nullptr);
}

CAF_TEST(control characters in uris and targets are refused) {
  auto r = load_flow("name: s\nversion: 1\nstart: t\nnodes:\n  t:\n    kind: transfer\n"
                     "    target: \"a\\nsendmsg x\"\n",
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  CAF_CHECK(find(r, "control characters") != nullptr);
}

CAF_TEST(a document that is not a mapping is refused) {
  for (const char* text : {"", "- a\n- b\n", "just text"}) {
    auto r = load_flow(text, "f.yaml");
    CAF_CHECK(r.flow == nullptr);
    CAF_CHECK_EQUAL(r.count(severity::error), 1u);
  }
}

CAF_TEST(an unreadable file is one error naming the file) {
  auto r = load_flow_file("/nonexistent/flow.yaml");
  CAF_CHECK(r.flow == nullptr);
  CAF_REQUIRE_EQUAL(r.problems.size(), 1u);
  CAF_CHECK_EQUAL(render(r.problems.front()), "/nonexistent/flow.yaml: error: cannot read the file");
}

CAF_TEST(a document that is not UTF-8 is refused at the first bad byte) {
  auto r = load_flow("name: ok\nversion: 1\nstart: \xff\xfe\n", "latin1.yaml");
  CAF_CHECK(r.flow == nullptr);
  CAF_REQUIRE_EQUAL(r.problems.size(), 1u);
  const auto& d = r.problems.front();
  CAF_CHECK_EQUAL(d.message, "the document is not valid UTF-8");
  CAF_CHECK_EQUAL(d.where.line, 3);
  CAF_CHECK_EQUAL(d.where.column, 8);
}

CAF_TEST(a misspelt top level field and bad keys are reported) {
  auto r = load_flow("name: s\nversion: 1\nstart: ask\nprompt:\n  x: x.wav\nnodes:\n  ask:\n    kind: confirm\n"
                     "    prompt: x\n    confirm_key: \"1\"\n    cancel_key: \"1\"\n    on_confirm: ask\n"
                     "    on_cancel: ask\n  m:\n    kind: menu\n    prompt: x\n    options:\n      \"1x\": ask\n",
                     "f.yaml");
  CAF_CHECK(r.flow == nullptr);
  auto typo = find(r, "unknown field 'prompt' in the flow (did you mean 'prompts'?)");
  CAF_REQUIRE(typo != nullptr);
  CAF_CHECK_EQUAL(typo->where.line, 4);
  CAF_CHECK_EQUAL(typo->where.column, 1);
  CAF_CHECK(find(r, "confirm_key and cancel_key must differ") != nullptr);
  CAF_CHECK(find(r, "option '1x' must be 1 to 8 DTMF keys") != nullptr);
}
