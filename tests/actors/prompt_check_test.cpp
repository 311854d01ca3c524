#define CAF_SUITE actors.prompt_check

#include "actors/prompt_check.hpp"

#include <functional>

#include <caf/test/unit_test.hpp>

#include "ivr/flow.hpp"

using namespace callgrid;
using namespace callgrid::actors;

namespace {

/// A flow `name` that plays each of `prompts` (name -> URI) in turn, then hangs up.
using prompt_list = std::vector<std::pair<std::string, std::string>>;

std::shared_ptr<const ivr::flow> make_flow(const std::string& name, const prompt_list& prompts) {
  std::string doc = "name: " + name + "\nversion: 1\nstart: greeting\nprompts:\n";
  for (const auto& [prompt, uri] : prompts)
    doc += "  " + prompt + ": \"" + uri + "\"\n";
  doc += "nodes:\n  greeting:\n    kind: play\n    prompts: [";
  for (std::size_t i = 0; i < prompts.size(); ++i)
    doc += (i ? ", " : "") + prompts[i].first;
  doc += "]\n    next: bye\n  bye:\n    kind: hangup\n    cause: NORMAL_CLEARING\n";
  auto loaded = ivr::load_flow(doc, name + ".yaml");
  for (const auto& d : loaded.problems)
    CAF_MESSAGE(ivr::render(d));
  CAF_REQUIRE(loaded.flow != nullptr);
  return loaded.flow;
}

engine_catalog make_catalog(std::vector<std::pair<std::string, prompt_list>> flows) {
  engine_catalog catalog;
  int64_t id = 1;
  for (auto& [name, prompts] : flows) {
    catalog.flows.emplace(id, make_flow(name, prompts));
    catalog.flow_names.emplace(id, name);
    ++id;
  }
  return catalog;
}

prompt_reply answer(std::string text) {
  return {true, std::move(text)};
}

/// Sends everything the plan offers, answering each with `reply(command)`.
void drain(prompt_check_plan& plan, const std::function<std::string(const std::string&)>& reply) {
  for (int guard = 0; guard < 1000 && !plan.idle(); ++guard) {
    auto requests = plan.next(4);
    if (requests.empty())
      break;
    for (const auto& r : requests) {
      if (r.uri.empty()) {
        plan.set_sounds_dir(answer(reply(r.command)));
        continue;
      }
      auto method = plan.find(r.uri)->method;
      auto status = interpret_prompt_reply(method, answer(reply(r.command)));
      static_cast<void>(plan.record(r.uri, status));
    }
  }
}

} // namespace

CAF_TEST(every file and http prompt of every flow is checked once and streams are left out) {
  auto catalog = make_catalog({
    {"main", {{"welcome", "ivr/welcome.wav"}, {"news", "https://media.example/news.wav"},
              {"beep", "tone_stream://%(200,0,440)"}, {"who", "ivr/${caller}.wav"}}},
    {"sales", {{"hello", "ivr/welcome.wav"}, {"jingle", "/srv/audio/jingle.wav"},
               {"cached", "http_cache://http://media.example/c.wav"}}},
  });
  auto targets = collect_prompt_targets(catalog);
  CAF_REQUIRE_EQUAL(targets.size(), 4u);
  CAF_CHECK_EQUAL(targets[0].uri, "/srv/audio/jingle.wav");
  CAF_CHECK(targets[0].method == prompt_check_method::file_exists);
  CAF_CHECK_EQUAL(targets[1].uri, "http_cache://http://media.example/c.wav");
  CAF_CHECK(targets[1].method == prompt_check_method::http_prefetch);
  CAF_CHECK_EQUAL(targets[2].uri, "https://media.example/news.wav");
  CAF_CHECK(targets[2].method == prompt_check_method::http_prefetch);
  const auto& shared = targets[3];
  CAF_CHECK_EQUAL(shared.uri, "ivr/welcome.wav");
  CAF_REQUIRE_EQUAL(shared.uses.size(), 2u);
  CAF_CHECK(shared.uses[0] == (prompt_use{"main", "welcome"}));
  CAF_CHECK(shared.uses[1] == (prompt_use{"sales", "hello"}));
}

