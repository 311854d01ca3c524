#include "actors/node_supervisor.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <functional>
#include <optional>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/bridge_legs.hpp"
#include "actors/channel_link.hpp"
#include "actors/errc.hpp"
#include "actors/event_batcher.hpp"
#include "actors/metrics_registry.hpp"
#include "actors/prompt_check.hpp"
#include "esl/command.hpp"
#include "esl/errc.hpp"
#include "esl/frame.hpp"
#include "esl/outbound_server.hpp"
#include "esl/percent_codec.hpp"
#include "persistence/text.hpp"

namespace callgrid::actors {

namespace {

using namespace std::chrono_literals;

/// When the channels are listed a second time after the link became ready.
constexpr auto relisting_delay = 1500ms;

int64_t wall_clock_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t to_int(std::string_view text, int64_t fallback = 0) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} ? value : fallback;
}

struct tracked_call {
  call_actor handle;
  persistence::esl_mode mode = persistence::esl_mode::inbound;
  int64_t created_us = 0;
};

struct supervisor_metrics {
  metric_counter& calls_started;
  metric_counter& events;
  metric_counter& unowned_events;
  metric_counter& reconnects;
  metric_counter& adopted;
  metric_counter& lost;
  metric_counter& recovered_records;
  metric_counter& far_legs_recorded;
  metric_counter& late_events;
  metric_gauge& event_lag;
  metric_gauge& esl_up;
  metric_gauge& fs_sessions;
  metric_gauge& fs_max_sessions;
  metric_gauge& fs_idle_cpu;
};

/// An origination sent and not settled yet: what its call actor needs once the channel parks.
struct pending_origination {
  std::string job_uuid;
  std::string caller;
  std::string callee;
  std::string campaign;
  std::shared_ptr<const route> matched_route;
  std::shared_ptr<const ivr::flow> flow;
  /// When the request came (wall clock, µs): the failed attempt's record starts there.
  int64_t requested_us = 0;
};

/// `callgrid_originations_total` by result.
struct origination_metrics {
  metric_counter& answered;
  metric_counter& failed;
  metric_counter& refused;
  metric_counter& timed_out;
};

/// Hashes std::string keys and string_views alike, so events look up their call by the frame's
/// Unique-ID without copying it into a string first.
struct text_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

struct node_supervisor_state {
  static inline const char* name = "node_supervisor";

  node_supervisor_options options;
  std::shared_ptr<esl::inbound_client> client;
  /// Checks and warms the flows' prompts on FreeSWITCH (prompt_check.hpp).
  prompt_checker_actor prompts;
  std::unordered_map<std::string, tracked_call, text_hash, std::equal_to<>> calls;
  std::unordered_map<caf::actor_addr, std::string> uuid_by_actor;
  /// Inbound call actors whose call is over, waiting for the next (at most
  /// `max_idle_call_actors`); shared with the exit functor that ends them with the supervisor.
  std::shared_ptr<std::vector<call_actor>> idle_call_actors
    = std::make_shared<std::vector<call_actor>>();
  std::optional<supervisor_metrics> metrics;
  node_load load;
  bool ever_ready = false;
  /// When the link was lost (wall clock, µs); calls created before it and not listed after the
  /// reconnect are gone. 0 = not lost since start.
  int64_t link_lost_at_us = 0;
  /// Channels adopted from the first listing after a (re)connect, until the second confirms them.
  std::unordered_set<std::string> adopted_unconfirmed;
  /// Whether the session journal's leftovers were reconciled (once, after the first start).
  bool journal_reconciled = false;
  /// While the events of one read are handled: the journal entries of the calls they started,
  /// saved together when the read is done (one Redis command instead of one per call).
  std::optional<std::vector<std::pair<std::string, std::string>>> journal_batch;
  /// Channels FreeSWITCH listed at that time.
  std::unordered_set<std::string> listed_at_start;
  /// Listings reconciled since the link last became ready.
  int listings_since_ready = 0;
  /// When the link last became ready (wall clock, µs), and the channels created since then that
  /// were seen only by their events (they never parked) until the second listing: not ours,
  /// never adopted (e.g. a loopback origination's far leg playing a tone).
  int64_t ready_at_us = 0;
  std::unordered_set<std::string> born_unowned;
  /// The number of the ready link (`esl::inbound_client::links_ready`) those refer to.
  std::uint64_t ready_link_number = 0;
  /// The drain in progress (phase in `load.phase`): its deadline (wall clock, ms; 0 = none),
  /// whether the deadline's hangups were sent, and whether a spool flush is awaited.
  int64_t drain_deadline_unix_ms = 0;
  bool deadline_hangups_sent = false;
  bool flush_in_flight = false;
  std::string last_link_warning;
  std::chrono::steady_clock::time_point last_link_warning_at{};
  /// Originations by the channel UUID chosen for them, until the channel parks, the job fails
  /// or their time is up; and their jobs (Job-UUID -> channel UUID) until the job reports.
  std::unordered_map<std::string, pending_origination> originations;
  std::unordered_map<std::string, std::string> origination_jobs;
  std::optional<origination_metrics> origination_counts;
};

using supervisor_pointer = node_supervisor_actor::stateful_pointer<node_supervisor_state>;

call_setup make_setup(node_supervisor_state& st, std::string uuid, std::string caller,
                      std::string callee, int64_t created_us, bool answered,
                      persistence::esl_mode mode) {
  call_setup setup;
  setup.uuid = std::move(uuid);
  setup.caller = std::move(caller);
  setup.callee = std::move(callee);
  setup.direction = persistence::call_direction::inbound;
  setup.mode = mode;
  setup.node = st.options.node_name;
  setup.created_us = created_us > 0 ? created_us : wall_clock_us();
  setup.already_answered = answered;
  const auto& catalog = st.options.catalog;
  if (catalog && catalog->routes) {
    if (const route* r = catalog->routes->match(setup.callee, setup.caller,
                                                std::chrono::system_clock::now())) {
      setup.matched_route = std::shared_ptr<const route>{catalog->routes, r};
      if (r->flow_id) {
        auto it = catalog->flows.find(*r->flow_id);
        if (it != catalog->flows.end())
          setup.flow = it->second;
      }
    }
  }
  return setup;
}

/// Idle call actors kept for the next calls, ~1.2 KB each: as many as the node may have calls
/// (`node.capacity`), at least 1,024, so that in a steady state no actor ends. Each actor's end
/// wakes CAF's clock thread (actors/README.md, "Pooled call actors").
std::size_t max_idle_call_actors(const node_supervisor_options& options) {
  constexpr std::size_t at_least = 1024;
  return std::max(at_least, static_cast<std::size_t>(std::max(options.capacity, 0)));
}

