#include "switch_core.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <regex>
#include <tuple>
#include <utility>

#include "esl/percent_codec.hpp"
#include "ascii_text.hpp"
#include "command_words.hpp"

namespace callgrid::fsemu {

namespace {

// FreeSWITCH's `show channels` column list (1.10.12, capture 15).
constexpr std::string_view channels_columns
  = "uuid,direction,created,created_epoch,name,state,cid_name,cid_num,ip_addr,dest,application,"
    "application_data,dialplan,context,read_codec,read_rate,read_bit_rate,write_codec,write_rate,"
    "write_bit_rate,secure,hostname,presence_id,presence_data,accountcode,callstate,callee_name,"
    "callee_num,callee_direction,call_uuid,sent_callee_name,sent_callee_num,initial_cid_name,"
    "initial_cid_num,initial_ip_addr,initial_dest,initial_dialplan,initial_context";

constexpr std::string_view fsctl_usage
  = "-USAGE: [api_expansion [on|off]|recover|send_sighup|hupall|pause [inbound|outbound]|"
    "resume [inbound|outbound]|shutdown [cancel|elegant|asap|now|restart]|sps|sps_peak_reset|"
    "sync_clock|sync_clock_when_idle|reclaim_mem|max_sessions|min_dtmf_duration [num]|"
    "max_dtmf_duration [num]|default_dtmf_duration [num]|min_idle_cpu|loglevel [level]|"
    "debug_level [level]|mdns_resolve [enable|disable]]\n";

constexpr std::string_view originate_usage
  = "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] "
    "[<cid_name>] [<cid_num>] [<timeout_sec>]\n";

constexpr std::string_view no_such_channel = "-ERR No such channel!\n";

std::string plural(std::uint64_t n, std::string_view unit) {
  std::string out = std::to_string(n);
  out += ' ';
  out += unit;
  if (n != 1)
    out += 's';
  return out;
}

std::string upper(std::string_view text) {
  std::string out{text};
  for (auto& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

/// "%Y-%m-%d %H:%M:%S" of `time_us` shifted by `utc_offset_seconds` (FreeSWITCH's *_stamp
/// variables and the `created` column of `show channels`).
std::string local_stamp(std::int64_t time_us, std::int32_t utc_offset_seconds) {
  std::time_t seconds = static_cast<std::time_t>(time_us / 1'000'000 + utc_offset_seconds);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &parts);
  return text;
}

/// FreeSWITCH's cause numbers for the causes a client is likely to give; an unknown name is
/// NORMAL_CLEARING here.
std::pair<std::string, std::uint32_t> known_cause(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::uint32_t>, 22> causes{{
    {"UNSPECIFIED", 0},           {"UNALLOCATED_NUMBER", 1},
    {"NO_ROUTE_DESTINATION", 3},  {"NORMAL_CLEARING", 16},
    {"USER_BUSY", 17},            {"NO_USER_RESPONSE", 18},
    {"NO_ANSWER", 19},            {"SUBSCRIBER_ABSENT", 20},
    {"CALL_REJECTED", 21},        {"NUMBER_CHANGED", 22},
    {"DESTINATION_OUT_OF_ORDER", 27}, {"INVALID_NUMBER_FORMAT", 28},
    {"NORMAL_UNSPECIFIED", 31},   {"NORMAL_CIRCUIT_CONGESTION", 34},
    {"NORMAL_TEMPORARY_FAILURE", 41}, {"SWITCH_CONGESTION", 42},
    {"RECOVERY_ON_TIMER_EXPIRE", 102}, {"ORIGINATOR_CANCEL", 487},
    {"ALLOTTED_TIMEOUT", 602},    {"USER_NOT_REGISTERED", 606},
    {"MANAGER_REQUEST", 503},     {"SYSTEM_SHUTDOWN", 500},
  }};
  auto wanted = upper(name);
  for (const auto& [cause, number] : causes)
    if (cause == wanted)
      return {std::string{cause}, number};
  return {"NORMAL_CLEARING", 16};
}

/// The headers PLAYBACK_START / PLAYBACK_STOP start with: switch_ivr_play_file names the type
/// only for tone_stream:// and local_stream:// sources, then always the path.
std::vector<event_header> playback_headers(const std::string& path) {
  std::vector<event_header> out;
  for (std::string_view type : {"tone_stream", "local_stream"})
    if (std::string_view{path}.substr(0, type.size() + 1) == std::string{type} + ":")
      out.push_back({"Playback-File-Type", std::string{type}});
  out.push_back({"Playback-File-Path", path});
  return out;
}

/// hangup_cause_q850: FreeSWITCH's own causes above 127 map to NORMAL_CLEARING (16).
std::uint32_t q850_of(std::uint32_t cause) {
  return cause <= 127 ? cause : 16;
}

/// FreeSWITCH's switch_true: "yes", "on", "true", "t", "enabled", "active", "allow" (any case)
/// or a non-zero number.
bool is_true(const std::string* value) {
  if (value == nullptr || value->empty())
    return false;
  for (std::string_view yes : {"yes", "on", "true", "t", "enabled", "active", "allow"})
    if (iequals(*value, yes))
      return true;
  bool digits = std::all_of(value->begin(), value->end(),
                            [](char c) { return c >= '0' && c <= '9'; });
  return digits && value->find_first_not_of('0') != std::string::npos;
}

/// The applications that hold a channel until they end: others sent meanwhile wait behind them.
bool blocking_app(std::string_view app) {
  return app == "playback" || app == "sleep" || app == "play_and_get_digits" || app == "bridge";
}

/// `caller_id`: "\"name\" <number>", or the number alone when there is no name.
std::string caller_id_text(const caller_profile& profile) {
  if (profile.caller_id_name.empty())
    return profile.caller_id_number;
  return "\"" + profile.caller_id_name + "\" <" + profile.caller_id_number + ">";
}


} // namespace

std::vector<dialplan_extension> default_dialplan() {
  std::vector<dialplan_extension> out;
  dialplan_extension park;
  park.destination = "1000";
  park.action = extension_action::park;
  park.dp_match = "ARRAY::1000|:1000";
  out.push_back(park);
  dialplan_extension tone;
  tone.destination = "9197";
  tone.action = extension_action::play_and_hang_up;
  tone.playback_file = "tone_stream://%(1000,0,440);loops=2";
  tone.playback_us = 2'000'000;
  out.push_back(tone);
  dialplan_extension socket;
  socket.destination = "8084";
  socket.action = extension_action::socket;
  socket.dp_match = "ARRAY::8084|:8084";
  socket.socket_address = "127.0.0.1:8084";
  out.push_back(socket);
  return out;
}

event_input switch_event::input() const {
  event_context ctx{calling_file, calling_function, calling_line,
                    sequence,     timestamp_us,     utc_offset_seconds};
  std::optional<std::string_view> body_view;
  if (body)
    body_view = *body;
  return event_input{name, ctx, channel ? &*channel : nullptr, extras, body_view};
}

switch_core::switch_core(switch_config config, std::int64_t start_time_us)
  : config_(std::move(config)),
    renderer_(config_.identity),
    start_time_us_(start_time_us),
    random_(config_.seed) {
  // A fresh switch has no sessions, no flags and no pending events; its first HEARTBEAT is
  // one interval after the start.
  if (config_.heartbeat_interval_us > 0)
    next_heartbeat_us_ = start_time_us + config_.heartbeat_interval_us;
}

std::string switch_core::new_uuid() {
  return random_uuid(random_);
}

std::string random_uuid(std::mt19937_64& random) {
  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); i += 8) {
    auto word = random();
    for (std::size_t j = 0; j < 8; ++j)
      bytes[i + j] = static_cast<std::uint8_t>(word >> (8 * j));
  }
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3f) | 0x80);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out += '-';
    out += hex[bytes[i] >> 4];
    out += hex[bytes[i] & 0x0f];
  }
  return out;
}

bool switch_core::ready() const noexcept {
  if (halted_ || shutdown_ == shutdown_mode::asap)
    return false;
  return !(paused_inbound_ && paused_outbound_);
}

bool switch_core::accepting_inbound() const noexcept {
  return !halted_ && !paused_inbound_ && shutdown_ != shutdown_mode::asap;
}

bool switch_core::accepting_outbound() const noexcept {
  return !halted_ && !paused_outbound_ && shutdown_ != shutdown_mode::asap;
}

bool switch_core::queue_event(std::string name, std::string_view file, std::string_view function,
                              std::uint32_t line, std::int64_t now_us,
                              std::vector<event_header> extras, std::optional<std::string> body) {
  // An event nobody takes is not built (no channel snapshot copied); it still uses up its
  // Event-Sequence number, as FreeSWITCH numbers every event it fires.
  if (interest_ && !interest_(name)) {
    ++next_sequence_;
    return false;
  }
  switch_event ev;
  ev.name = std::move(name);
  ev.calling_file = file;
  ev.calling_function = function;
  ev.calling_line = line;
  ev.sequence = next_sequence_++;
  ev.timestamp_us = now_us;
  ev.utc_offset_seconds = config_.utc_offset_seconds;
  ev.extras = std::move(extras);
  ev.body = std::move(body);
  pending_.push_back(std::move(ev));
  return true;
}

std::vector<switch_event> switch_core::take_events(std::int64_t now_us) {
  // FreeSWITCH shuts down once the last session is gone; with none it does so at once, after
  // the request's own reply and BACKGROUND_JOB (capture 19).
  // With calls up it waits: `advance` checks every 500 ms (see `shutdown_tick`).
  if (shutdown_ != shutdown_mode::none && session_count_ == 0 && !halted_ && !shutdown_waits_)
    halt(now_us);
  return std::exchange(pending_, {});
}

void switch_core::halt(std::int64_t now_us) {
  queue_event("SHUTDOWN", "switch_core.c", "switch_core_destroy", 3023, now_us,
              {{"Event-Info", "System Shutting Down"}});
  halted_ = true;
}

void switch_core::queue_background_job(const waiting_job& job, std::int64_t now_us) {
  std::vector<event_header> extras{{"Job-UUID", job.uuid}, {"Job-Command", job.command}};
  if (!job.args.empty())
    extras.push_back({"Job-Command-Arg", job.args});
  queue_event("BACKGROUND_JOB", "mod_event_socket.c", "api_exec", 1572, now_us,
              std::move(extras), job.output);
}

void switch_core::shutdown_tick(std::int64_t at_us) {
  // FreeSWITCH's `fsctl shutdown elegant|asap` loops while sessions exist, sleeping 500 ms and
  // stopping early when cancelled; only then does a bgapi'd request's BACKGROUND_JOB fire
  // (captures 17, 18, 19: about 500 ms after the cancel or the last hangup).
  if (shutdown_ != shutdown_mode::none && session_count_ > 0) {
    next_shutdown_tick_us_ = at_us + 500'000;
    return;
  }
  for (const auto& job : std::exchange(waiting_jobs_, {}))
    queue_background_job(job, at_us);
  shutdown_waits_ = false;
  ++shutdown_releases_;
  if (shutdown_ != shutdown_mode::none && !halted_)
    halt(at_us);
}

void switch_core::run_background_job(std::string_view command_line, std::string_view job_uuid,
                                     std::int64_t now_us) {
  auto [command, args] = split_first(command_line);
  waiting_job job{std::string{job_uuid}, std::string{command}, std::string{args},
                  api(command_line, now_us)};
  // A shutdown request that has to wait for calls answers when the wait is over.
  auto argv = words(args);
  if (command == "fsctl" && argv.size() > 1 && argv[0] == "shutdown"
      && (iequals(argv[1], "elegant") || iequals(argv[1], "asap")) && shutdown_waits_) {
    waiting_jobs_.push_back(std::move(job));
    return;
  }
  queue_background_job(job, now_us);
}

std::string switch_core::fire_client_event(std::string_view name,
                                           std::vector<event_header> headers,
                                           std::optional<std::string> body, std::int64_t now_us) {
  auto event_uuid = new_uuid();
  headers.push_back({"Event-UUID", event_uuid});
  queue_event(std::string{name}, "mod_event_socket.c", "parse_command", 0, now_us,
              std::move(headers), std::move(body));
  return event_uuid;
}

std::string switch_core::api(std::string_view command_line, std::int64_t now_us) {
  auto [command, args] = split_first(command_line);
  if (command == "status")
    return status(now_us);
  if (command == "version")
    return "FreeSWITCH Version " + config_.version + "~64bit ( 64bit)\n";
  if (command == "hostname")
    return config_.identity.hostname;
  if (command == "echo")
    return std::string{args};
  if (command == "global_getvar")
    return global_getvar(args);
  // mod_commands: "true"/"false" without a newline; no argument is "false".
  if (command == "file_exists")
    return !args.empty() && file_exists(args) ? "true" : "false";
  // mod_http_cache queues the download for its prefetch threads and answers at once; fsemu
  // downloads nothing, so its queue is never full.
  if (command == "http_prefetch")
    return args.empty() ? "USAGE: {param=val}<url>\n" : "+OK\n";
  if (command == "show")
    return show(args, now_us);
  if (command == "fsctl")
    return fsctl(args, now_us);
  if (command == "originate")
    return originate(args, now_us);
  if (command == "hupall") {
    auto argv = words(args);
    auto cause = argv.empty() ? std::string{"MANAGER_REQUEST"} : upper(argv[0]);
    // `hupall <cause> <variable> <value>` only hangs up the channels whose variable has that
    // value (then each call's other leg follows as for uuid_kill).
    bool filtered = argv.size() >= 3;
    auto matches = [&](const leg& l) {
      const auto* value = l.snap.find_variable(argv[1]);
      return value != nullptr && *value == argv[2];
    };
    // One uuid per call: the A leg, or a B leg whose A leg is gone.
    std::vector<std::string> calls;
    for (const auto& l : legs_) {
      if (l.gone)
        continue;
      if (filtered ? matches(l) : (l.is_a || !live_.contains(l.partner)))
        calls.push_back(l.snap.uuid);
    }
    for (const auto& uuid : calls)
      hang_up_call(uuid, cause, now_us);
    if (filtered)
      return "+OK hangup all channels matching [" + std::string{argv[1]} + "]=["
             + std::string{argv[2]} + "] with cause " + cause + "\n";
    return "+OK hangup all channels with cause " + cause + "\n";
  }
  if (command == "uuid_kill" || command == "uuid_getvar" || command == "uuid_setvar"
      || command == "uuid_exists" || command == "uuid_answer")
    return uuid_command(command, args, now_us);
  if (command == "uuid_break" || command == "uuid_send_dtmf" || command == "uuid_broadcast"
      || command == "uuid_transfer")
    return channel_command(command, args, now_us);
  if (command == "uuid_bridge")
    return uuid_bridge(args, now_us);
  return "-ERR " + std::string{command} + " Command not found!\n";
}