CAF_TEST(relative paths are checked under sounds_dir as playback resolves them) {
  prompt_target relative{"ivr/welcome.wav", prompt_check_method::file_exists, {}};
  prompt_target absolute{"/srv/a.wav", prompt_check_method::file_exists, {}};
  prompt_target cached{"http_cache://http://m/x.wav", prompt_check_method::http_prefetch, {}};
  CAF_CHECK_EQUAL(prompt_check_command(relative, "/usr/share/freeswitch/sounds"),
                  "file_exists /usr/share/freeswitch/sounds/ivr/welcome.wav");
  CAF_CHECK_EQUAL(prompt_check_command(relative, ""), "file_exists ivr/welcome.wav");
  CAF_CHECK_EQUAL(prompt_check_command(absolute, "/snd/"), "file_exists /srv/a.wav");
  CAF_CHECK_EQUAL(prompt_check_command(cached, "/snd"), "http_prefetch http://m/x.wav");
}

CAF_TEST(answers are read as FreeSWITCH writes them) {
  using m = prompt_check_method;
  CAF_CHECK(interpret_prompt_reply(m::file_exists, answer("true")) == prompt_status::present);
  CAF_CHECK(interpret_prompt_reply(m::file_exists, answer("false")) == prompt_status::missing);
  CAF_CHECK(interpret_prompt_reply(m::file_exists, answer("-ERR file_exists Command not found!"))
            == prompt_status::unverified);
  CAF_CHECK(interpret_prompt_reply(m::http_prefetch, answer("+OK\n")) == prompt_status::warmed);
  CAF_CHECK(interpret_prompt_reply(m::http_prefetch, answer("-ERR")) == prompt_status::retry);
  CAF_CHECK(interpret_prompt_reply(m::http_prefetch,
                                   answer("-ERR http_prefetch Command not found!"))
            == prompt_status::not_warmed);
  CAF_CHECK(interpret_prompt_reply(m::file_exists, prompt_reply{false, "esl.disconnected"})
            == prompt_status::unchecked);
}

CAF_TEST(a missing file is counted once however many flows use it) {
  auto catalog = make_catalog({{"main", {{"welcome", "ivr/welcome.wav"}, {"gone", "ivr/gone.wav"}}},
                               {"other", {{"bye", "ivr/gone.wav"}}}});
  prompt_check_plan plan;
  plan.set_catalog(catalog);
  std::vector<std::string> commands;
  drain(plan, [&](const std::string& command) -> std::string {
    commands.push_back(command);
    if (command == "global_getvar sounds_dir")
      return "/snd";
    return command == "file_exists /snd/ivr/gone.wav" ? "false" : "true";
  });
  CAF_CHECK_EQUAL(commands.size(), 3u);
  CAF_CHECK_EQUAL(commands.front(), "global_getvar sounds_dir");
  CAF_CHECK_EQUAL(plan.size(), 2u);
  CAF_CHECK_EQUAL(plan.missing(), 1u);
  CAF_CHECK(plan.status("ivr/gone.wav") == prompt_status::missing);
  CAF_CHECK(plan.status("ivr/welcome.wav") == prompt_status::present);
}

CAF_TEST(no more than the allowed number of commands are in flight) {
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 3000; ++i)
    many.emplace_back("p" + std::to_string(i), "ivr/p" + std::to_string(i) + ".wav");
  auto catalog = make_catalog({{"big", many}});
  prompt_check_plan plan;
  plan.set_catalog(catalog);
  auto first = plan.next(4);
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_CHECK(plan.next(4).empty());
  plan.set_sounds_dir(answer("/snd"));
  auto batch = plan.next(4);
  CAF_CHECK_EQUAL(batch.size(), 4u);
  CAF_CHECK(plan.next(4).empty());
  static_cast<void>(plan.record(batch[0].uri, prompt_status::present));
  CAF_CHECK_EQUAL(plan.next(4).size(), 1u);
  CAF_CHECK_EQUAL(plan.in_flight(), 4u);
}

CAF_TEST(a catalog change checks only new prompts and prompts still missing) {
  prompt_check_plan plan;
  plan.set_catalog(make_catalog({{"main", {{"a", "ivr/a.wav"}, {"b", "ivr/b.wav"}}}}));
  drain(plan, [](const std::string& c) -> std::string {
    return c == "global_getvar sounds_dir" ? "/snd" : c.ends_with("b.wav") ? "false" : "true";
  });
  CAF_CHECK_EQUAL(plan.missing(), 1u);
  plan.set_catalog(
    make_catalog({{"main", {{"a", "ivr/a.wav"}, {"b", "ivr/b.wav"}, {"c", "ivr/c.wav"}}}}));
  std::vector<std::string> commands;
  drain(plan, [&](const std::string& c) -> std::string {
    commands.push_back(c);
    return "true";
  });
  CAF_REQUIRE_EQUAL(commands.size(), 2u);
  CAF_CHECK_EQUAL(commands[0], "file_exists /snd/ivr/b.wav");
  CAF_CHECK_EQUAL(commands[1], "file_exists /snd/ivr/c.wav");
  CAF_CHECK_EQUAL(plan.missing(), 0u);
}

