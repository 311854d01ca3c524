#include "edge_command.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include "config/daemon_config.hpp"
#include "config/diagnostic.hpp"
#include "config/loader.hpp"
#include "kamailio/dispatcher_list.hpp"
#include "kamailio/edge_config.hpp"
#include "kamailio/errc.hpp"
#include "kamailio/list_file_writer.hpp"
#include "kamailio/rpc_client.hpp"

namespace callgrid::ctl {

namespace {

struct edge_options {
  std::string config_file;
  std::string output;
  std::string address_list;
  std::string kamailio = "/usr/sbin/kamailio";
  bool check = false;
  bool reload = false;
};

/// Whole seconds, rounded up, at least 1: Kamailio takes these settings in seconds.
int seconds_of(std::chrono::milliseconds value) {
  auto s = (value.count() + 999) / 1000;
  return static_cast<int>(std::max<std::int64_t>(s, 1));
}

/// The renderer's settings from callgridd's `[edge]` section.
kamailio::edge_settings to_edge_settings(const config::edge_settings& edge) {
  kamailio::edge_settings out;
  out.sip_host = edge.sip_listen;
  out.sip_port = edge.sip_port;
  out.dispatcher_list = edge.dispatcher_list;
  out.address_list = edge.address_list;
  out.rpc_socket = edge.rpc_socket;
  out.runtime_dir = edge.runtime_dir;
  out.set_id = edge.dispatcher_set;
  out.algorithm = std::string{config::to_string(edge.algorithm)};
  out.probe_interval_s = seconds_of(edge.probe_interval);
  out.probing_threshold = edge.probe_failures;
  out.inactive_threshold = edge.probe_successes;
  out.failover_timeout_ms = static_cast<int>(edge.failover_timeout.count());
  out.trusted_peers = edge.trusted_peers;
  out.pike_requests = edge.pike_requests;
  out.pike_window_s = seconds_of(edge.pike_interval);
  out.ban_time_s = seconds_of(edge.ban_time);
  out.max_message_bytes = edge.max_message_size;
  return out;
}

/// Runs `kamailio -c -f FILE`; returns its exit status (-1 when it could not run) and its
/// output in `log`.
int run_kamailio_check(const std::string& binary, const std::filesystem::path& cfg,
                       std::string& log) {
  auto log_path = cfg.parent_path() / "check.log";
  auto pid = ::fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    auto out = std::fopen(log_path.c_str(), "w");
    if (out != nullptr) {
      ::dup2(::fileno(out), STDOUT_FILENO);
      ::dup2(::fileno(out), STDERR_FILENO);
    }
    ::execl(binary.c_str(), binary.c_str(), "-c", "-f", cfg.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::ifstream in{log_path};
  std::stringstream text;
  text << in.rdbuf();
  log = text.str();
  if (!WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status) == 127 ? -1 : WEXITSTATUS(status);
}

/// `--check`: kamailio -c on the rendered text in a temp dir. Returns an exit code.
int check_with_kamailio(const edge_options& options, const std::string& cfg) {
  std::string pattern =
    (std::filesystem::temp_directory_path() / "callgridctl-edge-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::cerr << "callgridctl edge render: cannot create a temp dir for --check\n";
    return exit_failure;
  }
  std::filesystem::path dir{pattern};
  auto file = dir / "kamailio.cfg";
  int code = exit_ok;
  if (auto err = kamailio::write_file_atomically(file, cfg)) {
    std::cerr << "callgridctl edge render: " << kamailio::render_error(*err) << '\n';
    code = exit_failure;
  } else {
    std::string log;
    auto status = run_kamailio_check(options.kamailio, file, log);
    if (status < 0) {
      std::cerr << "callgridctl edge render: could not run " << options.kamailio
                << " -c (is Kamailio installed? use --kamailio PATH)\n";
      code = exit_failure;
    } else if (status != 0) {
      std::cerr << log << "callgridctl edge render: Kamailio rejects the rendered config (exit "
                << status << ")\n";
      code = exit_invalid_document;
    } else {
      std::cerr << "kamailio -c: the rendered config is accepted\n";
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return code;
}

/// `--reload`: the running Kamailio rereads the address file just written.
int reload_trusted_peers(const kamailio::edge_settings& settings) {
  kamailio::rpc_client rpc{{.socket_path = settings.rpc_socket}};
  if (auto err = rpc.reload_trusted_peers()) {
    std::cerr << "callgridctl edge render: the files are written, but Kamailio did not reload the "
                 "trusted peers: "
              << kamailio::render_error(*err)
              << "\n  (is Kamailio running with the rendered config? it listens for JSON-RPC on "
                 "edge.rpc_socket = "
              << settings.rpc_socket << ")\n";
    return exit_failure;
  }
  std::cerr << "Kamailio reloaded the trusted peers (permissions.addressReload); other changes "
               "to kamailio.cfg take effect at its next restart\n";
  return exit_ok;
}

int run_render(const edge_options& options) {
  auto loaded = config::load_daemon_config(options.config_file, config::process_environment());
  for (const auto& problem : loaded.problems)
    std::cerr << config::render(problem) << '\n';
  if (!loaded.config) {
    std::cerr << "callgridctl edge render: " << options.config_file << " has errors\n";
    return exit_invalid_document;
  }
  auto settings = to_edge_settings(loaded.config->edge);
  if (!options.address_list.empty())
    settings.address_list = options.address_list;
  auto cfg = kamailio::render_edge_config(settings);
  auto addresses = kamailio::render_address_list(settings);
  if (!cfg || !addresses) {
    std::cerr << "callgridctl edge render: "
              << kamailio::render_error(!cfg ? cfg.error() : addresses.error()) << '\n';
    return exit_invalid_document;
  }
  if (options.check)
    if (auto code = check_with_kamailio(options, *cfg); code != exit_ok)
      return code;
  if (options.output.empty()) {
    std::cout << *cfg;
    return exit_ok;
  }
  if (auto err = kamailio::write_file_atomically(options.output, *cfg)) {
    std::cerr << "callgridctl edge render: " << kamailio::render_error(*err) << '\n';
    return exit_failure;
  }
  if (auto err = kamailio::write_file_atomically(settings.address_list, *addresses)) {
    std::cerr << "callgridctl edge render: " << kamailio::render_error(*err) << '\n';
    return exit_failure;
  }
  std::cerr << "wrote " << options.output << " and " << settings.address_list << " ("
            << settings.trusted_peers.size() << " trusted peer(s))\n";
  // Kamailio refuses to start without its list file; an empty one (no node yet) is fine and
  // the coordinator fills it. An existing list is the coordinator's and is left alone.
  std::error_code ec;
  if (!std::filesystem::exists(settings.dispatcher_list, ec)) {
    if (auto err = kamailio::write_file_atomically(settings.dispatcher_list,
                                                   kamailio::render_dispatcher_list({}))) {
      std::cerr << "callgridctl edge render: " << kamailio::render_error(*err) << '\n';
      return exit_failure;
    }
    std::cerr << "wrote an empty " << settings.dispatcher_list
              << " (Kamailio needs the file; the coordinator fills it)\n";
  }
  if (options.reload)
    return reload_trusted_peers(settings);
  return exit_ok;
}

} // namespace

command_runner install_edge_command(CLI::App& command) {
  auto options = std::make_shared<edge_options>();
  command.require_subcommand(1);
  auto* render = command.add_subcommand(
    "render",
    "Render kamailio.cfg for the SIP edge from the [edge] section of callgridd's configuration "
    "(dispatcher with OPTIONS probing and failover on 500 or timeout only, trunk allow-list, "
    "flood ban, scanner drop, size limit, JSON-RPC control socket). Without -o the config goes "
    "to stdout; with -o it is written atomically, and so is the trusted-peer address file "
    "(edge.address_list); --reload then makes the running Kamailio reread that file. Exit 0 "
    "done, 1 a file could not be written, kamailio not run or the reload failed, 4 the "
    "configuration or the rendered file has errors");
  render->add_option("--config", options->config_file, "callgridd's TOML configuration file")
    ->required();
  render->add_option("-o,--output", options->output,
                     "Write kamailio.cfg here (and the address file) instead of stdout");
  render->add_option("--address-list", options->address_list,
                     "Write the trusted-peer address file here instead of edge.address_list "
                     "(the rendered config then points at this path)");
  render->add_flag("--check", options->check,
                   "Check the rendered config with `kamailio -c` before printing or writing it");
  render->add_option("--kamailio", options->kamailio,
                     "The kamailio binary used by --check (default /usr/sbin/kamailio)");
  auto* output = render->get_option("--output");
  render
    ->add_flag("--reload", options->reload,
               "After writing, make the running Kamailio reread the trusted-peer address file "
               "(permissions.addressReload over edge.rpc_socket), so a changed "
               "edge.trusted_peers takes effect without a restart. Needs -o")
    ->needs(output);
  return [options, render]() -> int {
    if (render->parsed())
      return run_render(*options);
    return exit_usage;
  };
}

} // namespace callgrid::ctl
