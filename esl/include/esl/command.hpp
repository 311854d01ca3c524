#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

namespace callgrid::esl {

/// The encoding FreeSWITCH uses for the events of a subscription.
enum class event_format : uint8_t { plain, json, xml };

/// Returns "plain", "json" or "xml".
[[nodiscard]] const char* to_string(event_format format) noexcept;

/// The `call-command` of a sendmsg.
enum class call_command : uint8_t {
  /// Run a dialplan application (answer, playback, park, bridge, ...).
  execute,
  /// Hang the channel up with `hangup_cause`.
  hangup,
  /// Hook the channel's media to a socket.
  unicast,
};

/// What a `sendmsg` carries. `uuid` is empty on an outbound socket (its own channel).
struct sendmsg_args {
  std::string uuid;
  call_command command = call_command::execute;
  /// execute: the application, e.g. "playback".
  std::string app_name;
  /// execute: its argument. Sent as a Content-Length body when `arg_as_body` is set or when
  /// it contains a line break (a header could not carry it).
  std::string app_arg;
  bool arg_as_body = false;
  /// execute: how many times to run the application (header `loops`; 0 = not sent).
  int loops = 0;
  /// Whether FreeSWITCH runs the application before it reads the next command.
  bool event_lock = false;
  /// Tag copied into the CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE events of this
  /// application (Application-UUID), so a caller can match them.
  std::string event_uuid;
  /// hangup: the cause, e.g. "NORMAL_CLEARING" (empty = FreeSWITCH's default).
  std::string hangup_cause;
  /// Further headers, e.g. unicast's local-ip / remote-ip / transport / flags.
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

/// The reply a command produces on the wire.
enum class reply_kind : uint8_t {
  /// A `command/reply` frame with Reply-Text.
  command_reply,
  /// An `api/response` frame with the output as its body.
  api_response,
  /// The outbound `connect` reply carrying the channel's data.
  channel_data,
};

/// One command to FreeSWITCH, already encoded: build it with one of the named constructors,
/// which reject arguments that would break the framing (a line break in a header could
/// smuggle in a second command). Cheap to move; safe to pass between threads.
///
/// ```
/// auto cmd = esl::command::api("show channels as json");
/// if (!cmd) log(cmd.error());
/// client.send(std::move(*cmd), on_reply);
/// ```
class command {
public:
  /// `auth <password>`: the first command on an inbound connection.
  [[nodiscard]] static caf::expected<command> auth(std::string_view password);
  /// `api <command>`: runs an API command; the reply is an api/response.
  [[nodiscard]] static caf::expected<command> api(std::string_view api_command);
  /// `bgapi <command>`: runs it in the background; the result arrives as a BACKGROUND_JOB
  /// event carrying `job_uuid` (chosen by FreeSWITCH when empty).
  [[nodiscard]] static caf::expected<command> bgapi(std::string_view api_command,
                                                    std::string_view job_uuid = {});
  /// `event <format> <names>`: subscribes to events, e.g. names "CHANNEL_PARK DTMF" or "ALL".
  [[nodiscard]] static caf::expected<command> event(event_format format,
                                                    std::string_view names);
  /// `nixevent <names>`: unsubscribes from these events.
  [[nodiscard]] static caf::expected<command> nixevent(std::string_view names);
  /// `noevents`: unsubscribes from all events.
  [[nodiscard]] static command noevents();
  /// `filter <header> <value>`: only events with that header value pass.
  [[nodiscard]] static caf::expected<command> filter(std::string_view header,
                                                     std::string_view value);
  /// `filter delete <header> [<value>]`: removes a filter ("all" removes every filter).
  [[nodiscard]] static caf::expected<command> filter_delete(std::string_view header,
                                                            std::string_view value = {});
  /// `myevents [<format>] [<uuid>]`: only this channel's events (outbound sockets: own one).
  [[nodiscard]] static caf::expected<command> myevents(std::string_view uuid = {},
                                                       std::optional<event_format> format = {});
  /// `linger [<seconds>]`: keep the outbound socket open after hangup to receive the final
  /// events; without a time FreeSWITCH lingers until the socket closes.
  [[nodiscard]] static command linger(std::optional<int> seconds = {});
  /// `nolinger`: cancels linger.
  [[nodiscard]] static command nolinger();
  /// `resume`: the outbound socket's channel continues the dialplan when the socket closes.
  [[nodiscard]] static command resume();
  /// `exit`: FreeSWITCH says goodbye and closes the connection.
  [[nodiscard]] static command exit();
  /// `connect`: the first command on an outbound socket; the reply carries channel data.
  [[nodiscard]] static command connect();
  /// `sendmsg [<uuid>]` with call-command headers: controls one channel.
  [[nodiscard]] static caf::expected<command> sendmsg(const sendmsg_args& args);
  /// `sendmsg [<uuid>]` executing `app arg`, tagged `event_uuid` when not empty: the common
  /// case of `sendmsg`, without building a `sendmsg_args`.
  [[nodiscard]] static caf::expected<command> execute(std::string_view uuid,
                                                      std::string_view app,
                                                      std::string_view arg,
                                                      std::string_view event_uuid = {});
  /// `sendmsg [<uuid>]` hanging the channel up with `cause` (FreeSWITCH's default when empty).
  [[nodiscard]] static caf::expected<command> hangup(std::string_view uuid,
                                                     std::string_view cause = {});

  /// The exact bytes to write, frame terminator included.
  [[nodiscard]] const std::string& wire() const noexcept { return wire_; }

  /// The Job-UUID a bgapi command carries ("" if FreeSWITCH chooses it or not a bgapi).
  [[nodiscard]] std::string_view job_uuid() const noexcept { return job_uuid_; }

  /// The reply frame this command produces.
  [[nodiscard]] reply_kind expected_reply() const noexcept { return reply_; }

  /// The command's first line without the terminator, for logs (the password is masked).
  [[nodiscard]] std::string_view summary() const noexcept {
    if (!summary_.empty())
      return summary_;
    std::string_view wire{wire_};
    return wire.substr(0, wire.find('\n'));
  }

private:
  command(std::string wire, reply_kind reply, std::string summary = {},
          std::string job_uuid = {});

  std::string wire_;
  std::string summary_; // empty: the wire's first line
  std::string job_uuid_;
  reply_kind reply_ = reply_kind::command_reply;
};

} // namespace callgrid::esl