/// The words of one of the space-separated lists in node_supervisor.hpp.
std::vector<std::string> words(const char* list) {
  std::vector<std::string> out;
  std::istringstream in{list};
  for (std::string word; in >> word;)
    out.push_back(std::move(word));
  return out;
}

} // namespace

std::vector<std::pair<std::string, std::string>>
node_supervisor_filters(bool with_background_jobs) {
  std::vector<std::pair<std::string, std::string>> filters;
  for (auto& name : words(node_supervisor_events))
    filters.emplace_back("Event-Name", std::move(name));
  if (with_background_jobs)
    filters.emplace_back("Event-Name", "BACKGROUND_JOB");
  for (const auto& application : words(node_supervisor_ignored_applications))
    filters.emplace_back("Application", "-" + application);
  return filters;
}

std::string session_snapshot(const call_setup& setup) {
  // Written by hand: one per call start, where building a json object and dumping it cost more
  // than the rest of the start (and dump() throws on bytes that are not UTF-8).
  std::string out;
  out.reserve(160);
  out += "{\"caller\":";
  persistence::append_json_string(out, setup.caller);
  out += ",\"callee\":";
  persistence::append_json_string(out, setup.callee);
  out += ",\"mode\":";
  persistence::append_json_string(out, persistence::to_string(setup.mode));
  out += ",\"created_us\":";
  out += std::to_string(setup.created_us);
  out += ",\"node\":";
  persistence::append_json_string(out, setup.node);
  if (setup.matched_route) {
    out += ",\"route_id\":";
    out += std::to_string(setup.matched_route->id);
    if (setup.matched_route->flow_id) {
      out += ",\"flow_id\":";
      out += std::to_string(*setup.matched_route->flow_id);
    }
  }
  out += '}';
  return out;
}

namespace {

void start_call(supervisor_pointer self, call_setup setup, std::shared_ptr<channel_link> link) {
  auto& st = self->state;
  setup.answer_timeout = st.options.answer_timeout;
  auto uuid = setup.uuid;
  auto mode = setup.mode;
  auto created = setup.created_us;
  if (!setup.matched_route)
    spdlog::warn("call {}: no route for {} -> {}", uuid, setup.caller, setup.callee);
  else
    spdlog::info("call {}: {} -> {} on route '{}' ({} mode)", uuid, setup.caller, setup.callee,
                 setup.matched_route->name, persistence::to_string(mode));
  if (st.options.journal.save) {
    if (st.journal_batch)
      st.journal_batch->emplace_back(uuid, session_snapshot(setup));
    else
      st.options.journal.save({{uuid, session_snapshot(setup)}});
  }
  // Inbound calls reuse an idle actor when there is one. Outbound-mode actors are bound to
  // their socket, whose late frames could reach a reused actor, so they are not pooled.
  const bool pooled = mode == persistence::esl_mode::inbound;
  call_actor handle;
  if (pooled && !st.idle_call_actors->empty()) {
    handle = std::move(st.idle_call_actors->back());
    st.idle_call_actors->pop_back();
    self->send(handle, host_call{std::move(setup), std::move(link)});
  } else {
    call_context context{std::move(link), st.options.records, st.options.metrics,
                         st.options.lookup, {}};
    if (pooled)
      context.on_finished = [supervisor = caf::actor_cast<caf::actor>(self)](call_finished done) {
        caf::anon_send(supervisor, std::move(done));
      };
    handle = spawn_call_actor(self->system(), std::move(setup), std::move(context));
    self->monitor(handle);
  }
  st.uuid_by_actor.insert_or_assign(handle.address(), uuid);
  st.calls.emplace(std::move(uuid), tracked_call{handle, mode, created});
  st.metrics->calls_started.increment();
  ++st.load.calls_total;
  st.load.live_calls = static_cast<int32_t>(st.calls.size());
}

// -- originations (issue 5: "can originate on request") ---------------------------------------

/// How long past its ring timeout an origination may wait for its job result or its channel.
constexpr auto origination_grace = 30s;

/// Takes the pending origination of channel `uuid`, if there is one, and makes the setup of its
/// call: direction outbound, the requested route or flow.
std::optional<call_setup> take_origination(node_supervisor_state& st, const std::string& uuid,
                                           int64_t created_us, bool answered) {
  auto it = st.originations.find(uuid);
  if (it == st.originations.end())
    return std::nullopt;
  auto& pending = it->second;
  call_setup setup;
  setup.uuid = uuid;
  setup.caller = std::move(pending.caller);
  setup.callee = std::move(pending.callee);
  setup.direction = persistence::call_direction::outbound;
  setup.mode = persistence::esl_mode::inbound;
  setup.node = st.options.node_name;
  setup.created_us = created_us > 0 ? created_us : pending.requested_us;
  setup.already_answered = answered;
  setup.matched_route = std::move(pending.matched_route);
  setup.flow = std::move(pending.flow);
  setup.campaign = std::move(pending.campaign);
  st.originations.erase(it);
  return setup;
}

/// The number a dial string calls, for the record: "123" of "sofia/gateway/x/123@host",
/// "5000" of "loopback/5000/default".
std::string dialled_number(std::string_view dial) {
  constexpr std::string_view loopback = "loopback/";
  if (auto at = dial.find(loopback); at != std::string_view::npos) {
    auto rest = dial.substr(at + loopback.size());
    return std::string{rest.substr(0, rest.find('/'))};
  }
  auto last = dial.substr(dial.rfind('/') + 1);
  return std::string{last.substr(0, last.find('@'))};
}

bool is_variable_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
  });
}