std::string switch_core::status(std::int64_t now_us) const {
  auto up = static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_us - start_time_us_));
  auto micro = up % 1000;
  auto milli = (up / 1000) % 1000;
  auto seconds = up / 1'000'000;
  auto days = seconds / 86400;
  std::string out = "UP " + plural(days / 365, "year") + ", " + plural(days % 365, "day") + ", "
                    + plural((seconds / 3600) % 24, "hour") + ", "
                    + plural((seconds / 60) % 60, "minute") + ", "
                    + plural(seconds % 60, "second") + ", " + plural(milli, "millisecond") + ", "
                    + plural(micro, "microsecond") + "\n";
  out += "FreeSWITCH (Version " + config_.version + "  64bit) is "
         + (ready() ? "ready" : "not ready") + "\n";
  out += std::to_string(sessions_since_startup_) + " session(s) since startup\n";
  out += std::to_string(session_count_) + " session(s) - peak " + std::to_string(session_peak_)
         + ", last 5min " + std::to_string(session_peak_) + " \n";
  out += "0 session(s) per Sec out of max " + std::to_string(config_.max_sessions_per_second)
         + ", peak " + std::to_string(sessions_per_second_peak_) + ", last 5min "
         + std::to_string(sessions_per_second_peak_) + " \n";
  out += std::to_string(config_.max_sessions) + " session(s) max\n";
  char cpu[64];
  std::snprintf(cpu, sizeof cpu, "min idle cpu 0.00/%.2f\n", config_.idle_cpu_percent);
  out += cpu;
  out += "Current Stack Size/Max 240K/8192K\n";
  return out;
}

std::string switch_core::show(std::string_view args, std::int64_t now_us) const {
  auto argv = words(args);
  std::size_t listed = 0;
  for (const auto& l : legs_)
    if (l.snap.caller && l.snap.caller->channel_created_time + config_.channel_list_lag_us <= now_us
        && l.listed_until_us > now_us)
      ++listed;
  auto total = "\n" + std::to_string(listed) + " total.\n";
  if (argv.size() == 2 && (argv[0] == "channels" || argv[0] == "calls") && argv[1] == "count")
    return total;
  if (argv.size() == 1 && argv[0] == "channels")
    return show_channels(false, now_us);
  if (argv.size() == 3 && argv[0] == "channels" && argv[1] == "as" && argv[2] == "json")
    return show_channels(true, now_us);
  // Other `show` forms exist in FreeSWITCH but are not emulated; say so rather than invent.
  return "-ERR fsemu does not emulate show " + std::string{args} + "\n";
}

std::string switch_core::global_getvar(std::string_view args) const {
  const std::array<std::pair<std::string_view, std::string_view>, 5> globals{{
    {"hostname", config_.identity.hostname},
    {"sounds_dir", config_.sounds_dir},
    {"local_ip_v4", config_.local_ip_v4},
    {"core_uuid", config_.identity.core_uuid},
    {"switchname", config_.identity.switchname},
  }};
  auto name = words(args);
  if (name.empty()) {
    std::string out;
    for (const auto& [key, value] : globals)
      out += std::string{key} + "=" + std::string{value} + "\n";
    return out;
  }
  for (const auto& [key, value] : globals)
    if (key == name[0])
      return std::string{value};
  return {};
}

std::string switch_core::fsctl(std::string_view args, std::int64_t now_us) {
  auto argv = words(args);
  if (argv.empty())
    return std::string{fsctl_usage};
  auto sub = argv[0];
  auto which = argv.size() > 1 ? argv[1] : std::string_view{};
  if (sub == "pause" || sub == "resume") {
    bool on = sub == "pause";
    if (which.empty() || iequals(which, "inbound"))
      paused_inbound_ = on;
    if (which.empty() || iequals(which, "outbound"))
      paused_outbound_ = on;
    return "+OK\n";
  }
  if (sub == "ready_check")
    return ready() ? "true" : "false";
  if (sub == "shutdown_check")
    return shutdown_ != shutdown_mode::none ? "true" : "false";
  if (sub == "shutdown") {
    if (iequals(which, "cancel")) {
      shutdown_ = shutdown_mode::none;
      return "+OK\n";
    }
    if (iequals(which, "elegant") || iequals(which, "asap")) {
      bool elegant = iequals(which, "elegant");
      shutdown_ = elegant ? shutdown_mode::elegant : shutdown_mode::asap;
      queue_event("SHUTDOWN_REQUESTED", "switch_core.c", "switch_core_session_ctl", 2822, now_us,
                  {{"Event-Info", elegant ? "elegant" : "ASAP"}});
      if (session_count_ > 0 && !shutdown_waits_) {
        shutdown_waits_ = true;
        next_shutdown_tick_us_ = now_us + 500'000;
      }
      return "+OK\n";
    }
  }
  return "-ERR fsemu does not emulate fsctl " + std::string{args} + "\n";
}

// -- channels ------------------------------------------------------------------------------------
//
// The event sequences follow capture 05 (one loopback call to 9197 seen with `event json ALL`)
// and capture 04 (a call to 1000, killed with uuid_kill). FreeSWITCH numbers events when it
// creates them and delivers them from several threads, so its Event-Sequence values arrive
// slightly out of order; fsemu numbers them in delivery order.

void switch_core::count_new_session(std::int64_t now_us) {
  ++session_count_;
  ++sessions_since_startup_;
  session_peak_ = std::max(session_peak_, session_count_);
  auto second = now_us / 1'000'000;
  if (second != rate_window_second_) {
    rate_window_second_ = second;
    rate_window_count_ = 0;
  }
  ++rate_window_count_;
  sessions_per_second_peak_ = std::max(sessions_per_second_peak_, rate_window_count_);
}

switch_core::leg* switch_core::find_live(std::string_view uuid) {
  auto found = live_.find(uuid);
  return found == live_.end() ? nullptr : &*found->second;
}

void switch_core::channel_event(std::string name, std::string_view file,
                                std::string_view function, std::uint32_t line,
                                std::int64_t now_us, const leg& l,
                                std::vector<event_header> extras) {
  if (queue_event(std::move(name), file, function, line, now_us, std::move(extras)))
    pending_.back().channel = l.snap;
}

void switch_core::set_state(leg& l, channel_state running, channel_state state,
                            std::int64_t now_us) {
  l.snap.running_state = running;
  l.snap.state = state;
  channel_event("CHANNEL_STATE", "switch_channel.c", "switch_channel_perform_set_running_state",
                2408, now_us, l);
}

void switch_core::set_call_state(leg& l, call_state to, std::int64_t now_us) {
  auto from = l.snap.call;
  l.snap.call = to;
  if (to == call_state::hangup && l.snap.caller)
    l.snap.caller->channel_hangup_time = now_us;
  channel_event("CHANNEL_CALLSTATE", "switch_channel.c", "switch_channel_perform_set_callstate",
                301, now_us, l,
                {{"Original-Channel-Call-State", std::string{to_string(from)}},
                 {"Channel-Call-State-Number", std::to_string(static_cast<unsigned>(to))}});
}

void switch_core::answer(leg& l, std::int64_t now_us) {
  l.answered_us = now_us;
  l.snap.answer = answer_state::answered;
  if (l.snap.caller)
    l.snap.caller->channel_answered_time = now_us;
  channel_event("CHANNEL_ANSWER", "switch_channel.c", "switch_channel_perform_mark_answered",
                3846, now_us, l);
  set_call_state(l, call_state::active, now_us);
}

void switch_core::execute(leg& l, std::string app, std::string data, std::int64_t now_us,
                          std::string app_uuid) {
  l.app = std::move(app);
  l.app_data = std::move(data);
  l.app_uuid = app_uuid.empty() ? new_uuid() : std::move(app_uuid);
  l.app_ends_us = 0;
  l.app_started_us = now_us;
  l.last_app = l.app;
  l.last_arg = l.app_data;
  l.snap.erase_variable("current_application_response");
  l.snap.set_variable("current_application", l.app);
  if (l.app_data.empty())
    l.snap.erase_variable("current_application_data");
  else
    l.snap.set_variable("current_application_data", l.app_data);
  std::vector<event_header> extras{{"Application", l.app}};
  if (!l.app_data.empty())
    extras.push_back({"Application-Data", l.app_data});
  extras.push_back({"Application-UUID", l.app_uuid});
  channel_event("CHANNEL_EXECUTE", "switch_core_session.c", "switch_core_session_exec", 2944,
                now_us, l, std::move(extras));
  // Capture 05: current_application is set once more after CHANNEL_EXECUTE (it moves behind
  // current_application_data).
  l.snap.set_variable("current_application", l.app);
}

void switch_core::execute_complete(leg& l, std::string_view response, std::int64_t now_us) {
  std::vector<event_header> extras{{"Application", l.app}};
  if (!l.app_data.empty())
    extras.push_back({"Application-Data", l.app_data});
  extras.push_back({"Application-Response", std::string{response}});
  extras.push_back({"Application-UUID", l.app_uuid});
  channel_event("CHANNEL_EXECUTE_COMPLETE", "switch_core_session.c", "switch_core_session_exec",
                2967, now_us, l, std::move(extras));
  l.app.clear();
  l.app_data.clear();
  l.app_ends_us = 0;
}

void switch_core::restore_base_app(leg& l) {
  // An application run by a socket client or sendmsg ended: `socket` or `park` is the
  // running one again.
  if (!l.socket_controlled && !l.park_base)
    return;
  // switch_ivr_parse_event unsets the loop variables once the application returned.
  l.snap.erase_variable("current_loop");
  l.snap.erase_variable("total_loops");
  if (l.socket_controlled) {
    l.app = "socket";
    l.app_data = l.socket_app_data;
    l.app_uuid = l.socket_app_uuid;
  } else {
    l.app = "park";
    l.app_data.clear();
    l.app_uuid = l.park_app_uuid;
  }
  l.app_ends_us = 0;
}

void switch_core::finish_app_on_hangup(leg& l, std::int64_t now_us) {
  if (l.app.empty())
    return;
  // A play_and_get_digits ends with its file (if one plays) and no verdict.
  l.collect.reset();
  if (l.socket_controlled) {
    // Capture 11: the nested application (if any) ends, then the socket's park (CHANNEL_UNPARK)
    // and the socket application itself (its CHANNEL_EXECUTE_COMPLETE, "_none_").
    bool unparked = false;
    if (l.app != "socket") {
      if (l.app == "park") {
        channel_event("CHANNEL_UNPARK", "switch_ivr.c", "switch_ivr_park", 1213, now_us, l);
        unparked = true;
      } else if (l.playing) {
        end_playback(l, "break", now_us, false);
      }
      execute_complete(l, "_none_", now_us);
      restore_base_app(l);
    }
    if (l.socket_parked && !unparked)
      channel_event("CHANNEL_UNPARK", "switch_ivr.c", "switch_ivr_park", 1213, now_us, l);
    l.socket_controlled = false;
    execute_complete(l, "_none_", now_us);
    return;
  }
  if (l.park_base && l.app != "park") {
    // A sendmsg'd application nested in park ends first (its response as a broken playback's).
    if (l.playing) {
      end_playback(l, "break", now_us, false);
      execute_complete(l, l.app == "playback" ? "FILE PLAYED" : "_none_", now_us);
    } else {
      execute_complete(l, "_none_", now_us);
    }
    restore_base_app(l);
  }
  if (l.app == "park") {
    channel_event("CHANNEL_UNPARK", "switch_ivr.c", "switch_ivr_park", 1213, now_us, l);
  } else if (l.playing) {
    // Interrupted by the hangup (not captured): FreeSWITCH stops the file early.
    end_playback(l, "break", now_us, false);
  }
  l.park_base = false;
  if (l.park_without_app) {
    // park_after_bridge parked the channel by its state: no application to complete.
    l.park_without_app = false;
    l.app.clear();
    return;
  }
  // Capture 07: park's EXECUTE_COMPLETE reports the channel's current_application_response,
  // which a playback nested in the park left at "FILE PLAYED".
  const auto* response = l.snap.find_variable("current_application_response");
  execute_complete(l, response != nullptr ? std::string{*response} : std::string{"_none_"},
                   now_us);
}

