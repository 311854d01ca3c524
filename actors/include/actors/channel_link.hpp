#pragma once

#include <memory>
#include <string>

namespace callgrid::esl {
class command;
class inbound_client;
class outbound_session;
} // namespace callgrid::esl

namespace callgrid::actors {

/// How a call actor reaches its channel: through the node's shared inbound ESL link
/// (`sendmsg <uuid>`) or through the channel's own outbound socket (`sendmsg` without a UUID).
/// Commands are fire and forget: when FreeSWITCH refuses one (-ERR) or the link fails before
/// the reply, the link logs a warning naming the call and the reason; the call goes on with
/// the events that come (a failed hangup still ends in CHANNEL_HANGUP_COMPLETE or a park
/// timeout). Thread-safe (the ESL objects post to their strands); owned by the call actor.
class channel_link {
public:
  virtual ~channel_link();

  /// Runs `app arg` on the channel; the CHANNEL_EXECUTE(_COMPLETE) events carry `event_uuid`.
  virtual void execute(const std::string& app, const std::string& arg,
                       const std::string& event_uuid) = 0;
  /// Hangs the channel up with `cause`.
  virtual void hangup(const std::string& cause) = 0;
  /// Runs an API command (`api ...`) over this link.
  virtual void api(const std::string& command) = 0;
  /// The call is over: an outbound socket is closed; the shared inbound link stays.
  virtual void release() = 0;
};

/// A link through the node's inbound client, addressing the channel `uuid`.
[[nodiscard]] std::shared_ptr<channel_link>
make_inbound_link(std::shared_ptr<esl::inbound_client> client, std::string uuid);

/// A link through an outbound socket session (one channel per socket; `uuid` names the call in
/// the link's warnings).
[[nodiscard]] std::shared_ptr<channel_link>
make_outbound_link(std::shared_ptr<esl::outbound_session> session, std::string uuid);

} // namespace callgrid::actors
