#include "coordinator_process.hpp"

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace callgrid::test_support {

namespace {

const std::string binary_dir = CALLGRID_BINARY_DIR;

} // namespace

command_result run_command(const std::string& line) {
  command_result result;
  FILE* pipe = popen((line + " 2>&1").c_str(), "r");
  if (pipe == nullptr)
    return result;
  char buffer[4096];
  while (auto n = fread(buffer, 1, sizeof buffer, pipe))
    result.output.append(buffer, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

coordinator_process::coordinator_process(const platform& p,
                                         const std::filesystem::path& list_file,
                                         const std::filesystem::path& rpc_socket,
                                         const std::string& extra_cluster_keys)
  : dir{p.dir() / "coordinator"} {
  std::filesystem::create_directories(dir);
  std::ofstream{dir / "admin.token"} << "cluster-test-token-0123456789abcdef\n";
  std::ostringstream cfg;
  cfg << "role = \"coordinator\"\n[node]\nname = \"coordinator-it\"\n"
      << "[database]\nconninfo = \"" << p.postgres.conninfo() << "\"\n"
      << "[http]\nport = " << http_port << "\n"
      << "[cluster]\nport = " << cluster_port << "\nadmin_token_file = \""
      << (dir / "admin.token").string() << "\"\n"
      << extra_cluster_keys << "[edge]\ndispatcher_list = \"" << list_file.string()
      << "\"\nrpc_socket = \"" << rpc_socket.string() << "\"\n"
      << "[log]\nformat = \"text\"\n";
  std::ofstream{dir / "callgridd.toml"} << cfg.str();
  process_spec spec;
  spec.argv = {binary_dir + "/apps/callgridd/callgridd", "--config",
               (dir / "callgridd.toml").string()};
  spec.working_dir = dir;
  spec.output_path = dir / "callgridd.log";
  process_ = child_process{spec};
}

command_result coordinator_process::ctl(const std::string& args) const {
  return run_command(binary_dir + "/apps/callgridctl/callgridctl node " + args
                     + " --api 127.0.0.1:" + std::to_string(http_port) + " --token-file "
                     + (dir / "admin.token").string());
}

nlohmann::json coordinator_process::members() const {
  auto listed = ctl("list -o json");
  auto doc = nlohmann::json::parse(listed.output, nullptr, false);
  if (doc.is_array())
    return doc;
  // Seen once in ~10 runs right after a drain: say what the command answered instead.
  std::cerr << "coordinator_process: 'callgridctl list -o json' exited " << listed.exit_code
            << " with no JSON array:\n"
            << listed.output << std::endl;
  return nlohmann::json::array();
}

nlohmann::json coordinator_process::member(const std::string& node) const {
  for (auto& m : members())
    if (m.value("node", "") == node)
      return m;
  // An empty object, not null: a caller's value("state", "") then fails its check instead of
  // throwing.
  return nlohmann::json::object();
}

std::string coordinator_process::node_cluster_section(const std::string& drain_deadline) const {
  return "[cluster]\ncoordinators = [\"127.0.0.1:" + std::to_string(cluster_port)
         + "\"]\ndrain_deadline = \"" + drain_deadline + "\"\n";
}

std::string coordinator_process::log() const {
  return read_text(dir / "callgridd.log");
}

std::string coordinator_process::metrics() const {
  return run_command("curl -s http://127.0.0.1:" + std::to_string(http_port) + "/metrics").output;
}

double metric_value(const std::string& page, const std::string& series) {
  std::istringstream lines{page};
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0
        && line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

} // namespace callgrid::test_support
