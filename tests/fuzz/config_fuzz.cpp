// libFuzzer target for callgridd's configuration loader: operators and tools feed it any file,
// so parse_daemon_config must turn every input into a configuration or diagnostics and never
// crash. Two properties are checked besides: a configuration is returned exactly when there is
// no error, and a returned configuration rendered as TOML loads back to the same configuration.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace callgrid::config;
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto result = parse_daemon_config(text, "fuzz.toml", {});
  for (const auto& problem : result.problems)
    if (render(problem).empty())
      __builtin_trap();
  if (result.config.has_value() == has_errors(result.problems))
    __builtin_trap();
  if (!result.config)
    return 0;
  auto again = parse_daemon_config(render_effective(*result.config, secrets::shown), "again.toml",
                                   {});
  if (!again.config || !(*again.config == *result.config))
    __builtin_trap();
  return 0;
}