/// Checks a request and finds its route or flow; `invalid_request` says what is wrong.
caf::expected<pending_origination> resolve_origination(const node_supervisor_state& st,
                                                       const originate_request& request) {
  auto invalid = [](std::string what) {
    return caf::make_error(errc::invalid_request, std::move(what));
  };
  if (request.destination.empty())
    return invalid("the destination (a dial string such as sofia/gateway/carrier/4930123) is "
                   "missing");
  auto printable = [](std::string_view text) {
    return std::none_of(text.begin(), text.end(), [](char c) {
      return std::isspace(static_cast<unsigned char>(c)) != 0
             || std::iscntrl(static_cast<unsigned char>(c)) != 0;
    });
  };
  if (!printable(request.destination))
    return invalid("the destination '" + request.destination + "' contains blanks");
  if (request.route_number.empty() == request.flow_name.empty())
    return invalid("give exactly one of a route (destination number) and a flow name");
  if (request.timeout_seconds < 1 || request.timeout_seconds > 3600)
    return invalid("the timeout must be 1 to 3600 seconds, not "
                   + std::to_string(request.timeout_seconds));
  if (!printable(request.caller_id_number))
    return invalid("the caller id number '" + request.caller_id_number + "' contains blanks");
  for (const auto& [name, value] : request.variables)
    if (!is_variable_name(name))
      return invalid("'" + name + "' is not a channel variable name (letters, digits, _ . -)");
  pending_origination pending;
  pending.caller = request.caller_id_number;
  pending.callee = dialled_number(request.destination);
  pending.campaign = request.campaign;
  pending.requested_us = wall_clock_us();
  const auto& catalog = st.options.catalog;
  if (!request.route_number.empty()) {
    const route* r = catalog && catalog->routes
                       ? catalog->routes->match(request.route_number, request.caller_id_number,
                                                std::chrono::system_clock::now())
                       : nullptr;
    if (r == nullptr)
      return invalid("no route matches the number '" + request.route_number + "'");
    pending.matched_route = std::shared_ptr<const route>{catalog->routes, r};
    if (r->flow_id)
      if (auto it = catalog->flows.find(*r->flow_id); it != catalog->flows.end())
        pending.flow = it->second;
    return pending;
  }
  if (catalog)
    for (const auto& [id, name] : catalog->flow_names) {
      auto flow = catalog->flows.find(id);
      if (name != request.flow_name || flow == catalog->flows.end())
        continue;
      route r;
      r.name = "originate:" + name;
      r.action = route_action::flow;
      r.flow_id = id;
      r.answer = true;
      pending.matched_route = std::make_shared<const route>(std::move(r));
      pending.flow = flow->second;
      return pending;
    }
  return invalid("no flow named '" + request.flow_name + "' is loaded");
}

/// `originate {origination_uuid=...,...}DIAL &park()`; values percent-encoded (FreeSWITCH
/// decodes them), commas included, since a comma separates the variables.
std::string originate_command(const std::string& uuid, const originate_request& request,
                              std::chrono::seconds park_timeout) {
  std::string vars = "origination_uuid=" + uuid
                     + ",park_timeout=" + std::to_string(park_timeout.count())
                     + ",originate_timeout=" + std::to_string(request.timeout_seconds);
  auto add = [&vars](std::string_view name, std::string_view value) {
    vars += ',';
    vars += name;
    vars += '=';
    std::string encoded;
    esl::percent_encode(value, encoded);
    for (char c : encoded)
      vars += c == ',' ? std::string{"%2C"} : std::string(1, c);
  };
  if (!request.caller_id_name.empty())
    add("origination_caller_id_name", request.caller_id_name);
  if (!request.caller_id_number.empty())
    add("origination_caller_id_number", request.caller_id_number);
  if (!request.campaign.empty())
    add("callgrid_campaign", request.campaign);
  for (const auto& [name, value] : request.variables)
    add(name, value);
  return "originate {" + vars + "}" + request.destination + " &park()";
}

/// Accepts or refuses an origination; an accepted one is sent and answered at once.
caf::result<originate_reply> originate(supervisor_pointer self, originate_request& request) {
  auto& st = self->state;
  if (request.timeout_seconds == 0)
    request.timeout_seconds = static_cast<int32_t>(st.options.answer_timeout.count());
  auto refuse = [&st](errc code, std::string why) -> caf::result<originate_reply> {
    st.origination_counts->refused.increment();
    spdlog::warn("originate refused: {}", why);
    return caf::make_error(code, std::move(why));
  };
  if (st.load.phase != drain_phase::none)
    return refuse(errc::node_draining,
                  "the node is " + std::string{to_string(st.load.phase)}
                    + " and places no new calls");
  if (!st.load.esl_ready || !st.client)
    return refuse(errc::esl_not_ready, "the ESL link to FreeSWITCH is not up");
  auto in_use = st.calls.size() + st.originations.size();
  if (st.options.capacity > 0 && in_use >= static_cast<std::size_t>(st.options.capacity))
    return refuse(errc::at_capacity, "the node carries " + std::to_string(in_use)
                                       + " calls, its capacity (node.capacity)");
  auto pending = resolve_origination(st, request);
  if (!pending) {
    st.origination_counts->refused.increment();
    spdlog::warn("originate refused: {}", render_error(pending.error()));
    return std::move(pending.error());
  }
  static thread_local boost::uuids::random_generator generate;
  auto uuid = boost::uuids::to_string(generate());
  auto job_uuid = boost::uuids::to_string(generate());
  auto cmd = esl::command::bgapi(originate_command(uuid, request, st.options.park_timeout), job_uuid);
  if (!cmd)
    return refuse(errc::invalid_request, esl::render_error(cmd.error()));
  pending->job_uuid = job_uuid;
  spdlog::info("call {}: originating {} -> {} ({} {}), job {}", uuid, request.caller_id_number,
               request.destination, request.flow_name.empty() ? "route" : "flow",
               request.flow_name.empty() ? request.route_number : request.flow_name, job_uuid);
  st.originations.emplace(uuid, std::move(*pending));
  st.origination_jobs.emplace(job_uuid, uuid);
  // The Job-UUID is ours, so the BACKGROUND_JOB comes to the supervisor as an event.
  caf::actor handle = caf::actor_cast<caf::actor>(self);
  st.client->send(std::move(*cmd), [handle, uuid](caf::expected<esl::frame> reply) {
    // A link failure leaves the job's fate unknown: the expiry (or the listing after the
    // reconnect, which adopts the channel if it exists) settles it.
    if (reply && !reply->reply_text().starts_with("+OK")) {
      std::string text{reply->reply_text()};
      auto cause = text.starts_with("-ERR ") ? text.substr(5) : text;
      caf::anon_send(handle, origination_failed{uuid, cause.empty() ? "UNKNOWN" : cause});
    }
  });
  self->delayed_send(self, std::chrono::seconds{request.timeout_seconds} + origination_grace,
                     origination_expired{uuid, job_uuid});
  return originate_reply{std::move(uuid), std::move(job_uuid)};
}

