#include "kamailio/rpc_client.hpp"

#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace callgrid::kamailio {

namespace {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

/// jsonrpcs reads at most this many bytes of one request datagram (JSONRPC_DGRAM_BUF_SIZE).
constexpr std::size_t max_request_size = 65'456;

/// Replies come as one datagram; dispatcher.list of a few hundred targets fits.
constexpr std::size_t max_reply_size = 1024 * 1024;

std::string errno_text(int error_number) {
  return std::string{std::strerror(error_number)} + " (errno " + std::to_string(error_number)
         + ")";
}

std::string json_text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

} // namespace

rpc_client::rpc_client(rpc_options options) : options_(std::move(options)) {}

rpc_client::~rpc_client() {
  if (fd_ >= 0)
    ::close(fd_);
}

rpc_client::rpc_client(rpc_client&& other) noexcept
  : options_(std::move(other.options_)), fd_(std::exchange(other.fd_, -1)),
    next_id_(other.next_id_) {}

rpc_client& rpc_client::operator=(rpc_client&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    options_ = std::move(other.options_);
    fd_ = std::exchange(other.fd_, -1);
    next_id_ = other.next_id_;
  }
  return *this;
}

status rpc_client::open() {
  if (fd_ >= 0)
    return std::nullopt;
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return make_error(errc::rpc_unavailable, "socket(AF_UNIX, SOCK_DGRAM): " + errno_text(errno));
  int size = static_cast<int>(max_reply_size);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  // Binding only the family makes the kernel pick a unique abstract address (autobind):
  // jsonrpcs answers to the sender's address, and nothing is left on disk.
  sockaddr_un self{};
  self.sun_family = AF_UNIX;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof(sa_family_t)) != 0) {
    auto error_number = errno;
    ::close(fd);
    return make_error(errc::rpc_unavailable,
                      "binding the JSON-RPC client socket: " + errno_text(error_number));
  }
  fd_ = fd;
  return std::nullopt;
}

result<nlohmann::json> rpc_client::call(std::string_view method, const nlohmann::json& params,
                                        milliseconds timeout) {
  auto budget = timeout.count() > 0 ? timeout : options_.timeout;
  auto where = std::string{method} + " on " + options_.socket_path.string();
  if (auto err = open())
    return *err;
  auto id = next_id_++;
  nlohmann::json request{{"jsonrpc", "2.0"},
                         {"method", method},
                         {"params", params.is_null() ? nlohmann::json::array() : params},
                         {"id", id}};
  auto text = request.dump();
  if (text.size() > max_request_size)
    return make_error(errc::rpc_unavailable, where + ": the request has "
                                               + std::to_string(text.size())
                                               + " bytes; jsonrpcs reads at most "
                                               + std::to_string(max_request_size));
  sockaddr_un server{};
  server.sun_family = AF_UNIX;
  auto path = options_.socket_path.string();
  if (path.empty() || path.size() >= sizeof server.sun_path)
    return make_error(errc::rpc_unavailable,
                      where + ": the socket path is empty or longer than "
                        + std::to_string(sizeof server.sun_path - 1) + " bytes");
  std::memcpy(server.sun_path, path.c_str(), path.size() + 1);
  auto deadline = steady::now() + budget;
  while (true) {
    auto sent = ::sendto(fd_, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&server),
                         sizeof server);
    if (sent < 0 && errno == EINTR)
      continue;
    if (sent < 0)
      return make_error(errc::rpc_unavailable, where + ": sending failed: " + errno_text(errno));
    break;
  }
  std::string buffer(max_reply_size, '\0');
  while (true) {
    // Rounded up: truncating gave up to 1 ms before the budget was spent (poll(0) at 0.9 ms
    // left), which made the timeout test flaky.
    auto left = std::chrono::ceil<milliseconds>(deadline - steady::now());
    if (left.count() <= 0)
      return make_error(errc::rpc_timeout,
                        where + ": no reply within " + std::to_string(budget.count()) + " ms");
    pollfd entry{fd_, POLLIN, 0};
    auto ready = ::poll(&entry, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready < 0)
      return make_error(errc::rpc_unavailable, where + ": poll failed: " + errno_text(errno));
    if (ready == 0)
      continue;
    auto got = ::recv(fd_, buffer.data(), buffer.size(), MSG_TRUNC);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return make_error(errc::rpc_unavailable, where + ": receiving failed: " + errno_text(errno));
    if (static_cast<std::size_t>(got) > buffer.size())
      return make_error(errc::rpc_bad_reply, where + ": the reply has " + std::to_string(got)
                                               + " bytes, more than "
                                               + std::to_string(buffer.size()));
    auto reply = nlohmann::json::parse(buffer.begin(), buffer.begin() + got, nullptr, false);
    if (reply.is_discarded() || !reply.is_object())
      return make_error(errc::rpc_bad_reply, where + ": the reply is not a JSON object");
    // A late reply to an earlier call that timed out: not ours, keep waiting.
    if (!reply.contains("id") || reply["id"] != id)
      continue;
    if (auto found = reply.find("error"); found != reply.end()) {
      int code = 0;
      std::string message = json_text(*found);
      if (found->is_object()) {
        if (auto c = found->find("code"); c != found->end() && c->is_number_integer())
          code = c->get<int>();
        if (auto m = found->find("message"); m != found->end())
          message = json_text(*m);
      }
      return make_error(errc::rpc_failed, where + ": " + message, code);
    }
    if (auto found = reply.find("result"); found != reply.end())
      return std::move(*found);
    return make_error(errc::rpc_bad_reply, where + ": the reply has neither result nor error");
  }
}

