#define CAF_SUITE esl.command

#include <caf/test/unit_test.hpp>

#include <string>

#include "capture_transcript.hpp"
#include "esl/command.hpp"
#include "esl/errc.hpp"
#include "frame_test_helpers.hpp"

using namespace callgrid;
using namespace callgrid::esl;
using esl::testing::code_of;

namespace {

/// Whether the client side of `capture_name` sent exactly `wire` as one of its frames.
bool captured(const std::string& capture_name, const std::string& wire) {
  for (const auto& entry : test_support::load_capture(capture_name).entries)
    if (!entry.from_freeswitch && entry.bytes == wire)
      return true;
  return false;
}

} // namespace

CAF_TEST(simple commands encode as the captured clients sent them) {
  CAF_CHECK(captured("01_auth_handshake_ok", command::auth("ClueCon")->wire()));
  CAF_CHECK(captured("02_api_responses", command::api("status")->wire()));
  CAF_CHECK(captured("04_call_plain_events",
                     command::event(event_format::plain,
                                    "CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE DTMF")
                       ->wire()));
  CAF_CHECK(captured("03_command_replies",
                     command::event(event_format::json, "CHANNEL_CREATE")->wire()));
  CAF_CHECK(captured("03_command_replies", command::nixevent("CHANNEL_CREATE")->wire()));
  CAF_CHECK(captured("03_command_replies", command::noevents().wire()));
  CAF_CHECK(captured("03_command_replies",
                     command::filter("Unique-ID", "00000000-0000-0000-0000-000000000000")
                       ->wire()));
  CAF_CHECK(captured("03_command_replies",
                     command::filter_delete("Unique-ID", "00000000-0000-0000-0000-000000000000")
                       ->wire()));
  CAF_CHECK(captured("03_command_replies", command::filter_delete("all")->wire()));
  CAF_CHECK(captured("11_outbound_socket_linger", command::connect().wire()));
  CAF_CHECK(captured("11_outbound_socket_linger", command::myevents()->wire()));
  CAF_CHECK(captured("11_outbound_socket_linger", command::linger().wire()));
  CAF_CHECK(captured("11b_outbound_socket_linger_3s", command::linger(3).wire()));
  CAF_CHECK(captured("01_auth_handshake_ok", command::exit().wire()));
}

CAF_TEST(bgapi carries a caller-chosen Job-UUID) {
  auto cmd = command::bgapi("uuid_exists ca98311e-c235-46ed-93fd-9458df2614e4",
                            "11111111-2222-3333-4444-555555555555");
  CAF_REQUIRE(cmd);
  CAF_CHECK(captured("04_call_plain_events", cmd->wire()));
  CAF_CHECK_EQUAL(std::string{cmd->job_uuid()}, "11111111-2222-3333-4444-555555555555");
  CAF_CHECK(captured("04_call_plain_events", command::bgapi("status")->wire()));
}

CAF_TEST(sendmsg encodes execute with a header argument and event-lock and Event-UUID) {
  sendmsg_args playback;
  playback.uuid = "50953741-d8bd-4080-8ed0-7c093859d66d";
  playback.app_name = "playback";
  playback.app_arg = "tone_stream://%(300,0,440)";
  playback.event_lock = true;
  CAF_CHECK(captured("07_inbound_sendmsg_execute", command::sendmsg(playback)->wire()));
  sendmsg_args set;
  set.app_name = "set";
  set.app_arg = "fsbuild_var=hello world";
  set.event_uuid = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
  CAF_CHECK(captured("11_outbound_socket_linger", command::sendmsg(set)->wire()));
}

