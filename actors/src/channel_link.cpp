#include "actors/channel_link.hpp"

#include "esl/command.hpp"
#include "esl/errc.hpp"
#include "esl/frame.hpp"
#include "esl/inbound_client.hpp"
#include "esl/outbound_server.hpp"

#include <type_traits>

#include <spdlog/spdlog.h>

namespace callgrid::actors {

namespace {

/// The reply handler of a command: a refusal (-ERR, -USAGE) or a failure of the link is logged
/// with the call's UUID. It holds the link (which has the UUID), so that each command costs one
/// small allocation (the handler) and no copy of the UUID.
template <class Link>
esl::connection::reply_handler check_reply(std::shared_ptr<const Link> link) {
  return [link = std::move(link)](caf::expected<esl::frame> reply) {
    std::string why;
    if (!reply) {
      why = esl::render_error(reply.error());
    } else {
      auto text = reply->type() == esl::content_type::api_response ? reply->body()
                                                                    : reply->reply_text();
      if (!text.starts_with("-ERR") && !text.starts_with("-USAGE"))
        return;
      why = text;
    }
    spdlog::warn("call {}: FreeSWITCH refused a command: {}", link->uuid(), why);
  };
}

/// What both kinds of link do with a command: send it through `Transport` (an inbound client
/// or an outbound session), or log why it could not be built.
template <class Transport>
class link_through final : public channel_link,
                           public std::enable_shared_from_this<link_through<Transport>> {
public:
  /// `addressed`: whether a sendmsg names the channel (the shared inbound link) or not (the
  /// channel's own outbound socket).
  link_through(std::shared_ptr<Transport> transport, std::string uuid, bool addressed)
    : transport_(std::move(transport)), uuid_(std::move(uuid)), addressed_(addressed) {
  }

  void execute(const std::string& app, const std::string& arg,
               const std::string& event_uuid) override {
    send(esl::command::execute(address(), app, arg, event_uuid));
  }

  void hangup(const std::string& cause) override {
    send(esl::command::hangup(address(), cause));
  }

  void api(const std::string& command) override {
    send(esl::command::api(command));
  }

  void release() override {
    if constexpr (std::is_same_v<Transport, esl::outbound_session>)
      transport_->close();
  }

  [[nodiscard]] const std::string& uuid() const noexcept { return uuid_; }

private:
  [[nodiscard]] std::string_view address() const noexcept {
    return addressed_ ? std::string_view{uuid_} : std::string_view{};
  }

  void send(caf::expected<esl::command> cmd) {
    if (!cmd) {
      spdlog::warn("call {}: a command could not be built: {}", uuid_,
                   esl::render_error(cmd.error()));
      return;
    }
    transport_->send(std::move(*cmd), check_reply<link_through>(this->shared_from_this()));
  }

  std::shared_ptr<Transport> transport_;
  std::string uuid_;
  bool addressed_;
};

} // namespace

channel_link::~channel_link() = default;

std::shared_ptr<channel_link> make_inbound_link(std::shared_ptr<esl::inbound_client> client,
                                                std::string uuid) {
  return std::make_shared<link_through<esl::inbound_client>>(std::move(client), std::move(uuid),
                                                             true);
}

std::shared_ptr<channel_link> make_outbound_link(std::shared_ptr<esl::outbound_session> session,
                                                 std::string uuid) {
  return std::make_shared<link_through<esl::outbound_session>>(std::move(session),
                                                               std::move(uuid), false);
}

} // namespace callgrid::actors
