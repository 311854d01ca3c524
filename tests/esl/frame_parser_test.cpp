#define CAF_SUITE esl.frame_parser

#include <caf/test/unit_test.hpp>

#include <array>
#include <cstdlib>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "capture_transcript.hpp"
#include "esl/ascii.hpp"
#include "esl/frame_parser.hpp"
#include "esl/percent_codec.hpp"
#include "frame_test_helpers.hpp"

using namespace callgrid;
using namespace callgrid::esl;
using esl::testing::parse_all;
using esl::testing::str;

namespace {

std::vector<frame> frames_of(const std::string& capture_name) {
  auto parsed = parse_all(test_support::load_capture(capture_name).received);
  CAF_REQUIRE(parsed);
  return std::move(*parsed);
}

const frame& first_event(const std::vector<frame>& frames, std::string_view name) {
  for (const auto& f : frames)
    if (f.event_name() == name)
      return f;
  CAF_FAIL("no event " << std::string{name});
  return frames.front();
}

} // namespace

CAF_TEST(an api response keeps its body byte for byte including a leading blank line) {
  auto frames = frames_of("02_api_responses");
  CAF_CHECK(frames[0].type() == content_type::auth_request);
  CAF_CHECK(frames[1].type() == content_type::command_reply);
  CAF_CHECK_EQUAL(str(frames[1].reply_text()), "+OK accepted");
  CAF_CHECK(frames[4].type() == content_type::api_response);
  CAF_CHECK_EQUAL(str(frames[4].body()), "\n0 total.\n");
}

CAF_TEST(plain event values are percent-decoded and names are kept) {
  auto frames = frames_of("04_call_plain_events");
  const auto& create = first_event(frames, "CHANNEL_CREATE");
  CAF_CHECK(create.type() == content_type::event_plain);
  CAF_CHECK_EQUAL(create.unique_id().size(), 36u);
  CAF_CHECK_EQUAL(str(*create.field("Caller-Caller-ID-Name")), "Fs Build");
  CAF_CHECK_EQUAL(str(*create.field("FreeSWITCH-IPv6")), "fd00::2");
  CAF_CHECK(create.field("Event-Date-Local")->find(':') != std::string_view::npos);
  CAF_CHECK(create.field("caller-caller-id-name")); // lookups ignore ASCII case
  CAF_CHECK(!create.field("No-Such-Header"));
}

CAF_TEST(a plain event names its Event-Name Unique-ID and Job-UUID as its fields say) {
  std::size_t plain = 0;
  for (const auto& f : frames_of("04_call_plain_events")) {
    if (f.type() != content_type::event_plain)
      continue;
    ++plain;
    CAF_CHECK_EQUAL(str(f.event_name()), str(f.field("Event-Name").value_or("")));
    CAF_CHECK_EQUAL(str(f.unique_id()), str(f.field("Unique-ID").value_or("")));
    CAF_CHECK_EQUAL(str(f.job_uuid()), str(f.field("Job-UUID").value_or("")));
  }
  CAF_CHECK(plain > 10);
  // Decoded like every value; a line that only starts like one of the names is not it.
  std::string body = "Event-Name: CUSTOM\nUnique-IDs: no\nUnique-ID: abc%2Ddef\n"
                     "Job-UUIDx: no\nJob-UUID: j%201\n\n";
  auto parsed = parse_all("Content-Length: " + std::to_string(body.size())
                          + "\nContent-Type: text/event-plain\n\n" + body);
  CAF_REQUIRE(parsed);
  CAF_REQUIRE_EQUAL(parsed->size(), 1u);
  CAF_CHECK_EQUAL(str(parsed->front().event_name()), "CUSTOM");
  CAF_CHECK_EQUAL(str(parsed->front().unique_id()), "abc-def");
  CAF_CHECK_EQUAL(str(parsed->front().job_uuid()), "j 1");
}