CAF_TEST(a prompt dropped from the catalog no longer counts as missing) {
  prompt_check_plan plan;
  plan.set_catalog(make_catalog({{"main", {{"a", "ivr/a.wav"}, {"b", "ivr/b.wav"}}}}));
  drain(plan, [](const std::string& c) -> std::string {
    return c == "global_getvar sounds_dir" ? "/snd" : c.ends_with("b.wav") ? "false" : "true";
  });
  CAF_CHECK_EQUAL(plan.missing(), 1u);
  plan.set_catalog(make_catalog({{"main", {{"a", "ivr/a.wav"}}}}));
  CAF_CHECK_EQUAL(plan.missing(), 0u);
  CAF_CHECK_EQUAL(plan.size(), 1u);
  CAF_CHECK(plan.idle());
}

CAF_TEST(a reconnect checks everything again and asks for sounds_dir first) {
  prompt_check_plan plan;
  plan.set_catalog(make_catalog({{"main", {{"a", "ivr/a.wav"}, {"b", "/abs/b.wav"}}}}));
  drain(plan, [](const std::string& c) -> std::string {
    return c == "global_getvar sounds_dir" ? "/snd" : "true";
  });
  CAF_CHECK(plan.idle());
  plan.restart();
  std::vector<std::string> commands;
  drain(plan, [&](const std::string& c) -> std::string {
    commands.push_back(c);
    return c == "global_getvar sounds_dir" ? "/other" : "false";
  });
  CAF_REQUIRE_EQUAL(commands.size(), 3u);
  CAF_CHECK_EQUAL(commands[0], "global_getvar sounds_dir");
  CAF_CHECK_EQUAL(commands[1], "file_exists /abs/b.wav");
  CAF_CHECK_EQUAL(commands[2], "file_exists /other/ivr/a.wav");
  CAF_CHECK_EQUAL(plan.missing(), 2u);
}

CAF_TEST(a lost link leaves the unanswered checks for the next reconnect) {
  prompt_check_plan plan;
  plan.set_catalog(make_catalog({{"main", {{"a", "ivr/a.wav"}}}}));
  static_cast<void>(plan.next(4));
  plan.set_sounds_dir(answer("/snd"));
  auto sent = plan.next(4);
  CAF_REQUIRE_EQUAL(sent.size(), 1u);
  plan.link_lost();
  CAF_CHECK_EQUAL(plan.in_flight(), 0u);
  auto late = plan.record(sent[0].uri, prompt_status::unchecked);
  CAF_CHECK(late.target == nullptr);
  plan.restart();
  std::vector<std::string> commands;
  drain(plan, [&](const std::string& c) -> std::string {
    commands.push_back(c);
    return c == "global_getvar sounds_dir" ? "/snd" : "false";
  });
  CAF_CHECK_EQUAL(commands.size(), 2u);
  CAF_CHECK_EQUAL(plan.missing(), 1u);
}

CAF_TEST(a full prefetch queue is retried and counted as not warmed after the last try) {
  prompt_check_plan plan;
  plan.set_catalog(make_catalog({{"main", {{"news", "https://m/news.wav"}}}}));
  static_cast<void>(plan.next(4));
  plan.set_sounds_dir(answer(""));
  for (int attempt = 1; attempt <= prompt_check_plan::max_prefetch_attempts; ++attempt) {
    auto sent = plan.next(4);
    CAF_REQUIRE_EQUAL(sent.size(), 1u);
    CAF_CHECK_EQUAL(sent[0].command, "http_prefetch https://m/news.wav");
    auto change = plan.record(sent[0].uri, prompt_status::retry);
    if (attempt < prompt_check_plan::max_prefetch_attempts) {
      CAF_CHECK(change.after == prompt_status::retry);
      CAF_CHECK(plan.next(4).empty());
      CAF_CHECK_EQUAL(plan.release_retries(), 1u);
    } else {
      CAF_CHECK(change.after == prompt_status::not_warmed);
    }
  }
  CAF_CHECK_EQUAL(plan.missing(), 1u);
  CAF_CHECK(plan.idle());
}
