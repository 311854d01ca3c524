// libFuzzer target for fsemu's SIP message parser (tools/fsemu/src/sip_message.cpp): one input
// is one UDP datagram. Every header of a parsed message is read back, the multi-valued ones
// split, and the URI and parameter helpers run over the headers the UAS looks at, so that
// out-of-bounds reads show up under AddressSanitizer.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "sip_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace callgrid::fsemu;
  std::string_view input{reinterpret_cast<const char*>(data), size};
  auto result = parse_sip_message(input);
  auto* msg = std::get_if<sip_message>(&result);
  if (msg == nullptr)
    return 0;
  std::size_t sink = msg->body.size() + msg->cseq + msg->cseq_method.size();
  for (auto name : {"Via", "Record-Route", "Route", "Contact"})
    for (const auto& value : msg->header_values(name)) {
      sink += value.size();
      if (auto uri = parse_sip_uri(value))
        sink += uri->host.size() + uri->user.size() + uri->port;
    }
  for (auto name : {"From", "To", "Via"}) {
    auto field = msg->header(name);
    sink += uri_text(field).size();
    if (auto tag = header_param(field, "tag"))
      sink += tag->size();
    if (auto branch = header_param(field, "branch"))
      sink += branch->size();
  }
  if (auto uri = parse_sip_uri(msg->request_uri))
    sink += uri->host.size();
  return sink == 0 ? 0 : 0;
}
