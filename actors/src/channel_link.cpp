#include "actors/channel_link.hpp"

#include "esl/command.hpp"
#include "esl/errc.hpp"
#include "esl/frame.hpp"
#include "esl/inbound_client.hpp"
#include "esl/outbound_server.hpp"

namespace callgrid::actors {

namespace {

/// Turns a sendmsg/api reply into a failure report when it is not +OK.
esl::connection::reply_handler check_reply(channel_link::failure_handler on_failure) {
  return [on_failure = std::move(on_failure)](caf::expected<esl::frame> reply) {
    if (!on_failure)
      return;
    if (!reply) {
      on_failure(esl::render_error(reply.error()));
      return;
    }
    auto text = reply->type() == esl::content_type::api_response ? reply->body()
                                                                  : reply->reply_text();
    if (text.starts_with("-ERR") || text.starts_with("-USAGE"))
      on_failure(std::string{text});
  };
}

caf::expected<esl::command> execute_command(const std::string& uuid, const std::string& app,
                                            const std::string& arg,
                                            const std::string& event_uuid) {
  esl::sendmsg_args args;
  args.uuid = uuid;
  args.command = esl::call_command::execute;
  args.app_name = app;
  args.app_arg = arg;
  args.event_uuid = event_uuid;
  return esl::command::sendmsg(args);
}

caf::expected<esl::command> hangup_command(const std::string& uuid, const std::string& cause) {
  esl::sendmsg_args args;
  args.uuid = uuid;
  args.command = esl::call_command::hangup;
  args.hangup_cause = cause;
  return esl::command::sendmsg(args);
}

class inbound_link final : public channel_link {
public:
  inbound_link(std::shared_ptr<esl::inbound_client> client, std::string uuid)
    : client_(std::move(client)), uuid_(std::move(uuid)) {
  }

  void execute(const std::string& app, const std::string& arg, const std::string& event_uuid,
               failure_handler on_failure) override {
    send(execute_command(uuid_, app, arg, event_uuid), std::move(on_failure));
  }

  void hangup(const std::string& cause, failure_handler on_failure) override {
    send(hangup_command(uuid_, cause), std::move(on_failure));
  }

  void api(const std::string& command, failure_handler on_failure) override {
    send(esl::command::api(command), std::move(on_failure));
  }

  void release() override {
  }

private:
  void send(caf::expected<esl::command> cmd, failure_handler on_failure) {
    if (!cmd) {
      if (on_failure)
        on_failure(esl::render_error(cmd.error()));
      return;
    }
    client_->send(std::move(*cmd), check_reply(std::move(on_failure)));
  }

  std::shared_ptr<esl::inbound_client> client_;
  std::string uuid_;
};

class outbound_link final : public channel_link {
public:
  explicit outbound_link(std::shared_ptr<esl::outbound_session> session)
    : session_(std::move(session)) {
  }

  void execute(const std::string& app, const std::string& arg, const std::string& event_uuid,
               failure_handler on_failure) override {
    send(execute_command({}, app, arg, event_uuid), std::move(on_failure));
  }

  void hangup(const std::string& cause, failure_handler on_failure) override {
    send(hangup_command({}, cause), std::move(on_failure));
  }

  void api(const std::string& command, failure_handler on_failure) override {
    send(esl::command::api(command), std::move(on_failure));
  }

  void release() override {
    session_->close();
  }

private:
  void send(caf::expected<esl::command> cmd, failure_handler on_failure) {
    if (!cmd) {
      if (on_failure)
        on_failure(esl::render_error(cmd.error()));
      return;
    }
    session_->send(std::move(*cmd), check_reply(std::move(on_failure)));
  }

  std::shared_ptr<esl::outbound_session> session_;
};

} // namespace

channel_link::~channel_link() = default;

std::shared_ptr<channel_link> make_inbound_link(std::shared_ptr<esl::inbound_client> client,
                                                std::string uuid) {
  return std::make_shared<inbound_link>(std::move(client), std::move(uuid));
}

std::shared_ptr<channel_link> make_outbound_link(std::shared_ptr<esl::outbound_session> session) {
  return std::make_shared<outbound_link>(std::move(session));
}

} // namespace callgrid::actors