/// A BACKGROUND_JOB: an origination's result ("+OK <uuid>" or "-ERR <CAUSE>").
void on_background_job(supervisor_pointer self, const esl::frame& ev) {
  auto& st = self->state;
  auto job = st.origination_jobs.find(std::string{ev.job_uuid()});
  if (job == st.origination_jobs.end())
    return;
  auto uuid = std::move(job->second);
  st.origination_jobs.erase(job);
  auto body = ev.event_body();
  while (!body.empty() && (body.back() == '\n' || body.back() == ' '))
    body.remove_suffix(1);
  if (body.starts_with("+OK")) {
    st.origination_counts->answered.increment();
    return;
  }
  std::string cause{body.starts_with("-ERR ") ? body.substr(5) : body};
  self->send(self, origination_failed{std::move(uuid), cause.empty() ? "UNKNOWN" : cause});
}

/// An origination failed: its one record says so, with the cause.
void on_origination_failed(supervisor_pointer self, origination_failed& failure) {
  auto& st = self->state;
  auto it = st.originations.find(failure.uuid);
  if (it == st.originations.end())
    return;
  auto& pending = it->second;
  st.origination_jobs.erase(pending.job_uuid);
  st.origination_counts->failed.increment();
  call_setup setup;
  setup.uuid = failure.uuid;
  setup.caller = std::move(pending.caller);
  setup.callee = std::move(pending.callee);
  setup.direction = persistence::call_direction::outbound;
  setup.node = st.options.node_name;
  setup.created_us = pending.requested_us;
  setup.matched_route = std::move(pending.matched_route);
  setup.campaign = std::move(pending.campaign);
  st.originations.erase(it);
  call_state call{std::move(setup)};
  call.fail_origination(failure.cause, wall_clock_us());
  auto record = call.make_record();
  spdlog::info("call {}: origination failed: {} ({})", failure.uuid, failure.cause,
               record.disposition);
  self->send(st.options.records, record_message{std::move(record)});
}

/// An origination's time is up: forget what of it never settled.
void on_origination_expired(supervisor_pointer self, const origination_expired& expiry) {
  auto& st = self->state;
  bool job_pending = st.origination_jobs.erase(expiry.job_uuid) > 0;
  if (job_pending)
    st.origination_counts->timed_out.increment();
  auto it = st.originations.find(expiry.uuid);
  if (it == st.originations.end()) {
    if (job_pending)
      spdlog::warn("call {}: its originate job {} never reported; the call runs anyway",
                   expiry.uuid, expiry.job_uuid);
    return;
  }
  st.originations.erase(it);
  if (job_pending)
    spdlog::warn("call {}: origination got no result from FreeSWITCH in time; forgotten",
                 expiry.uuid);
  else
    spdlog::warn("call {}: originated, but its channel never parked; forgotten", expiry.uuid);
}

void register_origination_metrics(node_supervisor_state& st, metrics_registry& m) {
  auto counter = [&m](const char* result) -> metric_counter& {
    return m.counter("callgrid_originations_total",
                     "Outbound calls requested of this node, by result: answered, failed "
                     "(FreeSWITCH said -ERR), refused (not sent: draining, ESL down, at capacity, "
                     "bad request), timed_out (no job result)",
                     {{"result", result}});
  };
  st.origination_counts.emplace(origination_metrics{counter("answered"), counter("failed"),
                                                    counter("refused"), counter("timed_out")});
}

void on_park(supervisor_pointer self, std::shared_ptr<const esl::frame> ev) {
  auto& st = self->state;
  std::string uuid{ev->unique_id()};
  if (auto it = st.calls.find(uuid); it != st.calls.end()) {
    if (it->second.mode == persistence::esl_mode::inbound)
      self->send(it->second.handle, esl_event{std::move(ev)});
    return;
  }
  // The six fields a park is judged by, read in one pass over the event.
  enum park_field { application, created, answer_state, direction, caller, destination, count };
  static constexpr std::array<std::string_view, count> names{
    "variable_current_application", "Caller-Channel-Created-Time", "Answer-State",
    "Call-Direction", "Caller-Caller-ID-Number", "Caller-Destination-Number"};
  std::array<std::optional<std::string_view>, count> found;
  ev->find_fields(names, found);
  auto text = [&found](park_field which) { return found[which].value_or(std::string_view{}); };
  // A channel running `socket` parks too; its own socket brings it to us (outbound mode).
  if (found[application] == std::optional<std::string_view>{"socket"})
    return;
  auto created_us = to_int(found[created].value_or("0"));
  bool answered = found[answer_state] == std::optional<std::string_view>{"answered"};
  if (auto setup = take_origination(st, uuid, created_us, answered)) {
    setup->started_by_event_at = ev->received_at();
    start_call(self, std::move(*setup), make_inbound_link(st.client, uuid));
    return;
  }
  // An outbound leg that is not one of our originations is not ours: the peer of a bridge to a
  // loopback endpoint, or a channel another ESL client originated with &park().
  if (found[direction] == std::optional<std::string_view>{"outbound"})
    return;
  auto setup = make_setup(st, uuid, std::string{text(caller)}, std::string{text(destination)},
                          created_us, answered, persistence::esl_mode::inbound);
  setup.started_by_event_at = ev->received_at();
  start_call(self, std::move(setup), make_inbound_link(st.client, uuid));
}

void on_heartbeat(node_supervisor_state& st, const esl::frame& ev) {
  st.load.session_count = static_cast<int32_t>(to_int(ev.field("Session-Count").value_or("0")));
  st.load.max_sessions = static_cast<int32_t>(to_int(ev.field("Max-Sessions").value_or("0")));
  auto idle = ev.field("Idle-CPU").value_or("0");
  st.load.idle_cpu = std::strtod(std::string{idle}.c_str(), nullptr);
  st.metrics->fs_sessions.set(static_cast<double>(st.load.session_count));
  st.metrics->fs_max_sessions.set(static_cast<double>(st.load.max_sessions));
  st.metrics->fs_idle_cpu.set(st.load.idle_cpu);
}

void request_listing(supervisor_pointer self) {
  caf::actor handle = caf::actor_cast<caf::actor>(self);
  self->state.client->api("show channels as json",
                          [handle](caf::expected<std::string> output) {
                            if (!output)
                              caf::anon_send(handle, channel_listing{
                                                       esl::render_error(output.error()), true});
                            else
                              caf::anon_send(handle, channel_listing{std::move(*output), false});
                          });
}