void switch_core::add_hangup_variables(leg& l, std::int64_t now_us) {
  auto cause = known_cause(l.snap.hangup_cause);
  auto epoch = [](std::int64_t us) { return std::to_string(us / 1'000'000); };
  auto& v = l.snap;
  v.set_variable("hangup_cause", l.snap.hangup_cause);
  v.set_variable("hangup_cause_q850", std::to_string(q850_of(cause.second)));
  v.set_variable("digits_dialed", l.digits_dialed.empty() ? "none" : l.digits_dialed);
  auto offset = config_.utc_offset_seconds;
  v.set_variable("start_stamp", local_stamp(l.created_us, offset));
  v.set_variable("profile_start_stamp", local_stamp(l.created_us, offset));
  if (l.answered_us != 0)
    v.set_variable("answer_stamp", local_stamp(l.answered_us, offset));
  v.set_variable("end_stamp", local_stamp(now_us, offset));
  v.set_variable("start_epoch", epoch(l.created_us));
  v.set_variable("start_uepoch", std::to_string(l.created_us));
  v.set_variable("profile_start_epoch", epoch(l.created_us));
  v.set_variable("profile_start_uepoch", std::to_string(l.created_us));
  v.set_variable("answer_epoch", epoch(l.answered_us));
  v.set_variable("answer_uepoch", std::to_string(l.answered_us));
  v.set_variable("bridge_epoch", epoch(l.bridged_us));
  v.set_variable("bridge_uepoch", std::to_string(l.bridged_us));
  for (auto name : {"last_hold_epoch", "last_hold_uepoch", "hold_accum_seconds", "hold_accum_usec", "hold_accum_ms", "resurrect_epoch",
                    "resurrect_uepoch", "progress_epoch", "progress_uepoch",
                    "progress_media_epoch", "progress_media_uepoch"})
    v.set_variable(name, "0");
  v.set_variable("end_epoch", epoch(now_us));
  v.set_variable("end_uepoch", std::to_string(now_us));
  if (!l.last_app.empty())
    v.set_variable("last_app", l.last_app);
  if (!l.last_arg.empty())
    v.set_variable("last_arg", l.last_arg);
  if (v.caller)
    v.set_variable("caller_id", caller_id_text(*v.caller));
  // FreeSWITCH's switch_channel_set_timestamps: seconds from the epoch seconds, the rest from
  // the microsecond times.
  auto total_us = now_us - l.created_us;
  auto bill_us = l.answered_us != 0 ? now_us - l.answered_us : 0;
  auto answer_us = l.answered_us != 0 ? l.answered_us - l.created_us : 0;
  auto seconds = [](std::int64_t from, std::int64_t to) {
    return std::to_string(to / 1'000'000 - from / 1'000'000);
  };
  v.set_variable("duration", seconds(l.created_us, now_us));
  v.set_variable("billsec", l.answered_us != 0 ? seconds(l.answered_us, now_us) : "0");
  v.set_variable("progresssec", "0");
  v.set_variable("answersec", l.answered_us != 0 ? seconds(l.created_us, l.answered_us) : "0");
  v.set_variable("waitsec", "0");
  v.set_variable("progress_mediasec", "0");
  v.set_variable("flow_billsec", seconds(l.created_us, now_us));
  v.set_variable("mduration", std::to_string(total_us / 1000));
  v.set_variable("billmsec", std::to_string(bill_us / 1000));
  v.set_variable("progressmsec", "0");
  v.set_variable("answermsec", std::to_string(answer_us / 1000));
  v.set_variable("waitmsec", "0");
  v.set_variable("progress_mediamsec", "0");
  v.set_variable("flow_billmsec", std::to_string(total_us / 1000));
  v.set_variable("uduration", std::to_string(total_us));
  v.set_variable("billusec", std::to_string(bill_us));
  v.set_variable("progressusec", "0");
  v.set_variable("answerusec", std::to_string(answer_us));
  v.set_variable("waitusec", "0");
  v.set_variable("progress_mediausec", "0");
  v.set_variable("flow_billusec", std::to_string(total_us));
  if (l.loopback)
    v.set_variable("is_loopback", "1");
  else if (!l.hangup_disposition.empty())
    v.set_variable("sip_hangup_disposition", l.hangup_disposition);
}

void switch_core::bridge(std::string_view uuid, std::string_view target,
                         std::string_view app_uuid, std::int64_t now_us) {
  std::string id{uuid};
  auto X = [&]() -> leg& { return *find_live(id); };
  execute(X(), "bridge", std::string{target}, now_us, std::string{app_uuid});
  // Only loopback endpoints exist here: the bridge's far end is the A leg of a new loopback
  // pair whose B leg runs the dialplan (mod_loopback's `loopback/<dest>` as a bridge target).
  // A dial string may start with {var=value} and [var=value] blocks (callgridd puts
  // originate_timeout there); originate() applies them, the endpoint follows them.
  auto endpoint = target;
  while (!endpoint.empty() && (endpoint.front() == '{' || endpoint.front() == '[')) {
    auto close = endpoint.find(endpoint.front() == '{' ? '}' : ']');
    endpoint = close == std::string_view::npos ? std::string_view{} : endpoint.substr(close + 1);
  }
  std::string reply = "-ERR CHAN_NOT_IMPLEMENTED\n";
  if (endpoint.starts_with("loopback/"))
    reply = originate(std::string{target} + " &park()", now_us);
  leg* other = reply.starts_with("+OK ") ? find_live(std::string_view{reply}.substr(4, 36))
                                         : nullptr;
  if (other == nullptr) {
    auto cause = reply.starts_with("-ERR ") ? reply.substr(5) : std::string{"NORMAL_CLEARING"};
    while (!cause.empty() && cause.back() == '\n')
      cause.pop_back();
    X().snap.set_variable("originate_disposition", cause);
    X().snap.set_variable("DIALSTATUS", cause);
    execute_complete(X(), "_none_", now_us);
    restore_base_app(X());
    return;
  }
  std::string other_id = other->snap.uuid;
  // switch_ivr_originate answers the caller once the far end answered and records each side's
  // profile on the other (Other-Type originatee / originator).
  X().snap.set_variable("DIALSTATUS", "SUCCESS");
  link_bridge(id, other_id, now_us);
}

void switch_core::link_bridge(std::string_view originator, std::string_view peer,
                              std::int64_t now_us) {
  std::string x_id{originator};
  std::string p_id{peer};
  auto X = [&]() -> leg& { return *find_live(x_id); };
  auto P = [&]() -> leg& { return *find_live(p_id); };
  // switch_ivr_multi_threaded_bridge (switch_ivr_bridge.c): the caller answers when the peer
  // has; the peer goes to CS_CONSUME_MEDIA and carries the caller's call_uuid; both get their
  // bridge time; CHANNEL_BRIDGE fires on the caller; bridge_to / last_bridge_to, then
  // bridge_channel / bridge_uuid / signal_bond are set on both; the peer exchanges media.
  if (X().snap.caller && P().snap.caller) {
    X().snap.other_leg = other_leg_profile{"originatee", *P().snap.caller};
    P().snap.other_leg = other_leg_profile{"originator", *X().snap.caller};
  }
  if (P().snap.answer == answer_state::answered && X().snap.answer != answer_state::answered)
    answer(X(), now_us);
  set_state(P(), channel_state::cs_consume_media, channel_state::cs_consume_media, now_us);
  P().snap.set_variable("call_uuid", x_id);
  for (auto* l : {&X(), &P()}) {
    l->bridged_us = now_us;
    if (l->snap.caller)
      l->snap.caller->channel_bridged_time = now_us;
  }
  channel_event("CHANNEL_BRIDGE", "switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1667,
                now_us, X(), {{"Bridge-A-Unique-ID", x_id}, {"Bridge-B-Unique-ID", p_id}});
  X().snap.set_variable("bridge_to", p_id);
  P().snap.set_variable("bridge_to", x_id);
  X().snap.set_variable("last_bridge_to", p_id);
  P().snap.set_variable("last_bridge_to", x_id);
  for (auto [self, other] : {std::pair{&X(), &P()}, std::pair{&P(), &X()}}) {
    self->snap.set_variable("bridge_channel", other->snap.name);
    self->snap.set_variable("bridge_uuid", other->snap.uuid);
    self->snap.set_variable("signal_bond", other->snap.uuid);
  }
  set_state(P(), channel_state::cs_exchange_media, channel_state::cs_exchange_media, now_us);
  X().bridged_to = p_id;
  X().role = bridge_role::originator;
  P().bridged_to = x_id;
  P().role = bridge_role::peer;
}

std::string switch_core::uuid_bridge(std::string_view args, std::int64_t now_us) {
  auto argv = words(args);
  if (argv.size() < 2)
    return "-USAGE: <uuid> <other_uuid>\n";
  // mod_commands: the second uuid, else the third, is bridged to the first.
  auto bridgeable = [&](std::string_view a, std::string_view b) {
    const auto* x = find_live(a);
    const auto* p = find_live(b);
    return x != nullptr && p != nullptr && a != b && x->snap.answer != answer_state::hangup
           && p->snap.answer != answer_state::hangup && x->bridged_to.empty()
           && p->bridged_to.empty();
  };
  std::string_view who;
  if (bridgeable(argv[0], argv[1]))
    who = argv[1];
  else if (argv.size() > 2 && bridgeable(argv[0], argv[2]))
    who = argv[2];
  if (who.empty())
    return "-ERR Invalid uuid\n";
  std::string x_id{argv[0]};
  std::string p_id{who};
  auto X = [&]() -> leg& { return *find_live(x_id); };
  auto P = [&]() -> leg& { return *find_live(p_id); };
  // switch_ivr_uuid_bridge: both channels leave what they run (CF_TRANSFER / CF_REDIRECT), get
  // bridge_channel / bridge_uuid / signal_bond, go through CS_HIBERNATE and CS_RESET to
  // CS_SOFT_EXECUTE, where the originator fires CHANNEL_EXECUTE "uuid_bridge" on both and runs
  // the bridge.
  for (auto* l : {&X(), &P()}) {
    leave_extension(*l, now_us);
    // switch_ivr_uuid_bridge clears park_after_bridge on both channels.
    l->snap.erase_variable("park_after_bridge");
  }
  for (auto [self, other] : {std::pair{&X(), &P()}, std::pair{&P(), &X()}}) {
    self->snap.set_variable("bridge_channel", other->snap.name);
    self->snap.set_variable("bridge_uuid", other->snap.uuid);
    self->snap.set_variable("signal_bond", other->snap.uuid);
  }
  for (auto state : {channel_state::cs_hibernate, channel_state::cs_reset,
                     channel_state::cs_soft_execute}) {
    set_state(X(), state, state, now_us);
    set_state(P(), state, state, now_us);
  }
  channel_event("CHANNEL_EXECUTE", "switch_ivr_bridge.c", "uuid_bridge_on_soft_execute", 1236,
                now_us, X(), {{"Application", "uuid_bridge"}, {"Application-Data", p_id}});
  channel_event("CHANNEL_EXECUTE", "switch_ivr_bridge.c", "uuid_bridge_on_soft_execute", 1243,
                now_us, P(), {{"Application", "uuid_bridge"}, {"Application-Data", x_id}});
  link_bridge(x_id, p_id, now_us);
  return "+OK " + p_id + "\n";
}

void switch_core::end_bridge(std::string_view uuid, std::string_view gone, std::string_view cause,
                             bool gone_answered, std::int64_t now_us) {
  auto* l = find_live(uuid);
  if (l == nullptr || l->bridged_to != gone || l->snap.answer == answer_state::hangup)
    return;
  std::string id{uuid};
  l->bridged_to.clear();
  auto role = std::exchange(l->role, bridge_role::none);
  l->snap.set_variable("bridge_hangup_cause", cause);
  if (role == bridge_role::peer) {
    // audio_bridge_on_exchange_media: the peer of a caller that hung up parks or transfers when
    // told to, else hangs up NORMAL_CLEARING (ORIGINATOR_CANCEL when it never answered).
    l->snap.set_variable("call_uuid", id);
    if (is_true(l->snap.find_variable("park_after_bridge"))) {
      if (l->app != "park") {
        leave_extension(*l, now_us);
        auto& p = *find_live(id);
        p.app = "park";
        p.park_without_app = true;
        set_state(p, channel_state::cs_park, channel_state::cs_park, now_us);
        enter_park(p, now_us);
      }
      // Parked again: applications that waited for the bridge run now.
      run_queued_apps(id, now_us);
      return;
    }
    if (const auto* where = l->snap.find_variable("transfer_after_bridge")) {
      auto target = separate_string(*where, ':', 4);
      l->snap.erase_variable("transfer_after_bridge");
      if (!target.empty()) {
        leave_extension(*find_live(id), now_us);
        transfer_to(id, target[0], target.size() > 2 ? target[2] : std::string{}, now_us);
        return;
      }
    }
    l->hangup_disposition = "send_bye";
    hang_up_call(id, l->snap.answer == answer_state::answered ? "NORMAL_CLEARING"
                                                               : "ORIGINATOR_CANCEL",
                 now_us);
    return;
  }
  channel_event("CHANNEL_UNBRIDGE", "switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge",
                1849, now_us, *l,
                {{"Bridge-A-Unique-ID", id}, {"Bridge-B-Unique-ID", std::string{gone}}});
  after_bridge(id, cause, gone_answered, now_us);
}

void switch_core::after_bridge(std::string_view uuid, std::string_view peer_cause,
                               bool peer_answered, std::int64_t now_us) {
  std::string id{uuid};
  auto X = [&]() -> leg& { return *find_live(id); };
  bool from_app = X().app == "bridge";
  // The end of switch_ivr_multi_threaded_bridge for the caller: park_after_bridge,
  // transfer_after_bridge, hangup_after_bridge ("explicit", or true with an answered peer: the
  // caller hangs up with the peer's cause); otherwise the bridge application completes and the
  // channel goes on. A uuid_bridge originator goes to CS_EXECUTE, where its extension has no
  // application left, so it hangs up NORMAL_CLEARING.
  if (is_true(X().snap.find_variable("park_after_bridge"))) {
    if (from_app)
      execute_complete(X(), "_none_", now_us);
    if (X().park_base || X().socket_controlled) {
      finish_nested_app(X(), now_us);
      return;
    }
    auto& x = X();
    x.app = "park";
    x.park_without_app = true;
    set_state(x, channel_state::cs_park, channel_state::cs_park, now_us);
    enter_park(x, now_us);
    run_queued_apps(id, now_us);
    return;
  }
  if (const auto* where = X().snap.find_variable("transfer_after_bridge")) {
    auto target = separate_string(*where, ':', 4);
    X().snap.erase_variable("transfer_after_bridge");
    if (!target.empty()) {
      if (from_app)
        execute_complete(X(), "_none_", now_us);
      leave_extension(X(), now_us);
      transfer_to(id, target[0], target.size() > 2 ? target[2] : std::string{}, now_us);
      return;
    }
  }
  const auto* hup = X().snap.find_variable("hangup_after_bridge");
  bool explicit_hangup = hup != nullptr && iequals(*hup, "explicit");
  if (explicit_hangup || (peer_answered && is_true(hup))) {
    X().hangup_disposition = "send_bye";
    hang_up_call(id, peer_cause.empty() ? std::string{"NORMAL_CLEARING"}
                                        : std::string{peer_cause},
                 now_us);
    return;
  }
  if (from_app) {
    execute_complete(X(), "_none_", now_us);
    if (X().socket_controlled || X().park_base) {
      finish_nested_app(X(), now_us);
      return;
    }
  } else {
    set_state(X(), channel_state::cs_execute, channel_state::cs_execute, now_us);
  }
  // No park or socket to go back to: the extension is over.
  X().hangup_disposition = "send_bye";
  hang_up_call(id, "NORMAL_CLEARING", now_us);
}

