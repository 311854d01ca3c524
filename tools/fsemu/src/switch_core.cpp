#include "switch_core.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <utility>

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

/// Splits "cmd rest of line" at the first space; the rest keeps inner spaces.
std::pair<std::string_view, std::string_view> split_first(std::string_view line) {
  auto space = line.find(' ');
  if (space == std::string_view::npos)
    return {line, {}};
  auto rest = line.substr(space + 1);
  while (!rest.empty() && rest.front() == ' ')
    rest.remove_prefix(1);
  return {line.substr(0, space), rest};
}

/// Splits on spaces, dropping empty words (FreeSWITCH's switch_separate_string).
std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(' ', pos);
    if (end == std::string_view::npos)
      end = text.size();
    if (end > pos)
      out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x))
                  == std::tolower(static_cast<unsigned char>(y));
         });
}

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

} // namespace

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
  // Nothing else: a fresh switch has no sessions, no flags and no pending events.
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

void switch_core::queue_event(std::string name, std::string_view file, std::string_view function,
                              std::uint32_t line, std::int64_t now_us,
                              std::vector<event_header> extras, std::optional<std::string> body) {
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
}

std::vector<switch_event> switch_core::take_events(std::int64_t now_us) {
  // FreeSWITCH shuts down once the last session is gone; with none it does so at once, after
  // the request's own reply and BACKGROUND_JOB (capture 19).
  if (shutdown_ != shutdown_mode::none && session_count_ == 0 && !halted_) {
    queue_event("SHUTDOWN", "switch_core.c", "switch_core_destroy", 3023, now_us,
                {{"Event-Info", "System Shutting Down"}});
    halted_ = true;
  }
  return std::exchange(pending_, {});
}

void switch_core::run_background_job(std::string_view command_line, std::string_view job_uuid,
                                     std::int64_t now_us) {
  auto [command, args] = split_first(command_line);
  auto output = api(command_line, now_us);
  std::vector<event_header> extras{{"Job-UUID", std::string{job_uuid}},
                                   {"Job-Command", std::string{command}}};
  if (!args.empty())
    extras.push_back({"Job-Command-Arg", std::string{args}});
  queue_event("BACKGROUND_JOB", "mod_event_socket.c", "api_exec", 1572, now_us,
              std::move(extras), std::move(output));
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
  if (command == "show")
    return show(args);
  if (command == "fsctl")
    return fsctl(args, now_us);
  if (command == "originate")
    return originate(args);
  if (command == "hupall") {
    auto argv = words(args);
    auto cause = argv.empty() ? std::string{"MANAGER_REQUEST"} : upper(argv[0]);
    return "+OK hangup all channels with cause " + cause + "\n";
  }
  if (command == "uuid_kill")
    return words(args).empty() ? std::string{"-USAGE: <uuid> [cause]\n"}
                               : std::string{no_such_channel};
  if (command == "uuid_getvar")
    return words(args).size() < 2 ? std::string{"-USAGE: <uuid> <var>\n"}
                                  : std::string{no_such_channel};
  if (command == "uuid_setvar")
    return words(args).size() < 2 ? std::string{"-USAGE: <uuid> <var> [value]\n"}
                                   : std::string{no_such_channel};
  if (command == "uuid_exists")
    return "false";
  if (command == "uuid_answer")
    return "-ERROR\n";
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

std::string switch_core::show(std::string_view args) const {
  auto argv = words(args);
  auto total = "\n" + std::to_string(session_count_) + " total.\n";
  if (argv.size() == 2 && (argv[0] == "channels" || argv[0] == "calls") && argv[1] == "count")
    return total;
  if (argv.size() == 1 && argv[0] == "channels")
    return std::string{channels_columns} + "\n" + total;
  if (argv.size() == 3 && argv[0] == "channels" && argv[1] == "as" && argv[2] == "json")
    return "{\"row_count\": " + std::to_string(session_count_) + "}\n";
  // Other `show` forms exist in FreeSWITCH but are not emulated; say so rather than invent.
  return "-ERR fsemu does not emulate show " + std::string{args} + "\n";
}

std::string switch_core::global_getvar(std::string_view args) const {
  const std::array<std::pair<std::string_view, std::string_view>, 4> globals{{
    {"hostname", config_.identity.hostname},
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

std::string switch_core::originate(std::string_view args) const {
  auto argv = words(args);
  if (argv.size() < 2)
    return std::string{originate_usage};
  auto url = argv[0];
  // Leading {var=value,...} and [var=value] blocks set channel variables; skip them.
  while (!url.empty() && (url.front() == '{' || url.front() == '[' || url.front() == '<')) {
    char close = url.front() == '{' ? '}' : (url.front() == '[' ? ']' : '>');
    auto end = url.find(close);
    if (end == std::string_view::npos)
      break;
    url.remove_prefix(end + 1);
  }
  auto endpoint = url.substr(0, url.find('/'));
  if (endpoint != "loopback")
    return "-ERR CHAN_NOT_IMPLEMENTED\n";
  if (!accepting_outbound())
    return "-ERR DESTINATION_OUT_OF_ORDER\n";
  // No dialplan yet: every loopback destination is unrouted.
  return "-ERR NO_ROUTE_DESTINATION\n";
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
      return "+OK\n";
    }
  }
  return "-ERR fsemu does not emulate fsctl " + std::string{args} + "\n";
}

} // namespace callgrid::fsemu