CAF_TEST(values with many escapes decode at every position in the stream) {
  // The scanner looks at 16 bytes at a time and skips a line's '%' after its first one; shift
  // the same lines through every alignment, with '%' in names, dense escapes and bare '%'.
  const std::vector<std::pair<std::string, std::string>> fields{
    {"Event-Name", "CUSTOM"},
    {"Event-Date-Local", "2026-11-27 10:41:07"},
    {"Odd%Name", "a%b"},
    {"variable_dense", "%%%::%%;;==@@"},
    {"variable_tail", "ends with %"},
    {"variable_plain", "nothing to decode here at all, just a long plain value"},
    {"variable_utf8", "\xe2\x82\xac \xc3\xa9"},
  };
  for (std::size_t pad = 0; pad < 17; ++pad) {
    std::string body = "X-Pad: " + std::string(pad, 'p') + "\n";
    for (const auto& [name, value] : fields) {
      std::string encoded;
      percent_encode(value, encoded);
      body += name + ": " + encoded + "\n";
    }
    body += "\n";
    auto wire = "Content-Length: " + std::to_string(body.size())
                + "\nContent-Type: text/event-plain\n\n" + body;
    auto parsed = parse_all(wire);
    CAF_REQUIRE(parsed);
    CAF_REQUIRE_EQUAL(parsed->size(), 1u);
    const auto& event = parsed->front();
    for (const auto& [name, value] : fields) {
      auto got = event.field(name);
      CAF_REQUIRE(got);
      CAF_CHECK_EQUAL(str(*got), value);
    }
  }
}

CAF_TEST(a plain BACKGROUND_JOB carries its result as the event body) {
  auto frames = frames_of("04_call_plain_events");
  const auto& job = first_event(frames, "BACKGROUND_JOB");
  CAF_CHECK(!job.job_uuid().empty());
  CAF_CHECK(job.event_body().find("FreeSWITCH (Version 1.10.12") != std::string_view::npos);
  CAF_CHECK_EQUAL(std::to_string(job.event_body().size()), str(*job.field("Content-Length")));
}

CAF_TEST(a bgapi reply carries the Job-UUID the caller chose) {
  auto frames = frames_of("04_call_plain_events");
  bool found = false;
  for (const auto& f : frames)
    if (f.type() == content_type::command_reply
        && f.job_uuid() == "11111111-2222-3333-4444-555555555555") {
      found = true;
      CAF_CHECK_EQUAL(str(f.reply_text()), "+OK Job-UUID: 11111111-2222-3333-4444-555555555555");
    }
  CAF_CHECK(found);
}

CAF_TEST(a json event is decoded with its body under _body) {
  auto frames = frames_of("09_json_background_job");
  const auto& job = first_event(frames, "BACKGROUND_JOB");
  CAF_CHECK(job.type() == content_type::event_json);
  CAF_CHECK_EQUAL(str(*job.field("Job-Command")), "status");
  CAF_CHECK(job.event_body().find("\nFreeSWITCH (Version") != std::string_view::npos);
  CAF_CHECK(!job.field("_body"));
}

CAF_TEST(json events with duplicate keys keep every occurrence) {
  // The second CODEC event of this capture names Channel-Write-Codec-Name twice.
  auto frames = frames_of("05_json_events_ALL");
  std::size_t most = 0;
  for (const auto& f : frames) {
    if (f.event_name() != "CODEC")
      continue;
    std::size_t count = 0;
    for (const auto& field : f.event_fields())
      if (field.name == "Channel-Write-Codec-Name")
        ++count;
    most = std::max(most, count);
  }
  CAF_CHECK_EQUAL(most, 2u);
}

CAF_TEST(the outbound connect reply is channel data with decoded values) {
  auto frames = frames_of("11_outbound_socket_linger");
  const auto& data = frames[0];
  CAF_CHECK(data.type() == content_type::channel_data);
  CAF_CHECK_EQUAL(str(data.event_name()), "CHANNEL_DATA");
  CAF_CHECK_EQUAL(str(data.reply_text()), "+OK\n");
  CAF_CHECK_EQUAL(str(*data.header("Reply-Text")), "%2BOK%0A");
  CAF_CHECK_EQUAL(str(*data.field("Socket-Mode")), "async");
  CAF_CHECK_EQUAL(str(data.unique_id()), "cb9194d6-40ab-43b6-b4c0-fc18cb2a53b7");
}

CAF_TEST(disconnect notices with and without linger are recognised) {
  auto linger_frames = frames_of("11_outbound_socket_linger");
  const auto& linger = linger_frames.back();
  CAF_CHECK(linger.type() == content_type::disconnect_notice);
  CAF_CHECK_EQUAL(str(*linger.header("Content-Disposition")), "linger");
  CAF_CHECK_EQUAL(str(*linger.header("Linger-Time")), "-1");
  auto bye_frames = frames_of("01_auth_handshake_ok");
  const auto& bye = bye_frames.back();
  CAF_CHECK(bye.type() == content_type::disconnect_notice);
  CAF_CHECK(!bye.header("Content-Disposition"));
  CAF_CHECK_EQUAL(str(bye.body()),
                  "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n");
}

