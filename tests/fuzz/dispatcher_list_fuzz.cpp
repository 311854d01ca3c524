// libFuzzer target for the dispatcher list parser (kamailio/src/dispatcher_list.cpp): one input
// is one list file. Whatever parses must render back into a file that parses without problems
// into the same targets (what callgrid writes, Kamailio and callgrid read alike); validation
// runs over the parsed targets too, so out-of-bounds reads show up under AddressSanitizer.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kamailio/dispatcher_list.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace callgrid::kamailio;
  std::string_view input{reinterpret_cast<const char*>(data), size};
  auto parsed = parse_dispatcher_list(input);
  auto problems = validate_dispatcher_list(parsed.targets, {.required_sets = {1}});
  [[maybe_unused]] auto text =
    render_problems(problems, "fuzz") + render_problems(parsed.problems, "fuzz");
  auto rendered = render_dispatcher_list(parsed.targets);
  auto again = parse_dispatcher_list(rendered);
  if (!again.problems.empty() || again.targets != parsed.targets)
    __builtin_trap();
  return 0;
}
