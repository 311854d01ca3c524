#pragma once

// For the actors' unit tests: channel events as FreeSWITCH sends them, built through the real
// ESL parser so that the call logic under test sees exactly what it sees in production.

#include <string>
#include <utility>
#include <vector>

#include <caf/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "esl/frame.hpp"
#include "esl/frame_parser.hpp"

namespace callgrid::test_support {

/// A `text/event-json` frame of event `name` for channel `uuid` with extra `fields`; the test
/// fails when the parser rejects it.
inline esl::frame json_event(const std::string& uuid, const std::string& name,
                             const std::vector<std::pair<std::string, std::string>>& fields) {
  nlohmann::ordered_json body;
  body["Event-Name"] = name;
  body["Unique-ID"] = uuid;
  for (const auto& [key, value] : fields)
    body[key] = value;
  auto text = body.dump();
  auto wire = "Content-Length: " + std::to_string(text.size())
              + "\nContent-Type: text/event-json\n\n" + text;
  esl::frame_parser parser;
  parser.feed(wire);
  esl::frame out;
  auto got = parser.next(out);
  if (!got || !*got)
    CAF_FAIL("test event did not parse: " << wire);
  return out;
}

} // namespace callgrid::test_support