CAF_TEST(log data and xml events are surfaced with their raw bodies) {
  auto logs = frames_of("08_log_data_frames");
  CAF_CHECK(logs[4].type() == content_type::log_data);
  CAF_CHECK(logs[4].header("Log-Level"));
  CAF_CHECK(!logs[4].body().empty());
  auto xml = frames_of("06_xml_event");
  std::size_t xml_events = 0;
  for (const auto& f : xml)
    if (f.type() == content_type::event_xml) {
      ++xml_events;
      CAF_CHECK(f.body().find("<event>") != std::string_view::npos);
    }
  CAF_CHECK_EQUAL(xml_events, 4u);
}

CAF_TEST(an unknown content type is surfaced with its text) {
  auto frames = parse_all("Content-Type: text/rude-rejection\nContent-Length: 3\n\nno!");
  CAF_REQUIRE(frames);
  CAF_REQUIRE_EQUAL(frames->size(), 1u);
  CAF_CHECK((*frames)[0].type() == content_type::unknown);
  CAF_CHECK_EQUAL(str((*frames)[0].content_type_text()), "text/rude-rejection");
  CAF_CHECK_EQUAL(str((*frames)[0].body()), "no!");
}

CAF_TEST(headers may come in any order) {
  auto frames = parse_all("Content-Length: 2\nX-Other: y\nContent-Type: api/response\n\nok"
                          "Content-Type: command/reply\nReply-Text: +OK\n\n");
  CAF_REQUIRE(frames);
  CAF_REQUIRE_EQUAL(frames->size(), 2u);
  CAF_CHECK(frames->at(0).type() == content_type::api_response);
  CAF_CHECK_EQUAL(str(frames->at(0).body()), "ok");
  CAF_CHECK_EQUAL(str(frames->at(1).reply_text()), "+OK");
}

CAF_TEST(frames survive moves and the parser reusing its buffer) {
  frame_parser parser;
  frame first;
  parser.feed("Content-Type: api/response\nContent-Length: 5\n\nfirst");
  CAF_REQUIRE(esl::testing::got_frame(parser.next(first)));
  parser.feed("Content-Type: api/response\nContent-Length: 6\n\nsecond");
  frame second;
  CAF_REQUIRE(esl::testing::got_frame(parser.next(second)));
  frame moved = std::move(first);
  CAF_CHECK_EQUAL(str(moved.body()), "first");
  CAF_CHECK_EQUAL(str(second.body()), "second");
}