/// The setup for a listed channel nobody owns: a parked one runs its route; one that is bridged
/// or transferred (the engine restarted after its route ran) only waits for its hangup, so that
/// it still gets its record, as does an outbound leg (an origination lost with a restart). A
/// bridge's far leg (exchanging media without an application of its own) is not adopted: its
/// final event names its call and gets it its record (record_far_leg).
std::optional<call_setup> adopted_setup(node_supervisor_state& st, const nlohmann::json& row,
                                        const std::string& application) {
  auto text = [&](const char* key) {
    auto it = row.find(key);
    return it != row.end() && it->is_string() ? it->get<std::string>() : std::string{};
  };
  if (st.born_unowned.contains(text("uuid")))
    return std::nullopt;
  bool watch_only = application == "bridge" || application == "transfer";
  auto state = text("state");
  if (!watch_only && (state == "CS_EXCHANGE_MEDIA" || state == "CS_CONSUME_MEDIA"))
    return std::nullopt;
  auto setup = make_setup(st, text("uuid"), text("cid_num"), text("dest"),
                          to_int(text("created_epoch")) * 1'000'000,
                          text("callstate") == "ACTIVE", persistence::esl_mode::inbound);
  if (watch_only) {
    setup.watch_only_as = application == "bridge" ? "bridged" : "transferred";
  } else if (text("direction") == "outbound") {
    // An outbound leg whose origination was lost with a restart: its route cannot be told from
    // its destination, so it is only watched until it ends.
    setup.direction = persistence::call_direction::outbound;
    setup.watch_only_as = "adopted";
  }
  return setup;
}

/// Notes a channel nobody owns that was created after the link became ready: it did not park
/// for us, so the listings after the (re)connect must not adopt it. Only until the second
/// listing (the only ones that adopt).
void note_unowned_channel(node_supervisor_state& st, const esl::frame& ev) {
  if (st.listings_since_ready >= 2 || st.ready_at_us == 0)
    return;
  if (to_int(ev.field("Caller-Channel-Created-Time").value_or("0")) >= st.ready_at_us)
    st.born_unowned.emplace(ev.unique_id());
}

/// Writes the record of a bridge's far leg (a channel a call of ours bridged to, in either ESL
/// mode) from its final event; false when the event is not one (bridge_legs.hpp).
bool record_far_leg(supervisor_pointer self, const esl::frame& final_event) {
  auto& st = self->state;
  auto record = far_leg_record(final_event, st.options.node_name);
  if (!record)
    return false;
  spdlog::info("call {}: far leg {} ({}) of its bridge ended: {} ({})", record->call_uuid,
               record->leg, record->leg_uuid, record->disposition, record->hangup_cause);
  st.metrics->far_legs_recorded.increment();
  self->send(st.options.records, record_message{std::move(*record)});
  return true;
}

/// Hands one event of the inbound link to whoever it is for: a CHANNEL_PARK starts a call, a
/// HEARTBEAT or BACKGROUND_JOB is the supervisor's, any other goes to the call actor owning its
/// Unique-ID.
void route_event(supervisor_pointer self, std::shared_ptr<const esl::frame> frame) {
  auto& state = self->state;
  auto name = frame->event_name();
  if (name == "CHANNEL_PARK") {
    on_park(self, std::move(frame));
    return;
  }
  if (name == "HEARTBEAT") {
    on_heartbeat(state, *frame);
    return;
  }
  if (name == "BACKGROUND_JOB") {
    on_background_job(self, *frame);
    return;
  }
  auto it = state.calls.find(frame->unique_id());
  if (it == state.calls.end() || it->second.mode != persistence::esl_mode::inbound) {
    if (it == state.calls.end()) {
      if (name == "CHANNEL_HANGUP_COMPLETE" && record_far_leg(self, *frame))
        return;
      state.metrics->unowned_events.increment();
      note_unowned_channel(state, *frame);
    }
    return;
  }
  self->send(it->second.handle, esl_event{std::move(frame)});
}

/// Re-adopts parked channels nobody owns, tells owned ones the link is back, and ends the calls
/// whose channels are gone.
void reconcile(supervisor_pointer self, const channel_listing& listing) {
  auto& st = self->state;
  if (listing.failed) {
    spdlog::warn("recovery: listing the channels failed: {}", listing.json);
    return;
  }
  nlohmann::json doc = nlohmann::json::parse(listing.json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    spdlog::warn("recovery: 'show channels as json' did not answer JSON: {}",
                 listing.json.substr(0, 200));
    return;
  }
  std::unordered_set<std::string> listed;
  if (auto rows = doc.find("rows"); rows != doc.end() && rows->is_array()) {
    for (const auto& row : *rows) {
      auto text = [&](const char* key) {
        auto it = row.find(key);
        return it != row.end() && it->is_string() ? it->get<std::string>() : std::string{};
      };
      auto uuid = text("uuid");
      if (uuid.empty())
        continue;
      listed.insert(uuid);
      if (auto it = st.calls.find(uuid); it != st.calls.end()) {
        self->send(it->second.handle, link_restored{});
        continue;
      }
      auto application = text("application");
      if (application == "socket")
        continue;
      auto created_epoch = to_int(text("created_epoch"));
      auto setup = take_origination(st, uuid, created_epoch * 1'000'000,
                                    text("callstate") == "ACTIVE");
      if (!setup)
        setup = adopted_setup(st, row, application);
      if (!setup)
        continue;
      spdlog::info("recovery: re-adopting channel {} ({} -> {}, application '{}'{})", uuid,
                   setup->caller, setup->callee, application,
                   setup->watch_only_as.empty() ? "" : ", waiting for its hangup only");
      st.metrics->adopted.increment();
      st.adopted_unconfirmed.insert(uuid);
      start_call(self, std::move(*setup), make_inbound_link(st.client, uuid));
    }
  }
  // Ending calls whose channel is gone waits for the second look: the first listing may miss
  // channels created just before the link was lost (FreeSWITCH's listing lags).
  if (++st.listings_since_ready < 2)
    return;
  st.born_unowned.clear();
  // The channels born since the link became ready need no more sightings: the completions no
  // call reads may go unread from now on, on this link (a new link starts reading them).
  if (st.client)
    st.client->skip_completions(words(node_supervisor_skipped_completions),
                                st.ready_link_number);
  // A channel adopted from the first listing but missing from the second was already gone (the
  // listing lags behind hangups too): close its record, nothing will come for it.
  for (const auto& uuid : st.adopted_unconfirmed) {
    auto it = st.calls.find(uuid);
    if (it == st.calls.end() || listed.contains(uuid))
      continue;
    spdlog::warn("recovery: adopted channel {} is gone; closing its record", uuid);
    self->send(it->second.handle,
               end_call{persistence::end_reason::engine_restart, "UNKNOWN", false});
  }
  st.adopted_unconfirmed.clear();
  if (!st.journal_reconciled && st.options.journal.list) {
    st.journal_reconciled = true;
    st.listed_at_start = listed;
    caf::actor handle = caf::actor_cast<caf::actor>(self);
    st.options.journal.list([handle](std::vector<std::pair<std::string, std::string>> entries) {
      caf::anon_send(handle, journal_entries{std::move(entries)});
    });
  }
  if (st.link_lost_at_us == 0)
    return;
  for (auto& [uuid, call] : st.calls) {
    if (call.mode != persistence::esl_mode::inbound || listed.contains(uuid)
        || call.created_us >= st.link_lost_at_us)
      continue;
    spdlog::warn("recovery: channel {} is gone after the ESL link was lost; closing its record",
                 uuid);
    st.metrics->lost.increment();
    self->send(call.handle, end_call{persistence::end_reason::node_lost, "LOSE_RACE", false});
  }
  st.link_lost_at_us = 0;
}