CAF_TEST(execute and hangup encode what sendmsg does and check the same way) {
  auto execute = command::execute("50953741-d8bd-4080-8ed0-7c093859d66d", "playback",
                                  "ivr/welcome.wav", "50953741-d8bd-4080-8ed0-7c093859d66d-1");
  CAF_REQUIRE(execute);
  sendmsg_args args;
  args.uuid = "50953741-d8bd-4080-8ed0-7c093859d66d";
  args.app_name = "playback";
  args.app_arg = "ivr/welcome.wav";
  args.event_uuid = "50953741-d8bd-4080-8ed0-7c093859d66d-1";
  auto same = command::sendmsg(args);
  CAF_REQUIRE(same);
  CAF_CHECK_EQUAL(execute->wire(), same->wire());
  CAF_CHECK_EQUAL(std::string{execute->summary()},
                  "sendmsg 50953741-d8bd-4080-8ed0-7c093859d66d");
  auto hangup = command::hangup("50953741-d8bd-4080-8ed0-7c093859d66d", "USER_BUSY");
  CAF_REQUIRE(hangup);
  CAF_CHECK(captured("07_inbound_sendmsg_execute", hangup->wire()));
  auto own = command::hangup("");
  CAF_REQUIRE(own);
  CAF_CHECK_EQUAL(own->wire(), "sendmsg\ncall-command: hangup\n\n");
  CAF_CHECK(!command::execute("a\nb", "playback", "x"));
  CAF_CHECK(!command::execute("a", "", "x"));
  CAF_CHECK(!command::hangup("a", "CAUSE\r"));
  // An argument with a line break goes into the body, as with sendmsg.
  auto speak = command::execute("", "speak", "line one\nline two");
  CAF_REQUIRE(speak);
  CAF_CHECK(speak->wire().ends_with("content-length: 17\n\nline one\nline two"));
}

CAF_TEST(sendmsg can carry the argument as a body) {
  sendmsg_args playback;
  playback.uuid = "50953741-d8bd-4080-8ed0-7c093859d66d";
  playback.app_name = "playback";
  playback.app_arg = "tone_stream://%(200,0,600);loops=1";
  playback.arg_as_body = true;
  CAF_CHECK(captured("07_inbound_sendmsg_execute", command::sendmsg(playback)->wire()));
}

CAF_TEST(an argument with a line break goes into the body instead of a header) {
  sendmsg_args speak;
  speak.app_name = "speak";
  speak.app_arg = "line one\nline two";
  auto cmd = command::sendmsg(speak);
  CAF_REQUIRE(cmd);
  CAF_CHECK(cmd->wire().ends_with("content-length: 17\n\nline one\nline two"));
}

CAF_TEST(sendmsg encodes hangup with its cause) {
  sendmsg_args hangup;
  hangup.uuid = "50953741-d8bd-4080-8ed0-7c093859d66d";
  hangup.command = call_command::hangup;
  hangup.hangup_cause = "USER_BUSY";
  CAF_CHECK(captured("07_inbound_sendmsg_execute", command::sendmsg(hangup)->wire()));
  sendmsg_args own;
  own.command = call_command::hangup;
  own.hangup_cause = "NORMAL_CLEARING";
  CAF_CHECK(captured("11_outbound_socket_linger", command::sendmsg(own)->wire()));
}

CAF_TEST(line breaks that would smuggle in a second command are refused) {
  auto api = command::api("status\n\napi fsctl shutdown");
  CAF_REQUIRE(!api);
  CAF_CHECK(code_of(api.error()) == errc::invalid_command);
  CAF_CHECK(!command::bgapi("status", "x\nfoo: bar"));
  CAF_CHECK(!command::event(event_format::plain, "ALL\r\n"));
  CAF_CHECK(!command::auth("Clue\nCon"));
  CAF_CHECK(!command::auth(""));
  CAF_CHECK(!command::api(""));
  sendmsg_args bad;
  bad.uuid = "abc\n";
  bad.app_name = "answer";
  CAF_CHECK(!command::sendmsg(bad));
  sendmsg_args no_app;
  CAF_CHECK(!command::sendmsg(no_app));
}

CAF_TEST(the summary of auth hides the password) {
  auto cmd = command::auth("s3cret-pass");
  CAF_REQUIRE(cmd);
  CAF_CHECK_EQUAL(std::string{cmd->summary()}, "auth ********");
  CAF_CHECK_EQUAL(std::string{command::api("status")->summary()}, "api status");
}

CAF_TEST(commands say which reply they expect) {
  CAF_CHECK(command::api("status")->expected_reply() == reply_kind::api_response);
  CAF_CHECK(command::bgapi("status")->expected_reply() == reply_kind::command_reply);
  CAF_CHECK(command::connect().expected_reply() == reply_kind::channel_data);
}
