#define CAF_SUITE fsemu.digit_collection

#include <caf/test/unit_test.hpp>

#include <string>
#include <vector>

#include "digit_collection.hpp"

using namespace callgrid;

// The pure rules of play_and_get_digits: mod_dptools' argument parsing, switch_ivr_read's
// verdict on one try and switch_play_and_get_digits' acceptance (FreeSWITCH 1.10 sources).

CAF_TEST(play_and_get_digits arguments are parsed and clamped as mod_dptools does) {
  auto args = fsemu::parse_play_and_get_digits(
    "2 5 3 7000 * ivr/menu.wav ivr/bad.wav choice ^[0-9]+$ 1500 9197 XML default");
  CAF_CHECK_EQUAL(args.min_digits, 2u);
  CAF_CHECK_EQUAL(args.max_digits, 5u);
  CAF_CHECK_EQUAL(args.max_tries, 3u);
  CAF_CHECK_EQUAL(args.timeout_ms, 7000u);
  CAF_CHECK_EQUAL(args.terminators, "*");
  CAF_CHECK_EQUAL(args.file, "ivr/menu.wav");
  CAF_CHECK_EQUAL(args.invalid_file, "ivr/bad.wav");
  CAF_CHECK_EQUAL(args.var_name, "choice");
  CAF_CHECK_EQUAL(args.digits_regex, "^[0-9]+$");
  CAF_CHECK_EQUAL(args.digit_timeout_ms, 1500u);
  // The eleventh word keeps the rest of the line: EXT DIALPLAN CONTEXT.
  CAF_CHECK_EQUAL(args.transfer_on_failure, "9197 XML default");

  // Negative min becomes 0, max below min becomes min, short timeouts become 1000 ms, no
  // terminators become "#".
  auto clamped = fsemu::parse_play_and_get_digits("-3 -1 1 500");
  CAF_CHECK_EQUAL(clamped.min_digits, 0u);
  CAF_CHECK_EQUAL(clamped.max_digits, 0u);
  CAF_CHECK_EQUAL(clamped.timeout_ms, 1000u);
  CAF_CHECK_EQUAL(clamped.terminators, "#");
  CAF_CHECK_EQUAL(clamped.file, "");
  auto raised = fsemu::parse_play_and_get_digits("4 2 1 3000 # x.wav");
  CAF_CHECK_EQUAL(raised.max_digits, 4u);

  // Single quotes group a word with spaces.
  auto quoted = fsemu::parse_play_and_get_digits("1 1 1 3000 # 'say this.wav' bad.wav v");
  CAF_CHECK_EQUAL(quoted.file, "say this.wav");
  CAF_CHECK_EQUAL(quoted.invalid_file, "bad.wav");
  std::vector<std::string> expected{"a", "b", "c d  e"};
  CAF_CHECK_EQUAL(fsemu::separate_string("a  b c d  e ", ' ', 3), expected);
}

CAF_TEST(a read ends as switch_ivr_read decides) {
  auto args = fsemu::parse_play_and_get_digits("1 4 3 5000 # p.wav b.wav v");
  auto with_terminator = fsemu::finish_read(args, "12", '#', fsemu::read_status::success);
  CAF_CHECK(with_terminator.status == fsemu::read_status::success);
  CAF_CHECK_EQUAL(with_terminator.digits, "12");
  CAF_CHECK_EQUAL(with_terminator.read_result, "success");
  CAF_CHECK_EQUAL(with_terminator.terminator_used, "#");

  // Fewer than min digits: too small, "failure".
  auto empty = fsemu::finish_read(args, "", '#', fsemu::read_status::success);
  CAF_CHECK(empty.status == fsemu::read_status::too_small);
  CAF_CHECK_EQUAL(empty.read_result, "failure");
  auto timed_out = fsemu::finish_read(args, "", '\0', fsemu::read_status::timeout);
  CAF_CHECK_EQUAL(timed_out.read_result, "failure");
  auto late = fsemu::finish_read(args, "7", '\0', fsemu::read_status::timeout);
  CAF_CHECK_EQUAL(late.read_result, "timeout");

  // '+' keeps the terminator in the digits, 'x' also ends with restart.
  auto keep = fsemu::parse_play_and_get_digits("1 4 3 5000 +# p.wav b.wav v");
  CAF_CHECK_EQUAL(fsemu::finish_read(keep, "12", '#', fsemu::read_status::success).digits,
                  "12#");
  auto restart = fsemu::parse_play_and_get_digits("1 4 3 5000 x# p.wav b.wav v");
  auto restarted = fsemu::finish_read(restart, "12", '#', fsemu::read_status::success);
  CAF_CHECK(restarted.status == fsemu::read_status::restart);
  CAF_CHECK_EQUAL(restarted.read_result, "failure");

  // '=' makes the terminator required.
  auto required = fsemu::parse_play_and_get_digits("1 4 3 5000 =# p.wav b.wav v");
  auto without = fsemu::finish_read(required, "1234", '\0', fsemu::read_status::success);
  CAF_CHECK(without.status == fsemu::read_status::too_small);

  // A single-digit read that caught only a terminator yields nothing.
  auto single = fsemu::parse_play_and_get_digits("1 1 3 5000 # p.wav b.wav v");
  CAF_CHECK_EQUAL(fsemu::finish_read(single, "#", '\0', fsemu::read_status::success).digits, "");
}

CAF_TEST(a try is accepted or retried as switch_play_and_get_digits decides) {
  auto args = fsemu::parse_play_and_get_digits("1 4 3 5000 # p.wav b.wav v ^1");
  auto read = [&](std::string digits, fsemu::read_status status) {
    return fsemu::finish_read(args, std::move(digits), '\0', status);
  };
  CAF_CHECK(fsemu::accept_try(args, read("12", fsemu::read_status::success), false)
            == fsemu::try_verdict::accepted);
  CAF_CHECK(fsemu::accept_try(args, read("21", fsemu::read_status::success), false)
            == fsemu::try_verdict::invalid);
  // A timeout with at least min digits counts as success.
  CAF_CHECK(fsemu::accept_try(args, read("1", fsemu::read_status::timeout), false)
            == fsemu::try_verdict::accepted);
  CAF_CHECK(fsemu::accept_try(args, read("", fsemu::read_status::timeout), false)
            == fsemu::try_verdict::retry);
  // min 0: an empty read ended by a terminator is accepted (read_terminator_used is set).
  auto optional = fsemu::parse_play_and_get_digits("0 4 3 5000 # p.wav b.wav v");
  auto nothing = fsemu::finish_read(optional, "", '#', fsemu::read_status::success);
  CAF_CHECK(fsemu::accept_try(optional, nothing, true) == fsemu::try_verdict::accepted);
  // A regular expression that does not compile matches nothing.
  CAF_CHECK(!fsemu::digits_match("12", "(["));
  CAF_CHECK(fsemu::digits_match("312", "1"));
  CAF_CHECK(!fsemu::plays_prompt("silence"));
  CAF_CHECK(!fsemu::plays_prompt(""));
  CAF_CHECK(fsemu::plays_prompt("silence_stream://500"));
}
