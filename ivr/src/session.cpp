#include "ivr/session.hpp"

#include <algorithm>

#include "template.hpp"

namespace callgrid::ivr {

using namespace internal;

namespace {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

constexpr std::size_t max_menu_history = 8;
constexpr std::size_t max_variable_value = 1024;

bool search(const std::optional<pattern>& p, const std::string& text) {
  if (!p || !p->re)
    return true;
  try {
    return std::regex_search(text, *p->re);
  } catch (const std::regex_error&) {
    return false;  // too complex to evaluate: treat as no match
  }
}

bool is_input_node(node_kind kind) noexcept {
  return kind == node_kind::menu || kind == node_kind::collect || kind == node_kind::confirm;
}

} // namespace

const char* to_string(outcome o) noexcept {
  switch (o) {
    case outcome::running: return "running";
    case outcome::transferred: return "transferred";
    case outcome::bridged: return "bridged";
    case outcome::hung_up_by_flow: return "hung_up_by_flow";
    case outcome::caller_hung_up: return "caller_hung_up";
    case outcome::escalated: return "escalated";
    case outcome::failed: return "failed";
  }
  return "unknown";
}

const char* command_name(const command& c) noexcept {
  static constexpr const char* names[] = {"play_prompt", "stop_prompt",  "start_timer",   "cancel_timer", "start_lookup",
                                          "set_variable", "transfer_call", "bridge_call", "hang_up"};
  return names[c.index()];
}

session::session(std::shared_ptr<const flow> f) : flow_(std::move(f)) {
}

const std::string& session::current_node() const noexcept {
  static const std::string none;
  if (node_ == no_node)
    return none;
  return flow_->model().nodes[node_].id;
}

const node& session::node() const noexcept {
  return flow_->model().nodes[node_];
}

void session::handle(const event& e, std::vector<command>& out) {
  if (phase_ == phase::done || !flow_)
    return;
  std::visit(overloaded{
               [&](const started& s) { on_started(s, out); },
               [&](const prompt_finished&) { on_prompt_finished(out); },
               [&](const digit_pressed& d) { on_digit(d.digit, out); },
               [&](const timer_expired& t) { on_timer(t.timer_id, out); },
               [&](const lookup_finished& l) { on_lookup(l, out); },
               [&](const caller_hung_up&) { on_hangup(out); },
             },
             e);
}

void session::on_started(const started& e, std::vector<command>& out) {
  if (phase_ != phase::idle)
    return;
  caller_ = e.facts.caller;
  callee_ = e.facts.callee;
  campaign_ = e.facts.campaign;
  variables_ = e.facts.variables;
  now_ = e.now;
  enter(flow_->model().start, out);
}

void session::enter(node_index index, std::vector<command>& out) {
  const auto& m = flow_->model();
  // A validated flow has no cycle without an input node, so a chain of branch/set nodes visits
  // each node at most once; the bound only protects against a broken model.
  const std::size_t limit = m.nodes.size() + 1;
  for (std::size_t hops = 0;; ++hops) {
    if (index == no_node || index >= m.nodes.size() || hops > limit) {
      finish(outcome::failed, hang_up{m.defaults.failure_cause}, out);
      return;
    }
    node_ = index;
    no_input_count_ = 0;
    invalid_count_ = 0;
    prompt_position_ = 0;
    digits_.clear();
    const auto& n = node();
    switch (n.kind) {
      case node_kind::play:
        phase_ = phase::playing;
        play(n.prompts.at(0), out);
        return;
      case node_kind::menu:
      case node_kind::collect:
      case node_kind::confirm:
        prompt_input(false, std::nullopt, out);
        return;
      case node_kind::branch:
        index = pick_branch(n);
        continue;
      case node_kind::set: {
        // Every value is expanded against the variables as they were before the node.
        std::vector<std::pair<const std::string*, std::string>> values;
        values.reserve(n.assignments.size());
        for (const auto& [name, value] : n.assignments)
          values.emplace_back(&name, substitute(value));
        for (auto& [name, value] : values)
          set_var(*name, std::move(value), out);
        index = n.next.index;
        continue;
      }
      case node_kind::lookup:
        lookup_id_ = next_id_++;
        out.push_back(start_lookup{lookup_id_, substitute(n.key), n.budget});
        arm_timer(n.budget, out);
        phase_ = phase::looking_up;
        return;
      case node_kind::transfer:
        finish(outcome::transferred, transfer_call{substitute(n.target)}, out);
        return;
      case node_kind::bridge:
        finish(outcome::bridged, bridge_call{substitute(n.target)}, out);
        return;
      case node_kind::hangup:
        finish(outcome::hung_up_by_flow, hang_up{n.target}, out);
        return;
    }
  }
}

void session::play(prompt_index prompt, std::vector<command>& out) {
  out.push_back(play_prompt{substitute(flow_->model().prompts.at(prompt).uri)});
  ++outstanding_prompts_;
}

void session::prompt_input(bool with_feedback, std::optional<prompt_index> feedback, std::vector<command>& out) {
  if (with_feedback && feedback) {
    phase_ = phase::feedback;
    play(*feedback, out);
    return;
  }
  phase_ = phase::prompting;
  play(node().prompts.at(0), out);
}

void session::arm_timer(std::chrono::milliseconds after, std::vector<command>& out) {
  disarm_timer(out);
  timer_id_ = next_id_++;
  timer_after_ = after;
  out.push_back(start_timer{timer_id_, after});
}

void session::disarm_timer(std::vector<command>& out) {
  if (timer_id_ != 0)
    out.push_back(cancel_timer{timer_id_});
  timer_id_ = 0;
}

void session::finish(outcome o, command last, std::vector<command>& out) {
  disarm_timer(out);
  out.push_back(std::move(last));
  outcome_ = o;
  phase_ = phase::done;
}

void session::record(std::string choice) {
  if (path_.size() < max_path_steps)
    path_.push_back({node().id, std::move(choice)});
}

void session::set_var(const std::string& name, std::string value, std::vector<command>& out) {
  if (value.size() > max_variable_value)
    value.resize(max_variable_value);
  out.push_back(set_variable{name, value});
  variables_[name] = std::move(value);
}

void session::on_prompt_finished(std::vector<command>& out) {
  if (outstanding_prompts_ > 0)
    --outstanding_prompts_;
  // Prompts broken by a barge-in still report their end; only the last one counts.
  if (outstanding_prompts_ != 0)
    return;
  const auto& n = node();
  switch (phase_) {
    case phase::playing:
      if (++prompt_position_ < n.prompts.size())
        play(n.prompts[prompt_position_], out);
      else
        enter(n.next.index, out);
      break;
    case phase::feedback:
      prompt_input(false, std::nullopt, out);
      break;
    case phase::prompting:
      phase_ = phase::waiting;
      arm_timer(n.first_digit_timeout, out);
      break;
    default:
      break;
  }
}

void session::on_digit(char digit, std::vector<command>& out) {
  if (digit >= 'a' && digit <= 'd')
    digit = static_cast<char>(digit - 'a' + 'A');
  const bool valid = (digit >= '0' && digit <= '9') || digit == '*' || digit == '#' || (digit >= 'A' && digit <= 'D');
  if (!valid || node_ == no_node || !is_input_node(node().kind))
    return;
  switch (phase_) {
    case phase::feedback:
    case phase::prompting:
      if (outstanding_prompts_ > 0)
        out.push_back(stop_prompt{});
      phase_ = phase::waiting;
      break;
    case phase::waiting:
    case phase::entering:
      disarm_timer(out);
      break;
    default:
      return;
  }
  switch (node().kind) {
    case node_kind::menu:
      menu_digit(digit, out);
      break;
    case node_kind::collect:
      collect_digit(digit, out);
      break;
    default:
      confirm_digit(digit, out);
      break;
  }
}

void session::menu_digit(char digit, std::vector<command>& out) {
  const auto& m = flow_->model();
  const auto& n = node();
  digits_ += digit;
  const std::pair<std::string, target_ref>* exact = nullptr;
  bool longer = false;
  for (const auto& option : n.options) {
    if (option.first == digits_)
      exact = &option;
    else if (option.first.starts_with(digits_))
      longer = true;
  }
  if (exact != nullptr && !longer) {
    menu_select(exact->first, exact->second.index, out);
    return;
  }
  if (exact != nullptr || longer) {
    phase_ = phase::entering;
    arm_timer(n.inter_digit_timeout, out);
    return;
  }
  if (digits_.size() == 1) {
    auto action = key_action::none;
    bool overridden = false;
    for (const auto& [key, a] : n.keys)
      if (key == digit) {
        action = a;
        overridden = true;
      }
    if (!overridden && n.global_keys)
      for (const auto& [key, a] : m.global_keys)
        if (key == digit)
          action = a;
    if (action == key_action::agent && m.agent_target.empty())
      action = key_action::none;
    switch (action) {
      case key_action::agent:
        record("agent");
        finish(outcome::transferred, transfer_call{substitute(m.agent_target)}, out);
        return;
      case key_action::back:
        if (!menu_history_.empty()) {
          const auto previous = menu_history_.back();
          menu_history_.pop_back();
          record("back");
          enter(previous, out);
          return;
        }
        digits_.clear();
        prompt_input(false, std::nullopt, out);
        return;
      case key_action::repeat:
        digits_.clear();
        prompt_input(false, std::nullopt, out);
        return;
      case key_action::none:
        break;
    }
  }
  input_failed(false, out);
}

void session::menu_select(const std::string& option, node_index target, std::vector<command>& out) {
  record(option);
  if (menu_history_.size() >= max_menu_history)
    menu_history_.erase(menu_history_.begin());
  menu_history_.push_back(node_);
  enter(target, out);
}

void session::collect_digit(char digit, std::vector<command>& out) {
  const auto& n = node();
  if (n.terminators.find(digit) != std::string::npos) {
    collect_evaluate(out);
    return;
  }
  digits_ += digit;
  if (digits_.size() >= static_cast<std::size_t>(n.max_digits)) {
    collect_evaluate(out);
    return;
  }
  phase_ = phase::entering;
  arm_timer(n.inter_digit_timeout, out);
}

void session::collect_evaluate(std::vector<command>& out) {
  const auto& n = node();
  bool ok = digits_.size() >= static_cast<std::size_t>(n.min_digits)
            && digits_.size() <= static_cast<std::size_t>(n.max_digits);
  if (ok && n.digits_pattern && n.digits_pattern->re) {
    try {
      ok = std::regex_match(digits_, *n.digits_pattern->re);
    } catch (const std::regex_error&) {
      ok = false;
    }
  }
  if (!ok) {
    input_failed(false, out);
    return;
  }
  record("collected");
  set_var(n.variable, digits_, out);
  enter(n.next.index, out);
}

void session::confirm_digit(char digit, std::vector<command>& out) {
  const auto& n = node();
  if (digit == n.confirm_key) {
    record("confirm");
    enter(n.on_confirm.index, out);
  } else if (digit == n.cancel_key) {
    record("cancel");
    enter(n.on_cancel.index, out);
  } else {
    input_failed(false, out);
  }
}

void session::input_failed(bool no_input, std::vector<command>& out) {
  const auto& n = node();
  if (n.kind == node_kind::menu) {
    const int count = no_input ? ++no_input_count_ : ++invalid_count_;
    if (count >= (no_input ? n.max_no_input : n.max_invalid)) {
      exhausted(no_input ? "exhausted:no_input" : "exhausted:invalid", out);
      return;
    }
  } else if (++invalid_count_ >= n.max_invalid) {
    exhausted("exhausted", out);
    return;
  }
  digits_.clear();
  prompt_input(true, no_input ? n.no_input_prompt : n.invalid_prompt, out);
}

void session::exhausted(const char* choice, std::vector<command>& out) {
  const auto& m = flow_->model();
  const auto& n = node();
  record(choice);
  auto target = n.on_exhausted.index;
  if (n.kind == node_kind::confirm && n.on_exhausted.id.empty())
    target = n.on_cancel.index;
  if (target != no_node)
    enter(target, out);
  else if (!m.agent_target.empty())
    finish(outcome::escalated, transfer_call{substitute(m.agent_target)}, out);
  else
    finish(outcome::failed, hang_up{m.defaults.failure_cause}, out);
}

void session::on_timer(std::uint64_t id, std::vector<command>& out) {
  if (id == 0 || id != timer_id_)
    return;
  timer_id_ = 0;
  now_ += timer_after_;
  const auto& n = node();
  switch (phase_) {
    case phase::looking_up:
      lookup_id_ = 0;
      record("timeout");
      enter(n.on_timeout.index, out);
      break;
    case phase::waiting:
      input_failed(true, out);
      break;
    case phase::entering:
      if (n.kind == node_kind::collect) {
        collect_evaluate(out);
      } else {
        const auto exact = std::find_if(n.options.begin(), n.options.end(),
                                        [&](const auto& option) { return option.first == digits_; });
        if (exact != n.options.end())
          menu_select(exact->first, exact->second.index, out);
        else
          input_failed(false, out);
      }
      break;
    default:
      break;
  }
}

void session::on_lookup(const lookup_finished& e, std::vector<command>& out) {
  if (phase_ != phase::looking_up || e.request_id == 0 || e.request_id != lookup_id_)
    return;
  lookup_id_ = 0;
  disarm_timer(out);
  const auto& n = node();
  if (e.timed_out) {
    record("timeout");
    enter(n.on_timeout.index, out);
  } else if (e.value) {
    record("found");
    if (!n.variable.empty())
      set_var(n.variable, *e.value, out);
    enter(n.on_found.index, out);
  } else {
    record("missing");
    enter(n.on_missing.index, out);
  }
}

void session::on_hangup(std::vector<command>& out) {
  if (node_ != no_node && is_input_node(node().kind)
      && (phase_ == phase::feedback || phase_ == phase::prompting || phase_ == phase::waiting
          || phase_ == phase::entering))
    record("hangup");
  disarm_timer(out);
  outcome_ = outcome::caller_hung_up;
  phase_ = phase::done;
}

std::string session::lookup_value(const std::string& name) const {
  if (name == "caller")
    return caller_;
  if (name == "callee")
    return callee_;
  if (name == "campaign")
    return campaign_;
  if (name == "language")
    return flow_->model().language;
  auto it = variables_.find(name);
  return it == variables_.end() ? std::string{} : it->second;
}

std::string session::substitute(const std::string& text) const {
  if (text.find("${") == std::string::npos)
    return text;
  return expand_template(text, [this](const std::string& name) { return lookup_value(name); });
}

node_index session::pick_branch(const internal::node& n) const {
  using namespace std::chrono;
  const auto& m = flow_->model();
  const auto instant = floor<seconds>(now_);
  for (const auto& c : n.cases) {
    if (!c.caller_prefixes.empty()
        && std::none_of(c.caller_prefixes.begin(), c.caller_prefixes.end(),
                        [&](const std::string& p) { return caller_.starts_with(p); }))
      continue;
    if (c.caller_matches && !search(c.caller_matches, caller_))
      continue;
    if (!c.callee_prefixes.empty()
        && std::none_of(c.callee_prefixes.begin(), c.callee_prefixes.end(),
                        [&](const std::string& p) { return callee_.starts_with(p); }))
      continue;
    if (c.callee_matches && !search(c.callee_matches, callee_))
      continue;
    if (!c.campaigns.empty() && std::find(c.campaigns.begin(), c.campaigns.end(), campaign_) == c.campaigns.end())
      continue;
    if ((c.time || c.weekdays != 0) && !m.zones.empty()) {
      const auto zone_index = c.zone >= 0 ? static_cast<std::size_t>(c.zone) : std::size_t{0};
      const auto local = m.zones[zone_index].to_local(instant);
      const auto day = floor<days>(local);
      const int minute = static_cast<int>(duration_cast<minutes>(local - day).count());
      if (c.weekdays != 0 && (c.weekdays & (1u << weekday{sys_days{day}}.c_encoding())) == 0)
        continue;
      if (c.time) {
        const auto [from, to] = *c.time;
        const bool inside = from < to ? (minute >= from && minute < to) : (minute >= from || minute < to);
        if (!inside)
          continue;
      }
    }
    if (!c.variable.empty()) {
      const auto value = lookup_value(c.variable);
      if (c.equals) {
        if (value != *c.equals)
          continue;
      } else if (c.matches) {
        if (!search(c.matches, value))
          continue;
      } else if (value.empty()) {
        continue;
      }
    }
    return c.next.index;
  }
  return n.next.index;
}

} // namespace callgrid::ivr
