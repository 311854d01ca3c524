#pragma once

// The in-memory form of a loaded flow, shared by the loader, `flow::to_json` and the
// interpreter. Not part of the public API: use `ivr/flow.hpp` and `ivr/session.hpp`.

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "ivr/time_zone.hpp"

namespace callgrid::ivr::internal {

using node_index = std::uint32_t;
inline constexpr node_index no_node = std::numeric_limits<node_index>::max();
using prompt_index = std::uint32_t;

enum class node_kind : std::uint8_t { play, menu, collect, confirm, branch, lookup, set, transfer, bridge, hangup };

/// What a global key does in a menu.
enum class key_action : std::uint8_t { none, agent, back, repeat };

/// A reference to another node, resolved after all nodes are read.
struct target_ref {
  std::string id;
  node_index index = no_node;
  int line = 0;
  int column = 0;
};

/// A regular expression with the text it was compiled from (for `to_json`).
struct pattern {
  std::string text;
  std::shared_ptr<const std::regex> re;
};

/// One case of a `branch` node: every condition given must hold.
struct branch_case {
  std::vector<std::string> caller_prefixes;
  std::optional<pattern> caller_matches;
  std::vector<std::string> callee_prefixes;
  std::optional<pattern> callee_matches;
  std::vector<std::string> campaigns;
  // Time of day in minutes after local midnight, [from, to); from > to wraps past midnight.
  std::optional<std::pair<int, int>> time;
  std::uint8_t weekdays = 0;  // bit 0 = Sunday ... bit 6 = Saturday; 0 = any day
  int zone = -1;              // index into flow_model::zones, -1 = the flow's default zone
  std::string variable;
  std::optional<std::string> equals;
  std::optional<pattern> matches;
  target_ref next;
};

struct node {
  std::string id;
  node_kind kind = node_kind::play;
  int line = 0;
  int column = 0;

  std::vector<prompt_index> prompts;  // play: played in order; menu/collect/confirm: [0] = prompt
  std::optional<prompt_index> no_input_prompt;
  std::optional<prompt_index> invalid_prompt;
  target_ref next;  // play, collect (success), set, branch default

  // menu
  std::vector<std::pair<std::string, target_ref>> options;
  std::vector<std::pair<char, key_action>> keys;  // menu overrides of the global keys
  bool global_keys = true;
  std::chrono::milliseconds first_digit_timeout{0};
  std::chrono::milliseconds inter_digit_timeout{0};
  int max_no_input = 0;
  int max_invalid = 0;  // menu: invalid cap; collect and confirm: tries
  target_ref on_exhausted;  // menu, confirm; collect: on_failure

  // collect
  int min_digits = 1;
  int max_digits = 0;
  std::string terminators;
  std::optional<pattern> digits_pattern;
  std::string variable;  // collect, lookup

  // confirm
  char confirm_key = '1';
  char cancel_key = '2';
  target_ref on_confirm;
  target_ref on_cancel;

  // branch
  std::vector<branch_case> cases;

  // lookup
  std::string key;
  std::chrono::milliseconds budget{0};
  target_ref on_found;
  target_ref on_missing;
  target_ref on_timeout;

  // set
  std::vector<std::pair<std::string, std::string>> assignments;

  // transfer / bridge target, hangup cause
  std::string target;
};

struct prompt {
  std::string name;
  std::string uri;  // may hold ${var} placeholders
  bool from_catalog = false;  // a known prompt name, not listed in the document's prompts
};

struct flow_defaults {
  std::chrono::milliseconds first_digit_timeout{5000};
  std::chrono::milliseconds inter_digit_timeout{2000};
  int max_no_input = 3;
  int max_invalid = 3;
  int max_tries = 3;
  std::chrono::milliseconds lookup_budget{200};
  std::string failure_cause = "NORMAL_CLEARING";
  int zone = 0;  // index into flow_model::zones
};

struct flow_model {
  std::string name;
  std::int64_t version = 0;
  std::string language;
  node_index start = no_node;
  std::string start_id;
  std::vector<prompt> prompts;
  std::string agent_target;  // "" = no agent key and no agent escalation
  std::vector<std::pair<char, key_action>> global_keys;
  flow_defaults defaults;
  std::vector<time_zone> zones;  // [0] = the default zone
  std::vector<node> nodes;
};

} // namespace callgrid::ivr::internal