void switch_core::hang_up_call(std::string_view uuid, std::string cause, std::int64_t now_us) {
  auto* first = find_live(uuid);
  if (first == nullptr || first->snap.answer == answer_state::hangup)
    return;
  auto first_uuid = first->snap.uuid;
  auto second_uuid = first->partner;
  // Bridges to these legs end once they are gone.
  // (survivor, the leg that goes, whether that leg had answered)
  std::vector<std::tuple<std::string, std::string, bool>> bridged;
  if (!first->bridged_to.empty())
    bridged.emplace_back(first->bridged_to, first_uuid,
                         first->snap.answer == answer_state::answered);
  if (auto* partner = find_live(second_uuid); partner != nullptr && !partner->bridged_to.empty())
    bridged.emplace_back(partner->bridged_to, second_uuid,
                         partner->snap.answer == answer_state::answered);
  auto hang_up = [&](leg& l) {
    l.snap.hangup_cause = cause;
    l.snap.answer = answer_state::hangup;
    l.snap.state = channel_state::cs_hangup;
    // Applications still queued never run.
    l.app_queue.clear();
    channel_event("CHANNEL_HANGUP", "switch_channel.c", "switch_channel_perform_hangup", 3445,
                  now_us, l);
    if (l.role == bridge_role::originator && !l.bridged_to.empty()) {
      // The caller's bridge loop ends with its hangup: CHANNEL_UNBRIDGE on the caller.
      channel_event("CHANNEL_UNBRIDGE", "switch_ivr_bridge.c",
                    "switch_ivr_multi_threaded_bridge", 1849, now_us, l,
                    {{"Bridge-A-Unique-ID", l.snap.uuid}, {"Bridge-B-Unique-ID", l.bridged_to}});
    }
  };
  auto to_hangup_state = [&](leg& l) {
    finish_app_on_hangup(l, now_us);
    set_state(l, channel_state::cs_hangup, channel_state::cs_hangup, now_us);
    set_call_state(l, call_state::hangup, now_us);
  };
  auto report = [&](leg& l) {
    set_state(l, channel_state::cs_reporting, channel_state::cs_reporting, now_us);
    add_hangup_variables(l, now_us);
    channel_event("CHANNEL_HANGUP_COMPLETE", "switch_core_state_machine.c",
                  "switch_core_session_reporting_state", 943, now_us, l);
  };
  // Capture 05: the leg that hangs up reaches CS_HANGUP, its loopback partner is hung up with
  // the same cause, the first leg reports, then the partner runs down; both are destroyed.
  hang_up(*first);
  to_hangup_state(*find_live(first_uuid));
  auto* second = find_live(second_uuid);
  if (second != nullptr && second->snap.answer != answer_state::hangup)
    hang_up(*second);
  else
    second = nullptr;
  report(*find_live(first_uuid));
  if (second != nullptr) {
    to_hangup_state(*second);
    report(*second);
  }
  auto destroy = [&](leg& l) {
    l.snap.state = channel_state::cs_destroy;
    channel_event("CHANNEL_DESTROY", "switch_core_session.c", "switch_core_session_perform_destroy",
                  1584, now_us, l);
  };
  auto finish = [&](leg& l) {
    set_state(l, channel_state::cs_destroy, channel_state::cs_destroy, now_us);
    l.gone = true;
    l.listed_until_us = now_us + config_.channel_list_lag_us;
    auto found = live_.find(l.snap.uuid);
    unlisted_.push_back(found->second);
    live_.erase(found);
    if (session_count_ > 0)
      --session_count_;
  };
  destroy(*find_live(first_uuid));
  if (second != nullptr)
    destroy(*find_live(second_uuid));
  if (second != nullptr)
    finish(*find_live(second_uuid));
  finish(*find_live(first_uuid));
  for (const auto& [other, gone, answered] : bridged)
    end_bridge(other, gone, cause, answered, now_us);
}

std::string switch_core::originate(std::string_view args, std::int64_t now_us) {
  auto argv = words(args);
  if (argv.size() < 2)
    return std::string{originate_usage};
  auto url = argv[0];
  // Leading {var=value,...} and [var=value] blocks set channel variables on the A leg; values
  // arrive URL-encoded (capture 04: "Fs%20Build" becomes "Fs Build").
  std::vector<std::pair<std::string, std::string>> vars;
  while (!url.empty() && (url.front() == '{' || url.front() == '[' || url.front() == '<')) {
    char close = url.front() == '{' ? '}' : (url.front() == '[' ? ']' : '>');
    auto end = url.find(close);
    if (end == std::string_view::npos)
      break;
    auto inner = url.substr(1, end - 1);
    url.remove_prefix(end + 1);
    while (!inner.empty()) {
      auto comma = inner.find(',');
      auto item = inner.substr(0, comma);
      inner = comma == std::string_view::npos ? std::string_view{} : inner.substr(comma + 1);
      auto eq = item.find('=');
      if (eq == std::string_view::npos || eq == 0)
        continue;
      auto name = std::string{item.substr(0, eq)};
      auto value = esl::percent_decode(item.substr(eq + 1));
      auto same = std::find_if(vars.begin(), vars.end(),
                               [&](const auto& v) { return v.first == name; });
      if (same != vars.end())
        vars.erase(same);
      vars.emplace_back(std::move(name), std::move(value));
    }
  }
  auto slash = url.find('/');
  auto endpoint = url.substr(0, slash);
  if (endpoint != "loopback")
    return "-ERR CHAN_NOT_IMPLEMENTED\n";
  if (!accepting_outbound())
    return "-ERR DESTINATION_OUT_OF_ORDER\n";
  auto target = slash == std::string_view::npos ? std::string_view{} : url.substr(slash + 1);
  auto context_slash = target.find('/');
  std::string dest{target.substr(0, context_slash)};
  std::string context = context_slash == std::string_view::npos
                          ? std::string{"default"}
                          : std::string{target.substr(context_slash + 1)};
  const dialplan_extension* extension = find_extension(dest, context);
  if (extension == nullptr)
    return "-ERR NO_ROUTE_DESTINATION\n";
  // Capture 15: with inbound calls paused the B leg is refused and FreeSWITCH's originate ends
  // with NO_ANSWER after originate_timeout; fsemu answers at once and creates no channel.
  if (!accepting_inbound())
    return "-ERR NO_ANSWER\n";
  // switch_core_session_request refuses a session over the limit the same way it refuses one
  // while paused (no session), which originate reports as DESTINATION_OUT_OF_ORDER.
  if (session_count_ + 2 > config_.max_sessions)
    return "-ERR DESTINATION_OUT_OF_ORDER\n";
  // The A leg's application: &name(args) or &name; or an extension it is transferred to once
  // the B leg answered (`<exten> [<dialplan>] [<context>]`, as mod_commands' originate calls
  // switch_ivr_session_transfer; dialplan XML and context "default" by default).
  auto exten = argv[1];
  std::string app;
  std::string app_args;
  std::string a_exten;
  std::string a_context;
  if (!exten.empty() && exten.front() == '&' && exten.size() > 1) {
    exten.remove_prefix(1);
    auto paren = exten.find('(');
    app = std::string{exten.substr(0, paren)};
    if (paren != std::string_view::npos) {
      auto close = exten.rfind(')');
      if (close != std::string_view::npos && close > paren)
        app_args = std::string{exten.substr(paren + 1, close - paren - 1)};
    }
    if (app != "park" && app != "echo")
      return "-ERR fsemu does not emulate application " + app + "\n";
  } else {
    a_exten = std::string{exten};
    a_context = argv.size() > 3 ? std::string{argv[3]} : std::string{"default"};
  }

  auto var_of = [&](std::string_view name) -> const std::string* {
    for (const auto& [key, value] : vars)
      if (key == name)
        return &value;
    return nullptr;
  };
  auto a_uuid = var_of("origination_uuid") != nullptr ? *var_of("origination_uuid") : new_uuid();
  if (find_live(a_uuid) != nullptr)
    return "-ERR DESTINATION_OUT_OF_ORDER\n";
  auto b_uuid = new_uuid();
  const auto* name_var = var_of("origination_caller_id_name");
  std::string cid_name = name_var != nullptr ? *name_var : std::string{};
  std::string cid_number = var_of("origination_caller_id_number")
                             ? *var_of("origination_caller_id_number")
                             : std::string{"0000000000"};
  const codec_info l16{"L16", 8000, 128000};

  auto make_leg = [&](bool is_a) {
    leg l;
    l.is_a = is_a;
    l.created_us = now_us;
    l.snap.uuid = is_a ? a_uuid : b_uuid;
    l.partner = is_a ? b_uuid : a_uuid;
    l.snap.name = "loopback/" + dest + (is_a ? "-a" : "-b");
    l.snap.direction = is_a ? call_direction::outbound : call_direction::inbound;
    l.snap.hit_dialplan = !is_a;
    l.snap.running_state = channel_state::cs_none;
    l.snap.state = channel_state::cs_new;
    caller_profile p;
    p.direction = l.snap.direction;
    p.logical_direction = l.snap.direction;
    p.dialplan = "xml";
    p.caller_id_name = cid_name;
    p.caller_id_number = cid_number;
    p.orig_caller_id_name = cid_name;
    p.orig_caller_id_number = cid_number;
    p.callee_id_name = "Outbound Call";
    p.callee_id_number = context;
    p.ani = cid_number;
    p.destination_number = dest;
    p.unique_id = l.snap.uuid;
    p.source = "mod_loopback";
    p.context = context;
    p.channel_name = l.snap.name;
    p.profile_index = "1";
    p.profile_created_time = now_us;
    p.channel_created_time = now_us;
    l.snap.caller = p; // attached after the CODEC events (see below)
    return l;
  };
  auto codec_events = [&](leg& l) {
    auto profile = std::exchange(l.snap.caller, std::nullopt);
    // Before its caller profile exists the A leg is named after the dial string (capture 05:
    // "loopback/9197/default-a"); the B leg has its final name from the start.
    auto final_name = l.snap.name;
    if (l.is_a)
      l.snap.name = "loopback/" + std::string{target} + "-a";
    l.snap.read_codec = l16;
    channel_event("CODEC", "switch_core_codec.c", "switch_core_session_set_read_codec", 279,
                  now_us, l,
                  {{"channel-read-codec-name", "L16"},
                   {"channel-read-codec-rate", "8000"},
                   {"channel-read-codec-bit-rate", "128000"}});
    l.snap.write_codec = l16;
    channel_event("CODEC", "switch_core_codec.c", "switch_core_session_set_write_codec", 450,
                  now_us, l,
                  {{"Channel-Write-Codec-Name", "L16"},
                   {"Channel-Write-Codec-Rate", "8000"},
                   {"Channel-Write-codec-bit-rate", "128000"}});
    l.snap.name = std::move(final_name);
    l.snap.caller = std::move(profile);
  };

  legs_.push_back(make_leg(true));
  live_.emplace(a_uuid, std::prev(legs_.end()));
  legs_.push_back(make_leg(false));
  live_.emplace(b_uuid, std::prev(legs_.end()));
  count_new_session(now_us);
  auto a_session = sessions_since_startup_;
  count_new_session(now_us);
  auto b_session = sessions_since_startup_;
  auto A = [&]() -> leg& { return *find_live(a_uuid); };
  auto B = [&]() -> leg& { return *find_live(b_uuid); };

  // A leg variables, in the order capture 04/05 shows them.
  {
    auto& v = A().snap;
    v.set_variable("direction", "outbound");
    v.set_variable("is_outbound", "true");
    v.set_variable("uuid", a_uuid);
    v.set_variable("call_uuid", a_uuid);
    v.set_variable("session_id", std::to_string(a_session));
    v.set_variable("read_codec", "L16");
    v.set_variable("read_rate", "8000");
    v.set_variable("write_codec", "L16");
    v.set_variable("write_rate", "8000");
    v.set_variable("channel_name", v.name);
    for (const auto& [name, value] : vars)
      if (name != "origination_uuid")
        v.set_variable(name, value);
    v.set_variable("originate_early_media", "true");
    v.set_variable("originate_endpoint", "loopback");
    v.set_variable("other_loopback_leg_uuid", b_uuid);
    v.set_variable("loopback_leg", "A");
  }
  {
    auto& v = B().snap;
    v.set_variable("direction", "inbound");
    v.set_variable("uuid", b_uuid);
    v.set_variable("call_uuid", b_uuid);
    v.set_variable("session_id", std::to_string(b_session));
    v.set_variable("channel_name", v.name);
    v.set_variable("read_codec", "L16");
    v.set_variable("read_rate", "8000");
    v.set_variable("write_codec", "L16");
    v.set_variable("write_rate", "8000");
    for (const auto& [name, value] : vars)
      if (name != "origination_uuid")
        v.set_variable(name, value);
    v.set_variable("other_loopback_leg_uuid", a_uuid);
    v.set_variable("loopback_leg", "B");
  }

  // Creation (capture 05, sequence 548-559).
  codec_events(A());
  A().snap.state = channel_state::cs_init;
  channel_event("CHANNEL_OUTGOING", "switch_core_session.c", "switch_core_session_outgoing_channel",
                768, now_us, A());
  set_state(A(), channel_state::cs_init, channel_state::cs_init, now_us);
  codec_events(B());
  A().snap.state = channel_state::cs_routing;
  channel_event("CHANNEL_CREATE", "switch_core_state_machine.c", "switch_core_session_run", 626,
                now_us, A());
  channel_event("CHANNEL_ORIGINATE", "switch_core_state_machine.c", "switch_core_session_run",
                632, now_us, A());
  set_state(A(), channel_state::cs_routing, channel_state::cs_routing, now_us);
  set_state(A(), channel_state::cs_consume_media, channel_state::cs_consume_media, now_us);
  set_state(B(), channel_state::cs_init, channel_state::cs_init, now_us);
  B().snap.state = channel_state::cs_routing;
  channel_event("CHANNEL_CREATE", "switch_core_state_machine.c", "switch_core_session_run", 626,
                now_us, B());
  B().snap.running_state = channel_state::cs_routing;
  set_call_state(B(), call_state::ringing, now_us);
  set_state(B(), channel_state::cs_routing, channel_state::cs_routing, now_us);
  set_state(B(), channel_state::cs_execute, channel_state::cs_execute, now_us);
  // The dialplan matched: DP_MATCH, and call_uuid set again (it moves to the end).
  if (!extension->dp_match.empty())
    B().snap.set_variable("DP_MATCH", extension->dp_match);
  B().snap.set_variable("call_uuid", b_uuid);

  // Capture 14: the socket application finds nothing listening (outbound ESL is not emulated),
  // the B leg hangs up unanswered, the A leg follows, and originate says NORMAL_CLEARING.
  if (extension->action == extension_action::socket) {
    execute(B(), "socket", extension->socket_address + " async full", now_us);
    B().snap.set_variable("socket_host",
                          extension->socket_address.substr(0, extension->socket_address.find(':')));
    if (!connector_ || !connector_(b_uuid, extension->socket_address)) {
      hang_up_call(b_uuid, "NORMAL_CLEARING", now_us);
      return "-ERR NORMAL_CLEARING\n";
    }
    // Connected: the B leg rings until its socket client answers it; the A leg runs its
    // application then. FreeSWITCH's originate waits for that answer; fsemu answers at once.
    auto& b = B();
    b.socket_controlled = true;
    b.socket_app_data = b.app_data;
    b.socket_app_uuid = b.app_uuid;
    A().pending_app = app;
    A().pending_app_args = app_args;
    A().pending_exten = a_exten;
    A().pending_context = a_context;
    return "+OK " + a_uuid + "\n";
  }

  // The B leg answers; the A leg sees the answer first (capture 05, 564-569).
  execute(B(), "answer", "", now_us);
  answer(A(), now_us);
  answer(B(), now_us);
  B().snap.set_variable("endpoint_disposition", "ANSWER");
  execute_complete(B(), "_none_", now_us);

  // The B leg's next application, then the A leg's caller id flips (CALL_UPDATE).
  if (extension->action == extension_action::park) {
    execute(B(), "park", "", now_us);
  } else {
    execute(B(), "playback", extension->playback_file, now_us);
  }
  {
    auto& a = A();
    a.snap.set_variable("endpoint_disposition", "ANSWER");
    if (!cid_name.empty())
      a.snap.set_variable("pre_transfer_caller_id_name", cid_name);
    a.snap.set_variable("pre_transfer_caller_id_number", cid_number);
    a.snap.set_variable("channel_cid_flipped", "yes");
    auto& p = *a.snap.caller;
    std::swap(p.caller_id_name, p.callee_id_name);
    std::swap(p.caller_id_number, p.callee_id_number);
    a.snap.hit_dialplan = true;
    channel_event("CALL_UPDATE", "switch_channel.c", "switch_channel_flip_cid", 3277, now_us, a,
                  {{"Direction", "RECV"}});
  }
  if (extension->action == extension_action::park) {
    enter_park(B(), now_us);
  } else {
    auto& b = B();
    b.playing_file = extension->playback_file;
    b.playing = true;
    b.playback_started_us = now_us;
    channel_event("PLAYBACK_START", "switch_ivr_play_say.c", "switch_ivr_play_file", 1646, now_us,
                  b, playback_headers(extension->playback_file));
    schedule_app_end(b, now_us + extension->playback_us);
  }

  if (!a_exten.empty()) {
    // The A leg routes to its extension through the dialplan, as a transfer does.
    transfer_to(a_uuid, a_exten, a_context, now_us);
    return "+OK " + a_uuid + "\n";
  }
  // The A leg runs its application (capture 05, 573-575).
  set_state(A(), channel_state::cs_execute, channel_state::cs_execute, now_us);
  A().snap.set_variable("call_uuid", a_uuid);
  if (app == "park") {
    execute(A(), app, app_args, now_us);
    enter_park(A(), now_us);
  } else {
    execute(A(), app, app_args, now_us);
  }
  return "+OK " + a_uuid + "\n";
}

