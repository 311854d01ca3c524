#define CAF_SUITE esl.percent_codec

#include <caf/test/unit_test.hpp>

#include <string>

#include "esl/percent_codec.hpp"

using namespace callgrid::esl;

CAF_TEST(decoding turns percent escapes into bytes and keeps everything else) {
  CAF_CHECK_EQUAL(percent_decode("Fs%20Build"), "Fs Build");
  CAF_CHECK_EQUAL(percent_decode("ARRAY%3A%3A1000%7C%3A1000"), "ARRAY::1000|:1000");
  CAF_CHECK_EQUAL(percent_decode("%2BOK%0A"), "+OK\n");
  CAF_CHECK_EQUAL(percent_decode("a+b"), "a+b");
  CAF_CHECK_EQUAL(percent_decode("100%"), "100%");
  CAF_CHECK_EQUAL(percent_decode("%zz%4"), "%zz%4");
  CAF_CHECK_EQUAL(percent_decode("%e2%82%AC"), "\xe2\x82\xac");
}

CAF_TEST(encoding escapes what FreeSWITCH escapes) {
  std::string out;
  percent_encode("Thu, 26 Nov 2026 04:06:59 GMT", out);
  CAF_CHECK_EQUAL(out, "Thu,%2026%20Nov%202026%2004%3A06%3A59%20GMT");
  out.clear();
  percent_encode("sofia/internal/1000@127.0.0.1:5060;x=\"y\"", out);
  CAF_CHECK_EQUAL(out, "sofia/internal/1000%40127.0.0.1%3A5060%3Bx%3D%22y%22");
  out.clear();
  percent_encode("+OK\n", out);
  CAF_CHECK_EQUAL(out, "%2BOK%0A");
}

CAF_TEST(encoding then decoding gives back every byte) {
  std::string all;
  for (int byte = 0; byte < 256; ++byte)
    all += static_cast<char>(byte);
  std::string encoded;
  percent_encode(all, encoded);
  CAF_CHECK_EQUAL(percent_decode(encoded), all);
}

CAF_TEST(encoding keeps exactly the bytes FreeSWITCH keeps) {
  // Printable ASCII but for space and the url encoder's list; everything else is escaped.
  const std::string_view kept_outside_alphanumerics = "!$'()*,-./_~";
  for (int byte = 0; byte < 256; ++byte) {
    auto c = static_cast<char>(byte);
    bool alphanumeric = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    bool kept = alphanumeric || kept_outside_alphanumerics.find(c) != std::string_view::npos;
    std::string out;
    percent_encode(std::string_view{&c, 1}, out);
    CAF_CHECK_EQUAL(out.size() == 1, kept);
  }
}