/// The inbound link's totals, read at each scrape.
void register_link_metrics(metrics_registry& m, std::shared_ptr<esl::inbound_client> client) {
  auto read = [client](std::atomic<std::uint64_t> esl::connection_counters::*member) {
    return [client, member] { return static_cast<double>((client->counters().*member).load()); };
  };
  using cc = esl::connection_counters;
  m.callback_gauge("callgrid_esl_received_bytes_total", "Bytes read from the inbound ESL link",
                   {}, read(&cc::bytes_received));
  m.callback_gauge("callgrid_esl_sent_bytes_total", "Bytes written to the inbound ESL link", {},
                   read(&cc::bytes_sent));
  m.callback_gauge("callgrid_esl_commands_total", "Commands sent on the inbound ESL link", {},
                   read(&cc::commands_sent));
  m.callback_gauge("callgrid_esl_commands_rejected_total",
                   "Commands not sent: the link was down or its queue full", {},
                   read(&cc::commands_rejected));
  m.callback_gauge("callgrid_esl_protocol_errors_total",
                   "Inbound ESL links closed for a corrupt stream or a reply timeout", {},
                   read(&cc::protocol_errors));
  m.callback_gauge("callgrid_esl_skipped_events_total",
                   "Events dropped unread: CHANNEL_ANSWER and the completions of answer and set",
                   {}, read(&cc::events_skipped));
}

/// Calls in the journal that nobody owns and FreeSWITCH no longer lists ended while callgridd
/// was down: each gets a record closed with `engine_restart` (what is known: who, when it
/// started; the hangup cause is unknown).
void close_leftover_calls(supervisor_pointer self, journal_entries& leftovers) {
  auto& st = self->state;
  for (auto& [uuid, text] : leftovers.entries) {
    if (st.calls.contains(uuid) || st.listed_at_start.contains(uuid))
      continue;
    auto snapshot = nlohmann::json::parse(text, nullptr, false);
    if (snapshot.is_discarded() || !snapshot.is_object()) {
      spdlog::warn("recovery: unreadable session snapshot of call {}; dropped", uuid);
      st.options.journal.drop({uuid});
      continue;
    }
    call_setup setup;
    setup.uuid = uuid;
    setup.caller = snapshot.value("caller", "");
    setup.callee = snapshot.value("callee", "");
    setup.node = snapshot.value("node", st.options.node_name);
    setup.mode = snapshot.value("mode", "inbound") == "outbound" ? persistence::esl_mode::outbound
                                                                 : persistence::esl_mode::inbound;
    setup.created_us = snapshot.value("created_us", int64_t{0});
    if (snapshot.contains("route_id")) {
      route r;
      r.id = snapshot.value("route_id", int64_t{0});
      if (snapshot.contains("flow_id"))
        r.flow_id = snapshot.value("flow_id", int64_t{0});
      setup.matched_route = std::make_shared<const route>(std::move(r));
    }
    call_state call{std::move(setup)};
    call.end_untracked(persistence::end_reason::engine_restart, "UNKNOWN", wall_clock_us());
    spdlog::warn("call {}: ended while callgridd was down; recorded with end reason "
                 "engine_restart",
                 uuid);
    st.metrics->recovered_records.increment();
    // The record writer drops the journal entry once this record is durable.
    self->send(st.options.records, record_message{call.make_record()});
  }
  st.listed_at_start.clear();
}

/// Asks FreeSWITCH for `status`: it says "is ready" once it takes calls (not while shutting
/// down); the answer sets `freeswitch_ready` (the cluster admits a node only when it is set).
void check_freeswitch_ready(supervisor_pointer self) {
  caf::actor handle = caf::actor_cast<caf::actor>(self);
  self->state.client->api("status", [handle](caf::expected<std::string> output) {
    bool ready = output && output->find(" is ready") != std::string::npos;
    caf::anon_send(handle, freeswitch_status{ready});
  });
}

/// Sends an api command whose only effect is on FreeSWITCH (pause, resume), logging failures.
/// Logged on failure only: FreeSWITCH's own log has the rest.
void send_switch_command(supervisor_pointer self, std::string command) {
  self->state.client->api(command, [command](caf::expected<std::string> output) {
    if (!output)
      spdlog::error("'{}' failed: {}", command, esl::render_error(output.error()));
    else if (output->starts_with("-ERR"))
      spdlog::error("'{}' answered {}", command, *output);
    else
      spdlog::debug("'{}' done", command);
  });
}

constexpr auto drain_tick_interval = 200ms;

int64_t wall_clock_ms() { return wall_clock_us() / 1000; }

void begin_drain(supervisor_pointer self, start_drain request) {
  auto& st = self->state;
  st.drain_deadline_unix_ms = request.deadline_unix_ms;
  if (st.load.phase != drain_phase::none) {
    spdlog::info("drain: deadline changed ({} calls left)", st.calls.size());
    return;
  }
  spdlog::info("drain: started ({}), {} calls up, deadline {}",
               request.reason.empty() ? "no reason given" : request.reason, st.calls.size(),
               request.deadline_unix_ms == 0 ? std::string{"none"}
                                             : std::to_string(request.deadline_unix_ms));
  st.load.phase = drain_phase::draining;
  st.load.hung_up_at_deadline = 0;
  st.deadline_hangups_sent = false;
  send_switch_command(self, "fsctl pause inbound");
  self->send(self, caf::tick_atom_v);
}