void switch_core::advance(std::int64_t now_us) {
  // Work due by now in time order: applications that end (a playback, then for a dialplan
  // playback `hangup NORMAL_CLEARING`; a sleep), park timeouts, the waiting shutdown's checks
  // and HEARTBEATs; on a tie in that order.
  while (true) {
    std::optional<std::int64_t> first;
    auto consider = [&](bool due, std::int64_t at) {
      if (due && at <= now_us && (!first || at < *first))
        first = at;
    };
    consider(!app_ends_.empty(), app_ends_.empty() ? 0 : app_ends_.begin()->first);
    consider(!park_expiries_.empty(),
             park_expiries_.empty() ? 0 : park_expiries_.begin()->first);
    consider(shutdown_waits_, next_shutdown_tick_us_);
    consider(next_heartbeat_us_ > 0, next_heartbeat_us_);
    if (!first)
      break;
    auto at = *first;
    if (!app_ends_.empty() && app_ends_.begin()->first == at) {
      auto uuid = app_ends_.begin()->second;
      app_ends_.erase(app_ends_.begin());
      auto* due = find_live(uuid);
      if (due == nullptr || due->app_ends_us != at || due->snap.answer == answer_state::hangup)
        continue; // stale: the application ended early (hangup, uuid_break)
      if (due->app == "sleep") {
        execute_complete(*due, "_none_", at);
        finish_nested_app(*due, at);
        continue;
      }
      if (due->app == "play_and_get_digits" && due->collect) {
        // The prompt or the invalid file played to its end, or the digit wait timed out.
        auto phase = due->collect->phase;
        if (phase == collect_phase::digits) {
          end_read(*due, '\0', read_status::timeout, at);
        } else {
          end_playback(*due, "done", at);
          if (phase == collect_phase::prompt)
            begin_collecting(*due, at);
          else
            end_try_file(*due, at);
        }
        continue;
      }
      end_playback(*due, "done", at);
      due->snap.set_variable("current_application_response", "FILE PLAYED");
      execute_complete(*due, "FILE PLAYED", at);
      if (due->socket_controlled || due->park_base) {
        // Run by a socket client or sendmsg: the call goes back to its socket or park.
        finish_nested_app(*due, at);
        continue;
      }
      due->hangup_disposition = "send_bye";
      execute(*due, "hangup", "NORMAL_CLEARING", at);
      // The hangup application: CHANNEL_HANGUP comes before its EXECUTE_COMPLETE (capture 05).
      hang_up_call(uuid, "NORMAL_CLEARING", at);
      continue;
    }
    if (!park_expiries_.empty() && park_expiries_.begin()->first == at) {
      auto uuid = park_expiries_.begin()->second;
      park_expiries_.erase(park_expiries_.begin());
      auto* due = find_live(uuid);
      if (due == nullptr || due->park_expires_us != at || !due->park_base
          || due->snap.answer == answer_state::hangup)
        continue; // stale: the park ended
      due->park_expires_us = 0;
      due->hangup_disposition = "send_bye";
      hang_up_call(uuid, due->park_timeout_cause, at);
      continue;
    }
    if (shutdown_waits_ && next_shutdown_tick_us_ == at) {
      shutdown_tick(at);
      continue;
    }
    heartbeat(at);
    next_heartbeat_us_ = at + config_.heartbeat_interval_us;
  }
  while (!unlisted_.empty() && unlisted_.front()->listed_until_us <= now_us) {
    legs_.erase(unlisted_.front());
    unlisted_.pop_front();
  }
}

std::optional<std::int64_t> switch_core::next_due() const {
  std::optional<std::int64_t> due;
  auto consider = [&](std::int64_t at) {
    if (!due || at < *due)
      due = at;
  };
  if (!app_ends_.empty())
    consider(app_ends_.begin()->first);
  if (!park_expiries_.empty())
    consider(park_expiries_.begin()->first);
  if (shutdown_waits_)
    consider(next_shutdown_tick_us_);
  if (next_heartbeat_us_ > 0)
    consider(next_heartbeat_us_);
  if (!unlisted_.empty())
    consider(unlisted_.front()->listed_until_us);
  return due;
}

std::int64_t playback_duration_us(std::string_view file, std::int64_t file_us) {
  constexpr std::string_view tone = "tone_stream://";
  if (file.substr(0, tone.size()) != tone)
    return file_us;
  // %(on,off,freq...) then optional ;loops=N (FreeSWITCH's teletone: one loop by default).
  std::int64_t on = 0;
  std::int64_t off = 0;
  auto open = file.find("%(");
  if (open != std::string_view::npos) {
    auto spec = file.substr(open + 2);
    auto parse = [](std::string_view text, std::int64_t& value) {
      value = 0;
      std::size_t i = 0;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9')
        value = value * 10 + (text[i++] - '0');
      return i;
    };
    auto used = parse(spec, on);
    if (used < spec.size() && spec[used] == ',')
      parse(spec.substr(used + 1), off);
  }
  std::int64_t loops = 1;
  auto at = file.find("loops=");
  if (at != std::string_view::npos) {
    auto text = file.substr(at + 6);
    bool negative = !text.empty() && text.front() == '-';
    if (negative)
      return 0;
    loops = 0;
    for (char c : text) {
      if (c < '0' || c > '9')
        break;
      loops = loops * 10 + (c - '0');
    }
  }
  return loops * (on + off) * 1000;
}

const channel_snapshot* switch_core::channel(std::string_view uuid) const {
  auto found = live_.find(uuid);
  return found == live_.end() ? nullptr : &found->second->snap;
}

bool switch_core::socket_connect(std::string_view uuid, std::int64_t now_us, std::string& out) {
  auto* l = find_live(uuid);
  if (l == nullptr || !l->socket_controlled || l->socket_connected)
    return false;
  l->socket_connected = true;
  event_context ctx{"mod_event_socket.c", "parse_command", 2021, next_sequence_++, now_us,
                    config_.utc_offset_seconds};
  if (renderer_.append_connect_reply(ctx, l->snap, connect_options{}, out))
    return false;
  // mod_event_socket's async mode parks the channel under the socket application.
  l->socket_parked = true;
  channel_event("CHANNEL_PARK", "switch_ivr.c", "switch_ivr_park", 1002, now_us, *l);
  return true;
}

bool switch_core::hang_up(std::string_view uuid, std::string_view cause, std::int64_t now_us) {
  auto* l = find_live(uuid);
  if (l == nullptr || l->snap.answer == answer_state::hangup)
    return false;
  hang_up_call(uuid, known_cause(cause).first, now_us);
  return true;
}

bool switch_core::execute_app(std::string_view uuid, std::string_view app, std::string_view arg,
                              std::string_view app_uuid, std::int64_t now_us) {
  auto* l = find_live(uuid);
  if (l == nullptr || l->snap.answer == answer_state::hangup)
    return false;
  // FreeSWITCH queues a sendmsg'd application as a private event; the running application
  // holds the queue (event-lock) until it returns, then the next one runs.
  if (blocking_app(l->app) || l->role != bridge_role::none || !l->app_queue.empty()) {
    l->app_queue.push_back({std::string{app}, std::string{arg}, std::string{app_uuid}});
    return true;
  }
  start_app(uuid, app, arg, app_uuid, now_us);
  run_queued_apps(uuid, now_us);
  return true;
}

void switch_core::run_queued_apps(std::string_view uuid, std::int64_t now_us) {
  std::string id{uuid};
  while (true) {
    auto* l = find_live(id);
    if (l == nullptr || l->snap.answer == answer_state::hangup || l->app_queue.empty()
        || blocking_app(l->app) || l->role != bridge_role::none)
      return;
    auto next = std::move(l->app_queue.front());
    l->app_queue.pop_front();
    start_app(id, next.app, next.arg, next.app_uuid, now_us);
  }
}

void switch_core::finish_nested_app(leg& l, std::int64_t now_us) {
  restore_base_app(l);
  run_queued_apps(std::string{l.snap.uuid}, now_us);
}

void switch_core::interrupt_app(leg& l, std::int64_t now_us) {
  // The running nested application ends as if broken (a transfer or uuid_bridge took the
  // channel away): a playback reports FILE PLAYED as mod_dptools does for a broken file.
  if (l.app == "playback") {
    if (l.playing)
      end_playback(l, "break", now_us);
    l.snap.set_variable("current_application_response", "FILE PLAYED");
    execute_complete(l, "FILE PLAYED", now_us);
    restore_base_app(l);
  } else if (l.app == "play_and_get_digits") {
    if (l.playing)
      end_playback(l, "break", now_us);
    l.collect.reset();
    execute_complete(l, "_none_", now_us);
    restore_base_app(l);
  } else if (l.app == "sleep") {
    execute_complete(l, "_none_", now_us);
    restore_base_app(l);
  }
}

