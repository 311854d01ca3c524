#define CAF_SUITE esl.percent_codec

#include <caf/test/unit_test.hpp>

#include <string>
#include <string_view>

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

CAF_TEST(decoding matches a byte by byte decoder wherever the escapes fall) {
  // The decoder moves eight bytes at a time up to a '%': put escapes, bare '%'s and a '%' at
  // the very end at every offset of values up to 40 bytes long.
  auto reference = [](std::string_view in) {
    auto hex = [](char c) {
      if (c >= '0' && c <= '9')
        return c - '0';
      if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
      if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
      return -1;
    };
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
        out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
        i += 2;
      } else {
        out += in[i];
      }
    }
    return out;
  };
  const std::string pieces[] = {"%41", "%", "%4", "%zz", "%%41", "%2520"};
  std::size_t cases = 0;
  for (std::size_t length = 0; length <= 40; ++length)
    for (std::size_t at = 0; at <= length; ++at)
      for (const auto& piece : pieces) {
        std::string value(length, 'x');
        for (std::size_t i = 0; i < length; ++i)
          value[i] = static_cast<char>('a' + (i % 26));
        value.insert(at, piece);
        auto want = reference(value);
        std::string out(value.size() + 8, '#'); // room past the end shows any overrun
        auto n = percent_decode(value, out.data());
        CAF_CHECK_EQUAL(out.substr(0, n), want);
        CAF_CHECK_EQUAL(out.substr(value.size()), std::string(8, '#'));
        ++cases;
      }
  CAF_CHECK(cases > 5000);
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