CAF_TEST(a dropped frame leaves its block for the next frame parsed on the thread) {
  frame_parser parser;
  auto api = [](const std::string& body) {
    return "Content-Type: api/response\nContent-Length: " + std::to_string(body.size())
           + "\n\n" + body;
  };
  const char* first_block = nullptr;
  {
    frame first;
    parser.feed(api(std::string(3000, 'a')));
    CAF_REQUIRE(esl::testing::got_frame(parser.next(first)));
    first_block = first.body().data();
  }
  frame second;
  parser.feed(api(std::string(2900, 'b')));
  CAF_REQUIRE(esl::testing::got_frame(parser.next(second)));
  CAF_CHECK_EQUAL(static_cast<const void*>(second.body().data()),
                  static_cast<const void*>(first_block));
  CAF_CHECK_EQUAL(str(second.body()), std::string(2900, 'b'));
  // A frame dropped on another thread goes to that thread's cache; one above the cached sizes
  // goes to the heap. Both stay intact until dropped.
  frame big;
  parser.feed(api(std::string(200'000, 'c')));
  CAF_REQUIRE(esl::testing::got_frame(parser.next(big)));
  CAF_CHECK_EQUAL(big.body().size(), 200'000u);
  std::thread other{[moved = std::move(second), huge = std::move(big)]() mutable {
    CAF_CHECK_EQUAL(moved.body().front(), 'b');
    CAF_CHECK_EQUAL(huge.body().back(), 'c');
    frame dropped = std::move(moved);
  }};
  other.join();
}

CAF_TEST(reads can land straight in the parser buffer) {
  frame_parser parser;
  std::string_view wire = "Content-Type: auth/request\n\n";
  auto space = parser.prepare(wire.size());
  CAF_REQUIRE(space.size() >= wire.size());
  std::copy(wire.begin(), wire.end(), space.begin());
  parser.commit(wire.size());
  frame f;
  CAF_CHECK(esl::testing::got_frame(parser.next(f)));
  CAF_CHECK(f.type() == content_type::auth_request);
  CAF_CHECK_EQUAL(parser.buffered_bytes(), 0u);
  CAF_CHECK_EQUAL(parser.consumed_bytes(), wire.size());
}

CAF_TEST(a command stream yields the command line and its headers and body) {
  auto frames = parse_all("api status\n\nsendmsg abc\ncall-command: execute\n"
                          "execute-app-name: playback\ncontent-length: 4\n\nfileexit\n\n",
                          stream_direction::to_freeswitch);
  CAF_REQUIRE(frames);
  CAF_REQUIRE_EQUAL(frames->size(), 3u);
  CAF_CHECK_EQUAL(str(frames->at(0).command_line()), "api status");
  CAF_CHECK_EQUAL(str(frames->at(1).command_line()), "sendmsg abc");
  CAF_CHECK_EQUAL(str(*frames->at(1).header("execute-app-name")), "playback");
  CAF_CHECK_EQUAL(str(frames->at(1).body()), "file");
  CAF_CHECK_EQUAL(str(frames->at(2).command_line()), "exit");
}

namespace {

frame single_json_event(const std::string& json) {
  auto frames = parse_all("Content-Length: " + std::to_string(json.size())
                          + "\nContent-Type: text/event-json\n\n" + json);
  CAF_REQUIRE(frames);
  CAF_REQUIRE_EQUAL(frames->size(), 1u);
  return std::move(frames->front());
}

} // namespace

CAF_TEST(json escapes are decoded including surrogate pairs) {
  auto ev = single_json_event(R"({"Event-Name":"CUSTOM","A":"line\nbreak \"quoted\" \\ \/",)"
                              R"("B":"caf\u00e9 \ud83d\ude00","_body":"x\ty"})");
  CAF_CHECK_EQUAL(str(*ev.field("A")), "line\nbreak \"quoted\" \\ /");
  CAF_CHECK_EQUAL(str(*ev.field("B")), "caf\xc3\xa9 \xf0\x9f\x98\x80");
  CAF_CHECK_EQUAL(str(ev.event_body()), "x\ty");
  CAF_CHECK_EQUAL(ev.event_fields().size(), 3u);
}

CAF_TEST(json with whitespace and non-string values is still read) {
  auto ev = single_json_event("{\n  \"Event-Name\" : \"CUSTOM\",\n  \"Count\": 3,\n"
                              "  \"Nested\": {\"a\": [1, 2]}\n}\n");
  CAF_CHECK_EQUAL(str(ev.event_name()), "CUSTOM");
  CAF_CHECK_EQUAL(str(*ev.field("Count")), "3");
  CAF_CHECK_EQUAL(str(*ev.field("Nested")), R"({"a":[1,2]})");
}

CAF_TEST(json that is not an object or has a bad escape is an error) {
  for (std::string bad : {R"(["Event-Name"])", R"({"A":"\x"})", R"({"A":"\ud800"})",
                          "{\"A\":\"raw\ncontrol\"}", R"({"A":"b")"}) {
    auto frames = parse_all("Content-Length: " + std::to_string(bad.size())
                            + "\nContent-Type: text/event-json\n\n" + bad);
    CAF_CHECK(!frames);
  }
}

// -- a plain event's values are decoded when read ---------------------------------------------

namespace {

/// The first field called `name` in `fields`, compared as field() compares names.
std::optional<std::string_view> first_in(std::span<const header_field> fields,
                                         std::string_view name) {
  for (const auto& f : fields)
    if (esl::iequals(f.name, name))
      return f.value;
  return std::nullopt;
}

} // namespace

CAF_TEST(a lookup before decoding answers as the decoded table does for every field) {
  // Two parses of each capture: one is looked up field by field with nothing decoded yet (a
  // value with an escape decodes the table), the other decodes its table first.
  for (const auto* name : {"04_call_plain_events", "07_inbound_sendmsg_execute"}) {
    auto looked_up = frames_of(name);
    auto decoded = frames_of(name);
    std::size_t compared = 0;
    for (std::size_t i = 0; i < decoded.size(); ++i) {
      if (decoded[i].type() != content_type::event_plain)
        continue;
      auto table = decoded[i].event_fields();
      CAF_REQUIRE(!table.empty());
      for (const auto& field : table) {
        auto got = looked_up[i].field(field.name);
        CAF_REQUIRE(got);
        CAF_CHECK_EQUAL(str(*got), str(*first_in(table, field.name)));
        ++compared;
      }
      CAF_CHECK(!looked_up[i].field("No-Such-Field"));
    }
    CAF_CHECK(compared > 500);
  }
}

CAF_TEST(find_fields answers several names in one pass as field does) {
  std::string body = "Event-Name: CUSTOM\nAnswer-State: ringing\nanswer-state: second\n"
                     "Caller-Caller-ID-Number: %2B15551234\nEmpty:\nUnique-ID: u-1\n\n";
  auto wire = "Content-Length: " + std::to_string(body.size())
              + "\nContent-Type: text/event-plain\n\n" + body;
  const std::array<std::string_view, 5> names{"ANSWER-STATE", "Unique-ID", "Missing", "Empty",
                                              "Event-Name"};
  // Plain values only: answered from the wire lines.
  {
    auto parsed = parse_all(wire);
    CAF_REQUIRE(parsed);
    std::array<std::optional<std::string_view>, 5> found;
    parsed->front().find_fields(names, found);
    CAF_CHECK_EQUAL(str(found[0].value_or("-")), "ringing"); // the first, any case
    CAF_CHECK_EQUAL(str(found[1].value_or("-")), "u-1");
    CAF_CHECK(!found[2]);
    CAF_CHECK(found[3] && found[3]->empty());
    CAF_CHECK_EQUAL(str(found[4].value_or("-")), "CUSTOM");
  }
  // A value with an escape: decoded, and the others still right.
  {
    auto parsed = parse_all(wire);
    CAF_REQUIRE(parsed);
    const std::array<std::string_view, 2> with_escape{"Caller-Caller-ID-Number", "Unique-ID"};
    std::array<std::optional<std::string_view>, 2> found;
    parsed->front().find_fields(with_escape, found);
    CAF_CHECK_EQUAL(str(found[0].value_or("-")), "+15551234");
    CAF_CHECK_EQUAL(str(found[1].value_or("-")), "u-1");
    CAF_CHECK_EQUAL(parsed->front().event_fields().size(), 6u);
  }
}

CAF_TEST(find_fields takes any number of names of any length) {
  // More names than the lookup sorts by length, and names longer than 63 bytes.
  std::string long_name(70, 'L');
  std::string body = "Event-Name: CUSTOM\n";
  std::vector<std::string> wanted;
  for (int i = 0; i < 20; ++i) {
    wanted.push_back("Field-" + std::to_string(i));
    body += wanted.back() + ": v" + std::to_string(i) + "\n";
  }
  body += long_name + ": long\n\n";
  wanted.insert(wanted.begin() + 3, long_name);
  auto parsed = parse_all("Content-Length: " + std::to_string(body.size())
                          + "\nContent-Type: text/event-plain\n\n" + body);
  CAF_REQUIRE(parsed);
  std::vector<std::string_view> names(wanted.begin(), wanted.end());
  names.push_back("Missing");
  std::vector<std::optional<std::string_view>> found(names.size());
  parsed->front().find_fields(names, found);
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto expected = first_in(parsed->front().event_fields(), names[i]);
    CAF_CHECK_EQUAL(str(found[i].value_or("-")), str(expected.value_or("-")));
  }
  CAF_CHECK_EQUAL(str(found[3].value_or("-")), "long");
  CAF_CHECK(!found.back());
}

CAF_TEST(the routing fields are the first lines so named and are decoded if escaped) {
  std::string body = "Event-Name: FIRST\nEvent-Name: SECOND\nUnique-ID: a%2Db\n\n";
  auto parsed = parse_all("Content-Length: " + std::to_string(body.size())
                          + "\nContent-Type: text/event-plain\n\n" + body);
  CAF_REQUIRE(parsed);
  CAF_CHECK_EQUAL(str(parsed->front().event_name()), "FIRST");
  CAF_CHECK_EQUAL(str(parsed->front().unique_id()), "a-b");
  CAF_CHECK_EQUAL(str(parsed->front().field("Event-Name").value_or("")), "FIRST");
}

CAF_TEST(decoded fields survive a move of the frame and readers on several threads agree) {
  auto frames = frames_of("04_call_plain_events");
  std::vector<frame> events;
  for (auto& f : frames)
    if (f.type() == content_type::event_plain)
      events.push_back(std::move(f));
  CAF_REQUIRE(events.size() > 10);
  // Decoded before the move: the table moves with the frame.
  auto before = events[0].event_fields();
  frame moved = std::move(events[0]);
  CAF_CHECK(moved.event_fields().data() == before.data());
  CAF_CHECK_EQUAL(str(*moved.field("Event-Name")), str(moved.event_name()));
  // Several threads decode the same frames at once: each frame ends with one table that all
  // of them see.
  std::vector<const header_field*> seen_a(events.size());
  std::vector<const header_field*> seen_b(events.size());
  auto read_all = [&events](std::vector<const header_field*>& seen) {
    for (std::size_t i = 1; i < events.size(); ++i)
      seen[i] = events[i].event_fields().data();
  };
  std::thread a{read_all, std::ref(seen_a)};
  std::thread b{read_all, std::ref(seen_b)};
  a.join();
  b.join();
  for (std::size_t i = 1; i < events.size(); ++i) {
    CAF_CHECK(seen_a[i] == seen_b[i]);
    CAF_CHECK(seen_a[i] == events[i].event_fields().data());
  }
}

namespace {

/// What a plain event's body should parse to, worked out line by line the slow way.
struct expected_event {
  bool malformed = false;
  std::size_t bad_line = 0; // 1-based
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;
};

expected_event reference_parse(const std::string& body) {
  expected_event out;
  std::size_t at = 0;
  std::size_t line_number = 0;
  while (at < body.size()) {
    ++line_number;
    auto newline = body.find('\n', at);
    bool terminated = newline != std::string::npos;
    auto line = body.substr(at, (terminated ? newline : body.size()) - at);
    if (line.empty() && terminated) {
      out.body = body.substr(newline + 1);
      return out;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      out.malformed = true;
      out.bad_line = line_number;
      return out;
    }
    auto value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ')
      value.erase(0, 1);
    if (!value.empty() && value.back() == '\r')
      value.pop_back();
    out.fields.emplace_back(line.substr(0, colon), value);
    at = terminated ? newline + 1 : body.size();
  }
  return out;
}

std::string random_event_body(std::mt19937& random) {
  auto pick = [&random](std::size_t n) { return static_cast<std::size_t>(random() % n); };
  std::string body;
  auto lines = pick(12);
  for (std::size_t i = 0; i < lines; ++i) {
    auto kind = pick(40);
    if (kind == 0) {
      body += "\n"; // a blank line: the fields end
    } else if (kind == 1) {
      body += "no colon here\n";
    } else if (kind == 2) {
      body += ": empty name\n";
    } else {
      std::string name(1 + pick(kind == 3 ? 90 : 14), 'a' + static_cast<char>(pick(3)));
      std::string value;
      auto value_length = pick(kind == 4 ? 150 : 30);
      for (std::size_t v = 0; v < value_length; ++v)
        value += " ab:%2F\r"[pick(8)];
      body += name + ": " + value + "\n";
    }
  }
  if (pick(4) == 0)
    body += "tail" + std::string(pick(70), 'x') + (pick(2) ? ": unterminated" : "");
  return body;
}

} // namespace

CAF_TEST(plain events with random lines parse as a line by line reading says) {
  // The parser reads a plain event 64 bytes at a time with bit masks; this checks it against
  // the plain reading above for lines of every length, at every offset, across block borders.
  std::mt19937 random{20261128};
  std::size_t malformed = 0;
  std::size_t with_fields = 0;
  for (int round = 0; round < 20000; ++round) {
    auto body = random_event_body(random);
    auto expected = reference_parse(body);
    auto wire = "Content-Length: " + std::to_string(body.size())
                + "\nContent-Type: text/event-plain\n\n" + body;
    auto parsed = parse_all(wire);
    if (expected.malformed) {
      ++malformed;
      CAF_REQUIRE(!parsed);
      auto text = to_string(parsed.error());
      CAF_CHECK(text.find("line " + std::to_string(expected.bad_line) + " ") != std::string::npos);
      continue;
    }
    CAF_REQUIRE(parsed);
    CAF_REQUIRE_EQUAL(parsed->size(), 1u);
    const auto& event = parsed->front();
    CAF_CHECK_EQUAL(str(event.event_body()), expected.body);
    // Looked up before the table is decoded...
    for (const auto& [name, value] : expected.fields) {
      std::string first_value;
      for (const auto& [other, other_value] : expected.fields)
        if (esl::iequals(other, name)) {
          first_value = other_value;
          break;
        }
      CAF_CHECK_EQUAL(str(event.field(name).value_or("<none>")), percent_decode(first_value));
    }
    // ...and the decoded table.
    auto fields = event.event_fields();
    CAF_REQUIRE_EQUAL(fields.size(), expected.fields.size());
    for (std::size_t i = 0; i < fields.size(); ++i) {
      CAF_CHECK_EQUAL(str(fields[i].name), expected.fields[i].first);
      CAF_CHECK_EQUAL(str(fields[i].value), percent_decode(expected.fields[i].second));
    }
    with_fields += fields.empty() ? 0 : 1;
  }
  CAF_CHECK(malformed > 1000);
  CAF_CHECK(with_fields > 5000);
}

CAF_TEST(a decoded table is taken from the thread cache of blocks like a frame) {
  // Decoding all fields of a plain event needs a second block (the table and the decoded
  // values). It comes from the same per-thread cache as the frame's, so a steady stream of
  // decoded events allocates nothing: the next event decoded on the thread reuses the block.
  std::string body = "Event-Name: CUSTOM\n";
  for (int i = 0; i < 60; ++i)
    body += "variable_v" + std::to_string(i) + ": value%20" + std::to_string(i) + "\n";
  body += "\n";
  auto wire = "Content-Length: " + std::to_string(body.size())
              + "\nContent-Type: text/event-plain\n\n" + body;
  frame_parser parser;
  const header_field* first_table = nullptr;
  {
    frame first;
    parser.feed(wire);
    CAF_REQUIRE(esl::testing::got_frame(parser.next(first)));
    first_table = first.event_fields().data();
    CAF_CHECK_EQUAL(str(first.event_fields()[5].value), "value 4");
  }
  // Were the table's block given back to malloc, this would most likely take it (glibc reuses
  // or splits a chunk just freed), and the next table would land elsewhere.
  void* in_between = std::malloc(2000);
  CAF_REQUIRE(in_between != nullptr);
  frame second;
  parser.feed(wire);
  CAF_REQUIRE(esl::testing::got_frame(parser.next(second)));
  CAF_CHECK(second.event_fields().data() == first_table);
  CAF_CHECK_EQUAL(second.event_fields().size(), 61u);
  CAF_CHECK_EQUAL(str(second.event_fields()[60].value), "value 59");
  std::free(in_between);
}

namespace {

/// What the skipping tests know a frame by: event name, application and content type.
std::string skip_label(const frame& f) {
  return str(f.event_name()) + "/" + str(f.field("Application").value_or("")) + "/"
         + to_string(f.type());
}

/// Feeds `wire` to `parser` in pieces of `piece` bytes and labels what comes out (`label`).
std::vector<std::string> parse_in_pieces(frame_parser& parser, std::string_view wire,
                                         std::size_t piece,
                                         const std::function<std::string(const frame&)>& label) {
  std::vector<std::string> got;
  for (std::size_t at = 0; at < wire.size(); at += piece) {
    parser.feed(wire.substr(at, piece));
    for (;;) {
      frame f;
      auto next = parser.next(f);
      CAF_REQUIRE(next);
      if (!*next)
        break;
      got.push_back(label(f));
    }
  }
  CAF_CHECK(!parser.finish());
  return got;
}

/// A plain event frame around `body`.
std::string plain_event(const std::string& body) {
  return "Content-Length: " + std::to_string(body.size()) + "\nContent-Type: text/event-plain\n\n"
         + body;
}

/// A reply is "reply", an event its Unique-ID.
std::string reply_or_uuid(const frame& f) {
  return f.type() == content_type::command_reply ? std::string{"reply"} : str(f.unique_id());
}

} // namespace

CAF_TEST(skipped plain events never come out and the rest is as without skipping) {
  auto wire = test_support::load_capture("04_call_plain_events").received;
  auto all = parse_all(wire);
  CAF_REQUIRE(all);
  std::vector<std::string> expected; // what must come out, in order
  std::size_t creates = 0;
  for (const auto& f : *all) {
    if (f.event_name() == "CHANNEL_CREATE") {
      ++creates;
      continue;
    }
    expected.push_back(skip_label(f));
  }
  CAF_REQUIRE(creates > 0);
  // Fed in pieces of every size from 1 to 97 bytes, so that frames split anywhere.
  for (std::size_t piece = 1; piece < 98; piece += 8) {
    frame_parser parser;
    parser.skip_plain_events({"CHANNEL_CREATE", "NOT_SENT"});
    CAF_CHECK_EQUAL(parse_in_pieces(parser, wire, piece, skip_label), expected);
    CAF_CHECK_EQUAL(parser.skipped_events(), creates);
  }
}

CAF_TEST(only an event that names itself first is skipped) {
  frame_parser parser;
  parser.skip_plain_events({"CHANNEL_ANSWER"});
  auto wire = plain_event("Event-Name: CHANNEL_ANSWER\nUnique-ID: a\n\n")
              + plain_event("Event-Name: CHANNEL_ANSWER\r\nUnique-ID: b\n\n")
              + plain_event("Unique-ID: c\nEvent-Name: CHANNEL_ANSWER\n\n")
              + plain_event("Event-Name: CHANNEL_ANSWERED\nUnique-ID: d\n\n")
              + "Content-Type: command/reply\nReply-Text: +OK\n\n";
  CAF_CHECK_EQUAL(parse_in_pieces(parser, wire, wire.size(), reply_or_uuid),
                  (std::vector<std::string>{"c", "d", "reply"}));
  CAF_CHECK_EQUAL(parser.skipped_events(), 2u);
}

CAF_TEST(skipped completions are those of the named applications and nothing else) {
  auto wire = test_support::load_capture("07_inbound_sendmsg_execute").received;
  auto all = parse_all(wire);
  CAF_REQUIRE(all);
  std::vector<std::string> expected; // what must come out, in order
  std::size_t dropped = 0;
  std::size_t playbacks = 0;
  for (const auto& f : *all) {
    auto application = f.field("Application").value_or("");
    if (f.event_name() == "CHANNEL_EXECUTE_COMPLETE") {
      if (application == "answer" || application == "park") {
        ++dropped;
        continue;
      }
      playbacks += application == "playback" ? 1 : 0;
    }
    expected.push_back(skip_label(f));
  }
  CAF_REQUIRE(dropped >= 2);
  CAF_REQUIRE(playbacks >= 2); // other completions stay
  for (std::size_t piece = 1; piece < 98; piece += 8) {
    frame_parser parser;
    parser.skip_plain_completions({"answer", "park", "not_run"});
    CAF_CHECK_EQUAL(parse_in_pieces(parser, wire, piece, skip_label), expected);
    CAF_CHECK_EQUAL(parser.skipped_events(), dropped);
  }
}

CAF_TEST(a completion is skipped only when its last lines name the application) {
  frame_parser parser;
  parser.skip_plain_completions({"answer"});
  std::string many_lines;
  for (int i = 0; i < 8; ++i)
    many_lines += "X-Line-" + std::to_string(i) + ": x\n";
  const std::string complete = "Event-Name: CHANNEL_EXECUTE_COMPLETE\n";
  auto wire
    = plain_event(complete + "Unique-ID: a\nApplication: answer\nApplication-Response: _none_\n"
                             "Application-UUID: u\n\n")
      + plain_event("Event-Name: CHANNEL_EXECUTE_COMPLETE\r\nUnique-ID: b\r\n"
                    "Application: answer\r\n\r\n")
      + plain_event(complete + "Unique-ID: c\nApplication: answered\n\n")
      + plain_event(complete + "Unique-ID: d\nApplication: playback\n\n")
      // Named before a line of another name.
      + plain_event(complete + "Unique-ID: e\nApplication: answer\n" + many_lines + "\n")
      // An event body of its own: the application line is in the headers before it.
      + plain_event(complete + "Unique-ID: f\nApplication: answer\n"
                               "Content-Length: 20\n\nApplication: answer\n")
      + plain_event("Event-Name: CHANNEL_ANSWER\nUnique-ID: g\nApplication: answer\n\n")
      + plain_event("Unique-ID: h\nEvent-Name: CHANNEL_EXECUTE_COMPLETE\nApplication: answer\n\n")
      + plain_event(complete + "Application: answer\n\n")
      + "Content-Type: command/reply\nReply-Text: +OK\n\n";
  CAF_CHECK_EQUAL(parse_in_pieces(parser, wire, wire.size(), reply_or_uuid),
                  (std::vector<std::string>{"c", "d", "e", "f", "g", "h", "reply"}));
  CAF_CHECK_EQUAL(parser.skipped_events(), 3u);
}