void switch_core::break_app(leg& l, std::int64_t now_us) {
  // CF_BREAK: a playing file stops (mod_dptools reports a broken playback as played), a sleep
  // ends; play_and_get_digits loses its current file and goes on (a broken prompt starts the
  // digit wait, a broken invalid file the next try); while it waits for digits the break stays
  // pending and cuts its next file.
  if (l.app == "playback" && l.playing) {
    end_playback(l, "break", now_us);
    l.snap.set_variable("current_application_response", "FILE PLAYED");
    execute_complete(l, "FILE PLAYED", now_us);
    if (l.socket_controlled || l.park_base) {
      finish_nested_app(l, now_us);
    } else {
      l.hangup_disposition = "send_bye";
      std::string id = l.snap.uuid;
      execute(l, "hangup", "NORMAL_CLEARING", now_us);
      hang_up_call(id, "NORMAL_CLEARING", now_us);
    }
  } else if (l.app == "sleep") {
    execute_complete(l, "_none_", now_us);
    finish_nested_app(l, now_us);
  } else if (l.app == "play_and_get_digits" && l.collect) {
    if (!l.playing) {
      l.collect->break_pending = true;
      return;
    }
    auto phase = l.collect->phase;
    end_playback(l, "break", now_us);
    if (phase == collect_phase::prompt)
      begin_collecting(l, now_us);
    else
      end_try_file(l, now_us);
  }
}

void switch_core::leave_extension(leg& l, std::int64_t now_us) {
  interrupt_app(l, now_us);
  // The transfer ends the current extension. A socket-controlled channel leaves the
  // `socket` application (its park's CHANNEL_UNPARK, then its CHANNEL_EXECUTE_COMPLETE) as at
  // a hangup; the socket stays connected and sees the new extension's events and the hangup
  // (with its notices) as for any other end of the call.
  if (l.socket_controlled) {
    restore_base_app(l);
    finish_app_on_hangup(l, now_us);
    l.socket_parked = false;
    l.socket_connected = false;
  } else if (l.park_base) {
    channel_event("CHANNEL_UNPARK", "switch_ivr.c", "switch_ivr_park", 1213, now_us, l);
    l.park_base = false;
    l.park_expires_us = 0;
    if (std::exchange(l.park_without_app, false)) {
      l.app.clear();
    } else {
      const auto* response = l.snap.find_variable("current_application_response");
      l.app = "park";
      l.app_data.clear();
      l.app_uuid = l.park_app_uuid;
      execute_complete(l, response != nullptr ? *response : std::string{"_none_"}, now_us);
    }
  }
  l.snap.erase_variable("current_loop");
  l.snap.erase_variable("total_loops");
}

void switch_core::transfer_to(std::string_view uuid, std::string_view destination,
                              std::string context, std::int64_t now_us) {
  std::string id{uuid};
  auto B = [&]() -> leg& { return *find_live(id); };
  if (context.empty())
    context = B().snap.caller ? B().snap.caller->context : std::string{"default"};
  const auto* extension = find_extension(destination, context);
  if (B().snap.caller) {
    B().snap.caller->destination_number = std::string{destination};
    B().snap.caller->context = context;
    B().snap.caller->channel_transfer_time = now_us;
  }
  set_state(B(), channel_state::cs_routing, channel_state::cs_routing, now_us);
  set_state(B(), channel_state::cs_execute, channel_state::cs_execute, now_us);
  if (extension == nullptr) {
    B().hangup_disposition = "send_bye";
    hang_up_call(id, "NO_ROUTE_DESTINATION", now_us);
    return;
  }
  route(B(), *extension, now_us);
  run_queued_apps(id, now_us);
}

void switch_core::start_app(std::string_view uuid, std::string_view app, std::string_view arg,
                            std::string_view app_uuid, std::int64_t now_us) {
  auto* l = find_live(uuid);
  if (l == nullptr || l->snap.answer == answer_state::hangup)
    return;
  std::string id{uuid};
  auto B = [&]() -> leg& { return *find_live(id); };
  // switch_ivr_parse_event runs a sendmsg'd application `loops` times (1) and says so.
  l->snap.set_variable("current_loop", "1");
  l->snap.set_variable("total_loops", "1");
  if (app == "answer") {
    execute(B(), "answer", std::string{arg}, now_us, std::string{app_uuid});
    if (B().snap.answer != answer_state::answered) {
      auto partner = B().partner;
      leg* a = find_live(partner);
      if (a != nullptr && a->snap.answer != answer_state::answered)
        answer(*a, now_us);
      answer(B(), now_us);
      B().snap.set_variable("endpoint_disposition", "ANSWER");
      execute_complete(B(), "_none_", now_us);
      restore_base_app(B());
      // The A leg's originate succeeded: it runs its application.
      a = find_live(partner);
      if (a != nullptr && !a->pending_exten.empty()) {
        a->snap.set_variable("endpoint_disposition", "ANSWER");
        auto target = std::exchange(a->pending_exten, {});
        transfer_to(partner, target, std::exchange(a->pending_context, {}), now_us);
      } else if (a != nullptr && !a->pending_app.empty()) {
        a->snap.set_variable("endpoint_disposition", "ANSWER");
        set_state(*a, channel_state::cs_execute, channel_state::cs_execute, now_us);
        a->snap.set_variable("call_uuid", partner);
        auto next = std::exchange(a->pending_app, {});
        execute(*a, next, std::exchange(a->pending_app_args, {}), now_us);
        if (next == "park")
          enter_park(*find_live(partner), now_us);
      }
      return;
    }
    execute_complete(B(), "_none_", now_us);
    restore_base_app(B());
    return;
  }
  if (app == "playback") {
    execute(B(), "playback", std::string{arg}, now_us, std::string{app_uuid});
    if (!playable(arg)) {
      // switch_ivr_play_file cannot open it: no PLAYBACK_START/STOP, mod_dptools sets the
      // response and the application returns at once.
      B().snap.set_variable("current_application_response", "FILE NOT FOUND");
      execute_complete(B(), "FILE NOT FOUND", now_us);
      if (B().socket_controlled || B().park_base)
        finish_nested_app(B(), now_us);
      return;
    }
    start_playback(B(), std::string{arg}, now_us);
    return;
  }
  if (app == "play_and_get_digits") {
    execute(B(), "play_and_get_digits", std::string{arg}, now_us, std::string{app_uuid});
    start_digits(id, arg, now_us);
    return;
  }
  if (app == "sleep") {
    execute(B(), "sleep", std::string{arg}, now_us, std::string{app_uuid});
    std::int64_t ms = 0;
    for (char c : arg) {
      if (c < '0' || c > '9')
        break;
      ms = ms * 10 + (c - '0');
    }
    auto& b = B();
    b.app_ends_us = now_us + ms * 1000;
    app_ends_.emplace(b.app_ends_us, b.snap.uuid);
    return;
  }
  if (app == "set") {
    execute(B(), "set", std::string{arg}, now_us, std::string{app_uuid});
    auto eq = arg.find('=');
    if (eq != std::string_view::npos && eq > 0) {
      if (eq + 1 < arg.size())
        B().snap.set_variable(arg.substr(0, eq), arg.substr(eq + 1));
      else
        B().snap.erase_variable(arg.substr(0, eq));
    }
    execute_complete(B(), "_none_", now_us);
    restore_base_app(B());
    return;
  }
  if (app == "park") {
    if (B().park_base) {
      // Parked already: FreeSWITCH refuses a channel under control ("Cannot park channels
      // that are under control already") and the application completes at once.
      execute(B(), "park", std::string{arg}, now_us, std::string{app_uuid});
      execute_complete(B(), "_none_", now_us);
      restore_base_app(B());
      return;
    }
    execute(B(), "park", std::string{arg}, now_us, std::string{app_uuid});
    enter_park(B(), now_us);
    return;
  }
  if (app == "hangup") {
    execute(B(), "hangup", std::string{arg}, now_us, std::string{app_uuid});
    auto cause = arg.empty() ? std::string{"NORMAL_CLEARING"} : known_cause(arg).first;
    B().hangup_disposition = "send_bye";
    hang_up_call(id, cause, now_us);
    return;
  }
  if (app == "bridge") {
    bridge(id, arg, app_uuid, now_us);
    return;
  }
  if (app == "transfer") {
    auto argv = words(arg);
    if (argv.empty())
      return;
    execute(B(), "transfer", std::string{arg}, now_us, std::string{app_uuid});
    execute_complete(B(), "_none_", now_us);
    leave_extension(B(), now_us);
    transfer_to(id, argv[0], argv.size() >= 3 ? std::string{argv[2]} : std::string{}, now_us);
    return;
  }
}

// -- play_and_get_digits ---------------------------------------------------------------------
//
// switch_play_and_get_digits over switch_ivr_read and switch_ivr_collect_digits_count
// (FreeSWITCH 1.10): per try the prompt plays (a digit breaks it and is the first digit), then
// digits are collected until max_digits, a terminator or a timeout (the first digit's
// `timeout`, then `digit_timeout` per digit); read_result / read_terminator_used / <var> are set
// as switch_ivr_read sets them; digits that fail the regexp go to <var>_invalid; a failed try
// plays the invalid file; when no try succeeds the channel is transferred if asked to.

void switch_core::schedule_app_end(leg& l, std::int64_t at_us) {
  l.app_ends_us = at_us;
  app_ends_.emplace(at_us, l.snap.uuid);
}

void switch_core::start_digits(std::string_view uuid, std::string_view data,
                               std::int64_t now_us) {
  auto& l = *find_live(uuid);
  digit_collection c;
  c.args = parse_play_and_get_digits(data);
  // Tries that take no time (nothing to play, no digits wanted) would run back to back: capped.
  c.tries_left = std::min<std::uint32_t>(c.args.max_tries, 1000);
  if (!c.args.digits_regex.empty() && !c.args.var_name.empty())
    l.snap.erase_variable(c.args.var_name + "_invalid");
  l.collect = std::move(c);
  if (l.collect->tries_left == 0) {
    end_try_file(l, now_us);
    return;
  }
  begin_try(l, now_us);
}

void switch_core::begin_try(leg& l, std::int64_t now_us) {
  auto& c = *l.collect;
  c.digits.clear();
  l.snap.erase_variable("read_result");
  if (!c.args.var_name.empty())
    l.snap.erase_variable(c.args.var_name);
  if (!plays_prompt(c.args.file)) {
    begin_collecting(l, now_us);
    return;
  }
  c.phase = collect_phase::prompt;
  start_playback(l, c.args.file, now_us);
  // A pending uuid_break, or a digit still in the channel's queue, cuts the prompt at once.
  if (std::exchange(c.break_pending, false)) {
    end_playback(l, "break", now_us);
    begin_collecting(l, now_us);
  } else if (!c.queued_digits.empty()) {
    char digit = c.queued_digits.front();
    c.queued_digits.erase(0, 1);
    collect_digit(l, digit, now_us);
  }
}

void switch_core::begin_collecting(leg& l, std::int64_t now_us) {
  auto& c = *l.collect;
  c.phase = collect_phase::digits;
  const auto& a = c.args;
  auto len = c.digits.size();
  if ((a.min_digits != 0 && len < a.min_digits) || len < a.max_digits) {
    // switch_ivr_collect_digits_count: a terminator among the digits so far ends the read.
    for (std::size_t i = 0; i < len; ++i) {
      if (a.terminators.find(c.digits[i]) != std::string::npos) {
        char terminator = c.digits[i];
        c.digits.resize(i);
        end_read(l, terminator, read_status::success, now_us);
        return;
      }
    }
    std::uint32_t digit_timeout = a.digit_timeout_ms != 0 ? a.digit_timeout_ms : a.timeout_ms;
    schedule_app_end(l, now_us + std::int64_t{len != 0 ? digit_timeout : a.timeout_ms} * 1000);
    // Digits that waited in the channel's queue are read now.
    std::string waiting = std::exchange(c.queued_digits, {});
    for (char digit : waiting) {
      if (!collect_digit(l, digit, now_us))
        return;
    }
    return;
  }
  end_read(l, '\0', read_status::success, now_us);
}

bool switch_core::collect_digit(leg& l, char digit, std::int64_t now_us) {
  auto& c = *l.collect;
  switch (c.phase) {
    case collect_phase::invalid:
      // The invalid file is played without input arguments: the digit stays queued.
      c.queued_digits += digit;
      return true;
    case collect_phase::prompt:
      // switch_ivr_play_file puts the digit in the buffer and breaks the prompt.
      end_playback(l, "break", now_us);
      c.digits = std::string(1, digit);
      begin_collecting(l, now_us);
      return false;
    case collect_phase::digits:
      break;
  }
  const auto& a = c.args;
  if (a.terminators.find(digit) != std::string::npos) {
    end_read(l, digit, read_status::success, now_us);
    return false;
  }
  c.digits += digit;
  if (c.digits.size() >= a.max_digits || c.digits.size() >= 127) {
    end_read(l, '\0', read_status::success, now_us);
    return false;
  }
  std::uint32_t digit_timeout = a.digit_timeout_ms != 0 ? a.digit_timeout_ms : a.timeout_ms;
  schedule_app_end(l, now_us + std::int64_t{digit_timeout} * 1000);
  return true;
}

void switch_core::end_read(leg& l, char terminator, read_status status, std::int64_t now_us) {
  auto& c = *l.collect;
  l.app_ends_us = 0;
  auto read = finish_read(c.args, c.digits, terminator, status);
  if (!read.terminator_used.empty())
    l.snap.set_variable("read_terminator_used", read.terminator_used);
  l.snap.set_variable("read_result", read.read_result);
  const auto& var = c.args.var_name;
  if (!var.empty() && !read.digits.empty())
    l.snap.set_variable(var, read.digits);
  auto verdict = accept_try(c.args, read, l.snap.find_variable("read_terminator_used") != nullptr);
  if (verdict == try_verdict::accepted || verdict == try_verdict::restart) {
    l.collect.reset();
    execute_complete(l, "_none_", now_us);
    finish_nested_app(l, now_us);
    return;
  }
  if (verdict == try_verdict::invalid && !var.empty()) {
    l.snap.erase_variable(var);
    l.snap.set_variable(var + "_invalid", read.digits);
  }
  c.phase = collect_phase::invalid;
  if (!plays_prompt(c.args.invalid_file)) {
    end_try_file(l, now_us);
    return;
  }
  start_playback(l, c.args.invalid_file, now_us);
  if (std::exchange(c.break_pending, false)) {
    end_playback(l, "break", now_us);
    end_try_file(l, now_us);
  }
}