status rpc_client::set_state(target_state state, int set, std::string_view uri) {
  return set_state(rpc_state_letters(state), set, uri);
}

status rpc_client::set_state(std::string_view letters, int set, std::string_view uri) {
  auto reply = call("dispatcher.set_state", nlohmann::json::array({letters, set, uri}));
  if (!reply)
    return reply.error();
  return std::nullopt;
}

status rpc_client::reload() {
  auto reply = call("dispatcher.reload");
  if (!reply)
    return reply.error();
  return std::nullopt;
}

status rpc_client::reload_trusted_peers() {
  auto reply = call("permissions.addressReload");
  if (!reply)
    return reply.error();
  return std::nullopt;
}

result<std::vector<listed_target>> rpc_client::list() {
  auto reply = call("dispatcher.list");
  if (!reply) {
    // Kamailio answers an empty list with an error rather than an empty result.
    if (reply.error().code == errc::rpc_failed
        && reply.error().message.find("No Destination Sets") != std::string::npos)
      return std::vector<listed_target>{};
    return reply.error();
  }
  return parse_dispatcher_listing(*reply);
}

bool is_ongoing_reload(const error& err) noexcept {
  return err.code == errc::rpc_failed && err.message.find("Ongoing reload") != std::string::npos;
}

result<std::vector<listed_target>> parse_dispatcher_listing(const nlohmann::json& doc) {
  auto bad = [](const std::string& what) {
    return make_error(errc::rpc_bad_reply, "dispatcher.list: " + what);
  };
  std::vector<listed_target> out;
  if (!doc.is_object())
    return bad("the result is not an object");
  auto records = doc.find("RECORDS");
  if (records == doc.end())
    return out;
  if (!records->is_array())
    return bad("RECORDS is not an array");
  for (const auto& record : *records) {
    auto set = record.find("SET");
    if (!record.is_object() || set == record.end() || !set->is_object())
      return bad("a record without SET");
    auto id = set->find("ID");
    if (id == set->end() || !id->is_number_integer())
      return bad("a SET without a numeric ID");
    auto targets = set->find("TARGETS");
    if (targets == set->end())
      continue;
    if (!targets->is_array())
      return bad("TARGETS of set " + id->dump() + " is not an array");
    for (const auto& entry : *targets) {
      auto dest = entry.find("DEST");
      if (!entry.is_object() || dest == entry.end() || !dest->is_object())
        return bad("a target of set " + id->dump() + " without DEST");
      auto uri = dest->find("URI");
      auto flags = dest->find("FLAGS");
      if (uri == dest->end() || !uri->is_string() || flags == dest->end() || !flags->is_string())
        return bad("a DEST of set " + id->dump() + " without URI or FLAGS");
      listed_target listed;
      listed.target.set = id->get<int>();
      listed.target.uri = uri->get<std::string>();
      listed.flags = flags->get<std::string>();
      char first = listed.flags.empty() ? 'A' : listed.flags[0];
      bool probing = listed.flags.size() > 1 && listed.flags[1] == 'P';
      listed.target.state = first == 'D'   ? target_state::disabled
                            : first == 'I' ? target_state::inactive
                            : probing      ? target_state::probing
                                           : target_state::active;
      if (auto p = dest->find("PRIORITY"); p != dest->end() && p->is_number_integer())
        listed.target.priority = p->get<int>();
      if (auto attrs = dest->find("ATTRS"); attrs != dest->end() && attrs->is_object()) {
        if (auto w = attrs->find("WEIGHT"); w != attrs->end() && w->is_number_integer())
          listed.target.weight = w->get<int>();
        if (auto d = attrs->find("DUID"); d != attrs->end() && d->is_string())
          listed.target.node_id = d->get<std::string>();
      }
      out.push_back(std::move(listed));
    }
  }
  return out;
}

std::vector<std::string> listing_differences(const std::vector<dispatcher_target>& written,
                                             const std::vector<listed_target>& listed) {
  std::vector<std::string> out;
  std::map<std::pair<int, std::string>, const dispatcher_target*> in_kamailio;
  for (const auto& l : listed)
    in_kamailio.emplace(std::pair{l.target.set, l.target.uri}, &l.target);
  std::map<std::pair<int, std::string>, bool> in_file;
  for (const auto& w : written) {
    auto key = std::pair{w.set, w.uri};
    in_file.emplace(key, true);
    auto found = in_kamailio.find(key);
    auto name = "set " + std::to_string(w.set) + " " + w.uri;
    if (found == in_kamailio.end()) {
      out.push_back(name + " is in the list file but not in Kamailio");
      continue;
    }
    const auto& k = *found->second;
    bool want_disabled = w.state == target_state::disabled;
    bool is_disabled = k.state == target_state::disabled;
    if (want_disabled != is_disabled)
      out.push_back(name + (want_disabled ? " should be disabled but is "
                                          : " should not be disabled but is ")
                    + to_string(k.state));
    if (w.weight != k.weight)
      out.push_back(name + " has weight " + std::to_string(k.weight) + " instead of "
                    + std::to_string(w.weight));
    if (w.priority != k.priority)
      out.push_back(name + " has priority " + std::to_string(k.priority) + " instead of "
                    + std::to_string(w.priority));
    if (w.node_id != k.node_id)
      out.push_back(name + " has node id '" + k.node_id + "' instead of '" + w.node_id + "'");
  }
  for (const auto& l : listed)
    if (!in_file.contains({l.target.set, l.target.uri}))
      out.push_back("set " + std::to_string(l.target.set) + " " + l.target.uri
                    + " is in Kamailio but not in the list file");
  return out;
}

} // namespace callgrid::kamailio