void end_drain(supervisor_pointer self) {
  auto& st = self->state;
  if (st.load.phase == drain_phase::none)
    return;
  spdlog::info("drain: cancelled; accepting calls again");
  st.load.phase = drain_phase::none;
  st.drain_deadline_unix_ms = 0;
  send_switch_command(self, "fsctl resume inbound");
}

/// One step of the drain, every `drain_tick_interval` while it runs: the deadline's hangups,
/// then the spool flush once the last call is gone.
void advance_drain(supervisor_pointer self) {
  auto& st = self->state;
  if (st.load.phase == drain_phase::none || st.load.phase == drain_phase::drained)
    return;
  if (st.load.phase == drain_phase::draining) {
    if (st.drain_deadline_unix_ms != 0 && !st.deadline_hangups_sent
        && wall_clock_ms() >= st.drain_deadline_unix_ms && !st.calls.empty()) {
      st.deadline_hangups_sent = true;
      st.load.hung_up_at_deadline = static_cast<int32_t>(st.calls.size());
      spdlog::warn("drain: deadline reached; hanging up {} calls with SYSTEM_SHUTDOWN",
                   st.calls.size());
      for (auto& [uuid, call] : st.calls)
        self->send(call.handle,
                   end_call{persistence::end_reason::node_drain, "SYSTEM_SHUTDOWN", true});
    }
    if (st.calls.empty()) {
      spdlog::info("drain: no calls left; flushing the record spool");
      st.load.phase = drain_phase::flushing;
    }
  }
  if (st.load.phase == drain_phase::flushing && !st.flush_in_flight) {
    st.flush_in_flight = true;
    self->request(st.options.records, 30s, caf::flush_atom_v)
      .then(
        [self](uint64_t pending) {
          auto& state = self->state;
          state.flush_in_flight = false;
          state.load.spool_depth = static_cast<int32_t>(pending);
          if (pending == 0 && state.load.phase == drain_phase::flushing) {
            state.load.phase = drain_phase::drained;
            spdlog::info("drain: drained (every record is in PostgreSQL)");
          }
        },
        [self](caf::error& err) {
          self->state.flush_in_flight = false;
          spdlog::warn("drain: flushing the record spool failed: {}", caf::to_string(err));
        });
  }
  self->delayed_send(self, drain_tick_interval, caf::tick_atom_v);
}