void switch_core::end_try_file(leg& l, std::int64_t now_us) {
  auto& c = *l.collect;
  if (c.tries_left > 0)
    --c.tries_left;
  if (c.tries_left > 0) {
    begin_try(l, now_us);
    return;
  }
  // Every try failed: transfer_on_failure "EXT [DIALPLAN [CONTEXT]]", else just the end.
  auto target = separate_string(c.args.transfer_on_failure, ' ', 4);
  l.collect.reset();
  execute_complete(l, "_none_", now_us);
  if (target.empty()) {
    finish_nested_app(l, now_us);
    return;
  }
  std::string id = l.snap.uuid;
  leave_extension(l, now_us);
  transfer_to(id, target[0], target.size() > 2 ? target[2] : std::string{}, now_us);
}

// -- inbound (SIP) channels, nested applications, DTMF, park_timeout, HEARTBEAT ---------------

const dialplan_extension* switch_core::find_extension(std::string_view destination,
                                                      std::string_view context) const {
  for (const auto& e : config_.dialplan) {
    if (e.context != context)
      continue;
    if (e.destination_regex.empty()) {
      if (e.destination == destination)
        return &e;
      continue;
    }
    // Validated when the configuration was loaded; a bad pattern here simply does not match.
    try {
      if (std::regex_match(std::string{destination}, std::regex{e.destination_regex}))
        return &e;
    } catch (const std::regex_error&) {
      continue;
    }
  }
  return nullptr;
}

void switch_core::enter_park(leg& l, std::int64_t now_us) {
  // switch_ivr_park: park_timeout ("N[:CAUSE]", cause NORMAL_CLEARING by default) is read and
  // unset when the park starts, then CHANNEL_PARK fires.
  l.park_base = true;
  l.park_app_uuid = l.app_uuid;
  l.park_expires_us = 0;
  if (const auto* timeout = l.snap.find_variable("park_timeout")) {
    std::string text = *timeout;
    auto colon = text.find(':');
    l.park_timeout_cause
      = colon == std::string::npos ? std::string{"NORMAL_CLEARING"}
                                   : known_cause(std::string_view{text}.substr(colon + 1)).first;
    std::int64_t seconds = 0;
    bool negative = !text.empty() && text.front() == '-';
    for (std::size_t i = negative ? 1 : 0; i < text.size() && i < colon; ++i) {
      if (text[i] < '0' || text[i] > '9')
        break;
      seconds = seconds * 10 + (text[i] - '0');
    }
    // FreeSWITCH counts whole seconds from the epoch second of the park's start.
    if (!negative) {
      l.park_expires_us = (now_us / 1'000'000 + seconds) * 1'000'000;
      if (l.park_expires_us <= now_us)
        l.park_expires_us = now_us + 1;
      park_expiries_.emplace(l.park_expires_us, l.snap.uuid);
    }
    l.snap.erase_variable("park_timeout");
    l.snap.erase_variable("park_after_bridge");
  }
  channel_event("CHANNEL_PARK", "switch_ivr.c", "switch_ivr_park", 1002, now_us, l);
}

bool switch_core::file_exists(std::string_view path) const {
  if (config_.unlisted_files_exist)
    return true;
  if (config_.prompt_lengths_us.contains(path))
    return true;
  auto dir = config_.sounds_dir;
  if (!dir.empty() && !dir.ends_with('/'))
    dir += '/';
  if (!dir.empty() && path.starts_with(dir)
      && config_.prompt_lengths_us.contains(path.substr(dir.size())))
    return true;
  std::error_code ignored;
  return std::filesystem::is_regular_file(std::filesystem::path{std::string{path}}, ignored);
}

bool switch_core::playable(std::string_view file) const {
  // Streams and other formats (tone_stream://, silence_stream://, http_cache://, say:) are not
  // files on disk; fsemu plays them all.
  if (file.find("://") != std::string_view::npos || file.find(':') != std::string_view::npos)
    return true;
  if (file.starts_with('/') || config_.prompt_lengths_us.contains(file))
    return file_exists(file);
  auto dir = config_.sounds_dir;
  if (!dir.empty() && !dir.ends_with('/'))
    dir += '/';
  return file_exists(dir + std::string{file});
}

void switch_core::start_playback(leg& l, std::string file, std::int64_t now_us) {
  l.playing_file = std::move(file);
  l.playing = true;
  l.playback_started_us = now_us;
  channel_event("PLAYBACK_START", "switch_ivr_play_say.c", "switch_ivr_play_file", 1646, now_us, l,
                playback_headers(l.playing_file));
  auto file_us = config_.file_playback_us;
  if (auto known = config_.prompt_lengths_us.find(l.playing_file);
      known != config_.prompt_lengths_us.end())
    file_us = known->second;
  auto length = playback_duration_us(l.playing_file, file_us);
  l.app_ends_us = 0;
  if (length > 0 || l.playing_file.find("loops=-") == std::string::npos)
    schedule_app_end(l, now_us + length);
}

void switch_core::end_playback(leg& l, std::string_view status, std::int64_t at_us,
                               bool record_position) {
  if (record_position) {
    auto played_us = at_us - l.playback_started_us;
    auto samples = std::to_string(played_us * 8000 / 1'000'000);
    l.snap.set_variable("playback_last_offset_pos", samples);
    l.snap.set_variable("playback_seconds", std::to_string(played_us / 1'000'000));
    l.snap.set_variable("playback_ms", std::to_string(played_us / 1000));
    l.snap.set_variable("playback_samples", samples);
  }
  auto headers = playback_headers(l.playing_file);
  headers.push_back({"Playback-Status", std::string{status}});
  channel_event("PLAYBACK_STOP", "switch_ivr_play_say.c", "switch_ivr_play_file", 2020, at_us, l,
                std::move(headers));
  l.app_ends_us = 0;
  l.playing = false;
}

void switch_core::route(leg& l, const dialplan_extension& extension, std::int64_t now_us) {
  std::string id = l.snap.uuid;
  auto L = [&]() -> leg& { return *find_live(id); };
  if (!extension.dp_match.empty())
    l.snap.set_variable("DP_MATCH", extension.dp_match);
  else if (!extension.destination_regex.empty() && l.snap.caller)
    l.snap.set_variable("DP_MATCH", "ARRAY::" + l.snap.caller->destination_number + "|:"
                                      + l.snap.caller->destination_number);
  l.snap.set_variable("call_uuid", id);
  if (extension.action == extension_action::socket) {
    execute(l, "socket", extension.socket_address + " async full", now_us);
    L().snap.set_variable("socket_host",
                          extension.socket_address.substr(0, extension.socket_address.find(':')));
    if (!connector_ || !connector_(id, extension.socket_address)) {
      L().hangup_disposition = "send_refuse";
      hang_up_call(id, "NORMAL_CLEARING", now_us);
      return;
    }
    auto& s = L();
    s.socket_controlled = true;
    s.socket_app_data = s.app_data;
    s.socket_app_uuid = s.app_uuid;
    return;
  }
  if (L().snap.answer != answer_state::answered) {
    execute(L(), "answer", "", now_us);
    answer(L(), now_us);
    L().snap.set_variable("endpoint_disposition", "ANSWER");
    execute_complete(L(), "_none_", now_us);
  }
  if (extension.action == extension_action::park) {
    execute(L(), "park", "", now_us);
    enter_park(L(), now_us);
    return;
  }
  execute(L(), "playback", extension.playback_file, now_us);
  auto& p = L();
  p.playing_file = extension.playback_file;
  p.playing = true;
  p.playback_started_us = now_us;
  channel_event("PLAYBACK_START", "switch_ivr_play_say.c", "switch_ivr_play_file", 1646, now_us, p,
                playback_headers(p.playing_file));
  schedule_app_end(p, now_us + extension.playback_us);
}

inbound_call_result switch_core::place_inbound_call(const inbound_call_request& request,
                                                    std::int64_t now_us) {
  // Capture 15's notes: while paused (or at the limit) sofia answers the INVITE with 503 and
  // no channel exists.
  if (!accepting_inbound() || session_count_ + 1 > config_.max_sessions)
    return {{}, "503 Maximum Calls In Progress"};
  auto uuid = new_uuid();
  const codec_info pcmu{"PCMU", 8000, 64000};
  auto port = std::to_string(request.network_port);
  auto user = request.caller_id_number;
  auto from_uri = user + "@" + request.network_addr + ":" + port;
  leg l;
  l.loopback = false;
  l.created_us = now_us;
  l.snap.uuid = uuid;
  l.snap.name = "sofia/internal/" + from_uri;
  l.snap.direction = call_direction::inbound;
  l.snap.hit_dialplan = true;
  l.snap.running_state = channel_state::cs_none;
  l.snap.state = channel_state::cs_new;
  l.snap.read_codec = pcmu;
  l.snap.write_codec = pcmu;
  caller_profile p;
  p.direction = call_direction::inbound;
  p.logical_direction = call_direction::inbound;
  p.username = user;
  p.dialplan = "XML";
  p.caller_id_name = request.caller_id_name.empty() ? user : request.caller_id_name;
  p.caller_id_number = user;
  p.orig_caller_id_name = p.caller_id_name;
  p.orig_caller_id_number = user;
  p.network_addr = request.network_addr;
  p.ani = user;
  p.destination_number = request.destination;
  p.unique_id = uuid;
  p.source = "mod_sofia";
  p.context = request.context;
  p.channel_name = l.snap.name;
  p.profile_index = "1";
  p.profile_created_time = now_us;
  p.channel_created_time = now_us;
  l.snap.caller = p;
  legs_.push_back(std::move(l));
  live_.emplace(uuid, std::prev(legs_.end()));
  count_new_session(now_us);
  auto session = sessions_since_startup_;
  auto& c = *find_live(uuid);
  // The variables mod_sofia sets for an INVITE, in capture 20's order (a subset: no SDP, RTP
  // statistics or Via details).
  auto& v = c.snap;
  auto local = config_.local_ip_v4;
  v.set_variable("direction", "inbound");
  v.set_variable("uuid", uuid);
  v.set_variable("session_id", std::to_string(session));
  v.set_variable("sip_from_user", user);
  v.set_variable("sip_from_port", port);
  v.set_variable("sip_from_uri", from_uri);
  v.set_variable("sip_from_host", request.network_addr);
  v.set_variable("channel_name", v.name);
  v.set_variable("sip_call_id", uuid.substr(0, 8) + "@" + request.network_addr);
  v.set_variable("sip_local_network_addr", local);
  v.set_variable("sip_network_ip", request.network_addr);
  v.set_variable("sip_network_port", port);
  v.set_variable("sip_invite_stamp", std::to_string(now_us));
  v.set_variable("sip_received_ip", request.network_addr);
  v.set_variable("sip_received_port", port);
  v.set_variable("sip_via_protocol", "udp");
  v.set_variable("sip_from_user_stripped", user);
  v.set_variable("sofia_profile_name", "internal");
  v.set_variable("recovery_profile_name", "internal");
  if (!request.caller_id_name.empty())
    v.set_variable("sip_from_display", request.caller_id_name);
  v.set_variable("sip_req_user", request.destination);
  v.set_variable("sip_req_uri", request.destination + "@" + local + ":5060");
  v.set_variable("sip_req_host", local);
  v.set_variable("sip_to_user", request.destination);
  v.set_variable("sip_to_uri", request.destination + "@" + local + ":5060");
  v.set_variable("sip_to_host", local);
  v.set_variable("read_codec", "PCMU");
  v.set_variable("original_read_codec", "PCMU");
  v.set_variable("read_rate", "8000");
  v.set_variable("original_read_rate", "8000");
  v.set_variable("write_codec", "PCMU");
  v.set_variable("write_rate", "8000");
  v.set_variable("dtmf_type", "rfc2833");
  for (const auto& extra : request.variables)
    v.set_variable(extra.name, extra.value);

  // The life cycle of the loopback B leg (capture 05), without the partner.
  set_state(c, channel_state::cs_init, channel_state::cs_init, now_us);
  auto* ch = find_live(uuid);
  ch->snap.state = channel_state::cs_routing;
  channel_event("CHANNEL_CREATE", "switch_core_state_machine.c", "switch_core_session_run", 626,
                now_us, *ch);
  ch->snap.running_state = channel_state::cs_routing;
  set_call_state(*ch, call_state::ringing, now_us);
  set_state(*find_live(uuid), channel_state::cs_routing, channel_state::cs_routing, now_us);
  const auto* extension = find_extension(request.destination, request.context);
  if (extension == nullptr) {
    // Capture 20: no extension matched; the channel hangs up NO_ROUTE_DESTINATION unanswered.
    auto& r = *find_live(uuid);
    r.snap.set_variable("endpoint_disposition", "RECEIVED");
    r.snap.set_variable("call_uuid", uuid);
    r.hangup_disposition = "send_refuse";
    hang_up_call(uuid, "NO_ROUTE_DESTINATION", now_us);
    return {uuid, {}};
  }
  set_state(*find_live(uuid), channel_state::cs_execute, channel_state::cs_execute, now_us);
  route(*find_live(uuid), *extension, now_us);
  return {uuid, {}};
}

bool switch_core::remote_hang_up(std::string_view uuid, std::string_view cause,
                                 std::int64_t now_us, std::string_view disposition) {
  auto* l = find_live(uuid);
  if (l == nullptr || l->snap.answer == answer_state::hangup)
    return false;
  l->hangup_disposition = std::string{disposition};
  hang_up_call(uuid, cause.empty() ? std::string{"NORMAL_CLEARING"} : known_cause(cause).first,
               now_us);
  return true;
}

void switch_core::fire_dtmf(leg& l, char digit, std::uint32_t duration_samples,
                            std::string_view source, std::int64_t now_us) {
  l.digits_dialed += digit;
  channel_event("DTMF", "switch_channel.c", "switch_channel_dequeue_dtmf", 677, now_us, l,
                {{"DTMF-Digit", std::string(1, digit)},
                 {"DTMF-Duration", std::to_string(duration_samples)},
                 {"DTMF-Source", std::string{source}}});
  // A running play_and_get_digits takes the digit.
  if (l.collect && l.snap.answer != answer_state::hangup)
    collect_digit(l, digit, now_us);
}

bool switch_core::receive_dtmf(std::string_view uuid, char digit, std::uint32_t duration_samples,
                               std::string_view source, std::int64_t now_us) {
  auto* l = find_live(uuid);
  constexpr std::string_view valid = "0123456789*#ABCDabcd";
  if (l == nullptr || l->snap.answer == answer_state::hangup
      || valid.find(digit) == std::string_view::npos)
    return false;
  fire_dtmf(*l, static_cast<char>(std::toupper(static_cast<unsigned char>(digit))),
            duration_samples, source, now_us);
  return true;
}

std::string switch_core::sendmsg(std::string_view uuid, std::string_view call_command,
                                 std::string_view app, std::string_view arg,
                                 std::string_view app_uuid, std::int64_t now_us) {
  auto* l = find_live(uuid);
  if (l == nullptr || l->snap.answer == answer_state::hangup)
    return "-ERR invalid session id [" + std::string{uuid} + "]";
  if (call_command == "execute") {
    execute_app(uuid, app, arg, app_uuid, now_us);
  } else if (call_command == "hangup") {
    l->hangup_disposition = "send_bye";
    hang_up(uuid, arg.empty() ? std::string_view{"NORMAL_CLEARING"} : arg, now_us);
  }
  // Other call-commands (unicast, nomedia, ...) are not emulated; FreeSWITCH accepts them.
  return "+OK";
}

std::string switch_core::uptime_text(std::int64_t now_us) const {
  auto up = static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_us - start_time_us_));
  auto seconds = up / 1'000'000;
  auto days = seconds / 86400;
  return plural(days / 365, "year") + ", " + plural(days % 365, "day") + ", "
         + plural((seconds / 3600) % 24, "hour") + ", " + plural((seconds / 60) % 60, "minute")
         + ", " + plural(seconds % 60, "second") + ", " + plural((up / 1000) % 1000, "millisecond")
         + ", " + plural(up % 1000, "microsecond");
}

void switch_core::heartbeat(std::int64_t at_us) {
  // No capture has one: the header set and order are send_heartbeat's (switch_core.c, 1.10).
  char idle[32];
  std::snprintf(idle, sizeof idle, "%f", config_.idle_cpu_percent);
  auto last_second = at_us / 1'000'000 - 1 == rate_window_second_ ? rate_window_count_ : 0u;
  queue_event("HEARTBEAT", "switch_core.c", "send_heartbeat", 74, at_us,
              {{"Event-Info", "System Ready"},
               {"Up-Time", uptime_text(at_us)},
               {"FreeSWITCH-Version", config_.version + "~64bit"},
               {"Uptime-msec", std::to_string(std::max<std::int64_t>(0, at_us - start_time_us_)
                                              / 1000)},
               {"Session-Count", std::to_string(session_count_)},
               {"Max-Sessions", std::to_string(config_.max_sessions)},
               {"Session-Per-Sec", std::to_string(config_.max_sessions_per_second)},
               {"Session-Per-Sec-Last", std::to_string(last_second)},
               {"Session-Per-Sec-Max", std::to_string(sessions_per_second_peak_)},
               {"Session-Per-Sec-FiveMin", std::to_string(sessions_per_second_peak_)},
               {"Session-Since-Startup", std::to_string(sessions_since_startup_)},
               {"Session-Peak-Max", std::to_string(session_peak_)},
               {"Session-Peak-FiveMin", std::to_string(session_peak_)},
               {"Idle-CPU", idle}});
}

std::string switch_core::channel_command(std::string_view command, std::string_view args,
                                         std::int64_t now_us) {
  auto argv = words(args);
  if (command == "uuid_break") {
    if (argv.empty())
      return "-USAGE: <uuid> [all]\n";
    auto* l = find_live(argv[0]);
    if (l == nullptr)
      return std::string{no_such_channel};
    // mod_commands: "all" also flushes the queued applications, "both" does the same to the
    // bridged partner.
    bool all = args.find("all", argv[0].size()) != std::string_view::npos;
    bool both = args.find("both", argv[0].size()) != std::string_view::npos;
    std::vector<std::string> targets{std::string{argv[0]}};
    if (both && !l->bridged_to.empty())
      targets.push_back(l->bridged_to);
    for (const auto& target : targets) {
      auto* t = find_live(target);
      if (t == nullptr || t->snap.answer == answer_state::hangup)
        continue;
      if (all)
        t->app_queue.clear();
      break_app(*t, now_us);
    }
    return "+OK\n";
  }
  if (command == "uuid_send_dtmf") {
    if (argv.size() < 2)
      return "-USAGE: <uuid> <dtmf_data>\n";
    auto* l = find_live(argv[0]);
    if (l == nullptr)
      return std::string{no_such_channel};
    // Capture 04: the digits arrive as DTMF events on the loopback partner (DTMF-Source
    // UNKNOWN, 2000 samples); a SIP channel sends them to its caller, which fires nothing here.
    std::string digits{argv[1]};
    auto at = digits.find('@');
    std::uint32_t duration = 2000;
    if (at != std::string::npos) {
      duration = 0;
      for (char c : digits.substr(at + 1))
        if (c >= '0' && c <= '9')
          duration = duration * 10 + static_cast<std::uint32_t>(c - '0');
      duration *= 8;
      digits.resize(at);
    }
    std::string partner_id = l->partner;
    for (char c : digits) {
      auto* partner = find_live(partner_id);
      if (partner == nullptr || partner->snap.answer == answer_state::hangup)
        break;
      if (std::string_view{"0123456789*#ABCDabcd"}.find(c) != std::string_view::npos)
        fire_dtmf(*partner, c, duration, "UNKNOWN", now_us);
    }
    return "+OK " + std::string{argv[0]} + " sent DTMF " + std::string{argv[1]} + ".\n";
  }
  if (command == "uuid_broadcast") {
    if (argv.size() < 2)
      return "-USAGE: <uuid> <path> [aleg|bleg|both]\n";
    auto* l = find_live(argv[0]);
    if (l == nullptr)
      return std::string{no_such_channel};
    std::string target_leg = argv.size() > 2 ? std::string{argv[2]} : std::string{"aleg"};
    std::string path{argv[1]};
    std::string app = "playback";
    std::string data = path;
    if (auto sep = path.find("::"); sep != std::string::npos) {
      app = path.substr(0, sep);
      data = path.substr(sep + 2);
    }
    std::vector<std::string> targets;
    if (target_leg != "bleg")
      targets.push_back(std::string{argv[0]});
    if ((target_leg == "bleg" || target_leg == "both") && !l->partner.empty())
      targets.push_back(l->partner);
    for (const auto& uuid : targets)
      execute_app(uuid, app, data, {}, now_us);
    return "+OK Message sent\n";
  }
  // uuid_transfer <uuid> [-bleg|-both] <destination> [<dialplan>] [<context>]
  if (argv.size() < 2)
    return "-USAGE: <uuid> [-bleg|-both] <dest-exp> [<dialplan>] [<context>]\n";
  auto* l = find_live(argv[0]);
  if (l == nullptr)
    return std::string{no_such_channel};
  std::size_t next = 1;
  std::string uuid{argv[0]};
  if (argv[1] == "-bleg" || argv[1] == "-both") {
    if (argv[1] == "-bleg" && !l->partner.empty())
      uuid = l->partner;
    ++next;
  }
  if (next >= argv.size())
    return "-USAGE: <uuid> [-bleg|-both] <dest-exp> [<dialplan>] [<context>]\n";
  std::string transfer_arg{argv[next]};
  if (next + 2 < argv.size())
    transfer_arg += " " + std::string{argv[next + 1]} + " " + std::string{argv[next + 2]};
  // switch_ivr_session_transfer acts at once: what runs is interrupted, not queued behind.
  auto* target = find_live(uuid);
  if (target == nullptr)
    return std::string{no_such_channel};
  if (target->role != bridge_role::none)
    return "-ERR fsemu does not emulate uuid_transfer of a bridged channel\n";
  interrupt_app(*target, now_us);
  start_app(uuid, "transfer", transfer_arg, {}, now_us);
  return "+OK\n";
}

std::string switch_core::show_channels(bool as_json, std::int64_t now_us) const {
  // Column values of a live channel as FreeSWITCH's channels table holds them; only the
  // CS_INIT row of capture 15 is captured, the rest follows the caller profile.
  std::vector<std::vector<std::string>> rows;
  for (const auto& l : legs_) {
    if (!l.snap.caller || l.created_us + config_.channel_list_lag_us > now_us
        || l.listed_until_us <= now_us)
      continue;
    const auto& p = *l.snap.caller;
    const auto& s = l.snap;
    auto codec_rate = [](const std::optional<codec_info>& c, int which) -> std::string {
      if (!c)
        return {};
      return which == 0 ? c->name : std::to_string(which == 1 ? c->rate : c->bit_rate);
    };
    rows.push_back({s.uuid,
                     std::string{to_string(s.direction)},
                     local_stamp(l.created_us, config_.utc_offset_seconds),
                     std::to_string(l.created_us / 1'000'000),
                     s.name,
                     std::string{to_string(s.running_state)},
                     p.caller_id_name,
                     p.caller_id_number,
                     p.network_addr,
                     p.destination_number,
                     l.app,
                     l.app_data,
                     p.dialplan,
                     p.context,
                     codec_rate(s.read_codec, 0),
                     codec_rate(s.read_codec, 1),
                     codec_rate(s.read_codec, 2),
                     codec_rate(s.write_codec, 0),
                     codec_rate(s.write_codec, 1),
                     codec_rate(s.write_codec, 2),
                     "",
                     config_.identity.hostname,
                     "",
                     "",
                     "",
                     std::string{to_string(s.call)},
                     p.callee_id_name,
                     p.callee_id_number,
                     // Captures 15 and 16b: the A leg's callee direction is RECV after its
                     // CALL_UPDATE; only the outbound leg has a call_uuid.
                     l.is_a && l.snap.hit_dialplan ? "RECV" : "",
                     l.is_a ? s.uuid : "",
                     "",
                     "",
                     p.orig_caller_id_name,
                     p.orig_caller_id_number,
                     p.network_addr,
                     p.destination_number,
                     p.dialplan,
                     p.context});
  }
  if (as_json) {
    if (rows.empty())
      return "{\"row_count\": 0}\n";
    std::string spaced{channels_columns};
    std::replace(spaced.begin(), spaced.end(), ',', ' ');
    auto columns = words(spaced);
    auto quote = [](std::string_view text) {
      std::string out = "\"";
      for (char c : text) {
        if (c == '"' || c == '\\')
          out += '\\';
        out += c;
      }
      return out + "\"";
    };
    std::string out = "{\"row_count\":" + std::to_string(rows.size()) + ",\"rows\":[";
    for (std::size_t r = 0; r < rows.size(); ++r) {
      out += r == 0 ? "{" : ",{";
      for (std::size_t c = 0; c < rows[r].size() && c < columns.size(); ++c) {
        if (c != 0)
          out += ',';
        out += quote(columns[c]) + ":" + quote(rows[r][c]);
      }
      out += '}';
    }
    // mod_commands writes cJSON_PrintUnformatted's text with no newline after it.
    return out + "]}";
  }
  if (rows.empty())
    return "\n0 total.\n";
  std::string out{channels_columns};
  out += '\n';
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (c != 0)
        out += ',';
      out += row[c];
    }
    out += '\n';
  }
  return out + "\n" + std::to_string(rows.size()) + " total.\n";
}

std::string switch_core::uuid_command(std::string_view command, std::string_view args,
                                      std::int64_t now_us) {
  auto argv = words(args);
  if (command == "uuid_kill") {
    if (argv.empty())
      return "-USAGE: <uuid> [cause]\n";
    auto* l = find_live(argv[0]);
    if (l == nullptr || l->snap.answer == answer_state::hangup)
      return std::string{no_such_channel};
    // Captures 04 and 15: uuid_kill without a cause ends both legs with NORMAL_CLEARING.
    auto cause = argv.size() > 1 ? known_cause(argv[1]).first : std::string{"NORMAL_CLEARING"};
    hang_up_call(argv[0], cause, now_us);
    return "+OK\n";
  }
  if (command == "uuid_getvar") {
    if (argv.size() < 2)
      return "-USAGE: <uuid> <var>\n";
    auto* l = find_live(argv[0]);
    if (l == nullptr)
      return std::string{no_such_channel};
    const auto* value = l->snap.find_variable(argv[1]);
    return value != nullptr ? *value : std::string{"_undef_"};
  }
  if (command == "uuid_setvar") {
    // mod_commands splits into three words at most: the value keeps its spaces.
    auto parts = separate_string(args, ' ', 3);
    if (parts.size() < 2)
      return "-USAGE: <uuid> <var> [value]\n";
    auto* l = find_live(parts[0]);
    if (l == nullptr)
      return std::string{no_such_channel};
    if (parts.size() == 3 && !parts[2].empty())
      l->snap.set_variable(parts[1], parts[2]);
    else
      l->snap.erase_variable(parts[1]);
    return "+OK\n";
  }
  if (command == "uuid_exists")
    return !argv.empty() && find_live(argv[0]) != nullptr ? "true" : "false";
  // uuid_answer: FreeSWITCH answers the channel and writes nothing (an empty api/response);
  // every emulated channel is answered already.
  if (argv.empty() || find_live(argv[0]) == nullptr)
    return "-ERROR\n";
  return {};
}

} // namespace callgrid::fsemu