node_supervisor_actor::behavior_type node_supervisor_impl(supervisor_pointer self,
                                                          node_supervisor_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  st.load.capacity = st.options.capacity;
  auto& m = *st.options.metrics;
  st.metrics.emplace(supervisor_metrics{
    m.counter("callgrid_calls_started_total", "Calls taken over by this node's engine"),
    m.counter("callgrid_esl_events_total", "ESL events received on the inbound link"),
    m.counter("callgrid_esl_unowned_events_total",
              "Channel events for channels no call actor owns (dropped)"),
    m.counter("callgrid_esl_reconnects_total", "Times the inbound ESL link became ready again"),
    m.counter("callgrid_calls_adopted_total", "Parked channels re-adopted after a (re)connect"),
    m.counter("callgrid_calls_lost_total",
              "Calls closed because their channel was gone after a link loss"),
    m.counter("callgrid_calls_recorded_after_restart_total",
              "Calls that ended while callgridd was down, recorded from the session journal"),
    m.counter("callgrid_bridge_far_legs_recorded_total",
              "Far legs of bridges started by this node's calls that ended and were recorded"),
    m.counter("callgrid_esl_late_events_total",
              "Events that reached the supervisor more than 1 s after FreeSWITCH stamped them"),
    m.gauge("callgrid_esl_event_lag_seconds",
            "Delay of the last event from FreeSWITCH's timestamp to the supervisor"),
    m.gauge("callgrid_esl_up", "1 while the inbound ESL link is ready"),
    m.gauge("callgrid_freeswitch_sessions", "Session-Count of FreeSWITCH's last HEARTBEAT"),
    m.gauge("callgrid_freeswitch_max_sessions", "Max-Sessions of FreeSWITCH's last HEARTBEAT"),
    m.gauge("callgrid_freeswitch_idle_cpu_ratio",
            "Idle-CPU of FreeSWITCH's last HEARTBEAT, as a ratio"),
  });
  register_origination_metrics(st, m);
  auto esl_options = st.options.esl;
  esl_options.events = words(node_supervisor_events);
  esl_options.filters = node_supervisor_filters(esl_options.subscribe_background_jobs);
  auto wake_only = words(node_supervisor_wake_only_events);
  esl_options.connection.skipped_events.insert(esl_options.connection.skipped_events.end(),
                                               wake_only.begin(), wake_only.end());
  caf::actor handle = caf::actor_cast<caf::actor>(self);
  auto batcher = std::make_shared<event_batcher>(handle);
  st.client = esl::inbound_client::make(
    *st.options.io, std::move(esl_options),
    {.on_event =
       [batcher](esl::frame&& f) { batcher->add(std::move(f)); },
     .on_state =
       [handle, batcher](esl::link_state state, const caf::error& why) {
         batcher->flush();
         caf::anon_send(handle, link_status{state == esl::link_state::ready,
                                            why ? esl::render_error(why) : std::string{}});
       },
     .on_read_end = [batcher] { batcher->flush(); }});
  st.client->start();
  self->attach_functor([client = st.client] { client->stop(); });
  st.prompts = spawn_prompt_checker(self->system(),
                                    {st.client, st.options.metrics, st.options.catalog});
  self->attach_functor([prompts = st.prompts] {
    caf::anon_send_exit(prompts, caf::exit_reason::user_shutdown);
  });
  register_link_metrics(m, st.client);
  self->attach_functor([idle = st.idle_call_actors] {
    for (auto& actor : *idle)
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    idle->clear();
  });
  self->set_down_handler([self](caf::down_msg& down) {
    auto& state = self->state;
    // An idle actor that ended (beyond the pool's size, or failed) must not get a call.
    std::erase_if(*state.idle_call_actors,
                  [&](const call_actor& idle) { return idle.address() == down.source; });
    auto it = state.uuid_by_actor.find(down.source);
    if (it == state.uuid_by_actor.end())
      return;
    auto call = state.calls.find(it->second);
    if (call != state.calls.end() && call->second.handle.address() == down.source) {
      // The actor handed its record to the writer before it exited; the writer drops the
      // call's journal entry once the record is durable.
      state.calls.erase(call);
    }
    state.uuid_by_actor.erase(it);
    state.load.live_calls = static_cast<int32_t>(state.calls.size());
  });
  return {
    [self](esl_events& batch) {
      auto& state = self->state;
      if (batch.frames.empty())
        return;
      state.metrics->events.increment(batch.frames.size());
      // How far behind FreeSWITCH's clock the events reach us (both clocks are this host's).
      // The events of one read arrive together and were stamped in order, so the first is the
      // latest: only when it is late can any of them be.
      auto now_us = wall_clock_us();
      auto lag_of = [now_us](const esl::frame& frame) -> std::optional<double> {
        auto stamp = to_int(frame.field("Event-Date-Timestamp").value_or("0"));
        if (stamp <= 0)
          return std::nullopt;
        return static_cast<double>(now_us - stamp) / 1e6;
      };
      auto first_lag = lag_of(*batch.frames.front());
      if (first_lag && *first_lag > 1.0) {
        for (const auto& frame : batch.frames)
          if (auto lag = lag_of(*frame); lag && *lag > 1.0)
            state.metrics->late_events.increment();
      }
      auto last_lag = batch.frames.size() == 1 ? first_lag : lag_of(*batch.frames.back());
      if (last_lag)
        state.metrics->event_lag.set(*last_lag);
      // Journal entries are saved before this handler returns, so before any command of
      // the calls they describe can leave (those wait for the end of the I/O thread's turn).
      state.journal_batch.emplace();
      for (auto& frame : batch.frames)
        route_event(self, std::move(frame));
      auto started = std::move(*state.journal_batch);
      state.journal_batch.reset();
      if (!started.empty())
        state.options.journal.save(std::move(started));
    },
    [self](link_status& status) {
      auto& state = self->state;
      state.load.esl_ready = status.ready;
      if (!status.ready)
        state.load.freeswitch_ready = false;
      state.metrics->esl_up.set(status.ready ? 1 : 0);
      self->send(state.prompts, prompt_check_link{status.ready});
      if (status.ready) {
        spdlog::info("ESL link to FreeSWITCH ready");
        if (state.ever_ready)
          state.metrics->reconnects.increment();
        state.ever_ready = true;
        state.listings_since_ready = 0;
        state.ready_at_us = wall_clock_us();
        state.born_unowned.clear();
        state.ready_link_number = state.client ? state.client->links_ready() : 0;
        request_listing(self);
        check_freeswitch_ready(self);
        // A drain pauses FreeSWITCH's inbound calls; a daemon that stopped or lost the link
        // during one must not leave the node refusing calls when no drain is under way.
        if (state.load.phase == drain_phase::none)
          send_switch_command(self, "fsctl resume inbound");
        else
          send_switch_command(self, "fsctl pause inbound");
        // FreeSWITCH lists channels from its core database, which lags up to a second behind:
        // a second look catches channels created just before the (re)connect.
        self->delayed_send(self, relisting_delay, relist_channels{});
      } else {
        if (state.link_lost_at_us == 0 && state.ever_ready)
          state.link_lost_at_us = wall_clock_us();
        // One line per distinct reason and at most one every 30 s for a repeating one, so a
        // FreeSWITCH that stays down does not flood the log at every backoff step.
        auto now = std::chrono::steady_clock::now();
        if (!status.why.empty()
            && (status.why != state.last_link_warning || now - state.last_link_warning_at > 30s)) {
          spdlog::warn("ESL link to FreeSWITCH not ready: {}", status.why);
          state.last_link_warning = status.why;
          state.last_link_warning_at = now;
        }
      }
    },
    [self](channel_listing& listing) { reconcile(self, listing); },
    [self](journal_entries& leftovers) { close_leftover_calls(self, leftovers); },
    [self](freeswitch_status status) { self->state.load.freeswitch_ready = status.ready; },
    [self](relist_channels) {
      if (self->state.load.esl_ready)
        request_listing(self);
    },
    [self](outbound_call& call) {
      auto& state = self->state;
      auto session = call.session;
      const auto& data = session->channel_data();
      auto setup = make_setup(
        state, std::string{data.unique_id()},
        std::string{data.field("Caller-Caller-ID-Number").value_or("")},
        std::string{data.field("Caller-Destination-Number").value_or("")},
        to_int(data.field("Caller-Channel-Created-Time").value_or("0")),
        data.field("Answer-State") == std::optional<std::string_view>{"answered"},
        persistence::esl_mode::outbound);
      auto uuid = setup.uuid;
      start_call(self, std::move(setup), make_outbound_link(session, uuid));
      auto call_handle = state.calls.at(uuid).handle;
      session->start(
        [call_handle](esl::frame&& f) {
          caf::anon_send(call_handle, esl_event{std::make_shared<const esl::frame>(std::move(f))});
        },
        [call_handle](const caf::error&) {
          // The socket closed; if the call had not ended by its events, end it now.
          caf::anon_send(call_handle, end_call{persistence::end_reason::normal, "NORMAL_CLEARING",
                                          false});
        });
    },
    [self](catalog_update& update) {
      self->send(self->state.prompts, prompt_check_catalog{update.catalog});
      self->state.options.catalog = std::move(update.catalog);
    },
    [self](load_query) { return self->state.load; },
    [self](start_drain& request) { begin_drain(self, std::move(request)); },
    [self](cancel_drain) { end_drain(self); },
    [self](const node_settings_update& update) {
      auto& state = self->state;
      state.options.capacity = update.capacity;
      state.load.capacity = update.capacity;
      state.options.park_timeout = update.park_timeout;
      state.options.answer_timeout = update.answer_timeout;
    },
    [self](caf::tick_atom) { advance_drain(self); },
    [self](call_finished& done) {
      // As for a call actor's exit (the down handler), but the actor stays for the next call.
      auto& state = self->state;
      state.uuid_by_actor.erase(done.handle.address());
      auto call = state.calls.find(done.uuid);
      if (call != state.calls.end() && call->second.handle == done.handle)
        state.calls.erase(call);
      state.load.live_calls = static_cast<int32_t>(state.calls.size());
      if (state.idle_call_actors->size() < max_idle_call_actors(state.options))
        state.idle_call_actors->push_back(std::move(done.handle));
      else
        caf::anon_send_exit(done.handle, caf::exit_reason::user_shutdown);
    },
    [self](originate_request& request) { return originate(self, request); },
    [self](origination_failed& failure) { on_origination_failed(self, failure); },
    [self](origination_expired& expiry) { on_origination_expired(self, expiry); },
  };
}

} // namespace

node_supervisor_actor spawn_node_supervisor(caf::actor_system& system,
                                            node_supervisor_options options) {
  return system.spawn(node_supervisor_impl, std::move(options));
}

} // namespace callgrid::actors
