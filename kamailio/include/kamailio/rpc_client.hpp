#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kamailio/dispatcher_list.hpp"
#include "kamailio/errc.hpp"

/// Kamailio's JSON-RPC over the jsonrpcs module's datagram (unix) socket
/// (`modparam("jsonrpcs", "dgram_socket", PATH)`, transport 4).
///
/// ```
/// kamailio::rpc_client rpc{{.socket_path = "/run/kamailio/kamailio_rpc.sock"}};
/// if (auto err = rpc.set_state(kamailio::target_state::disabled, 1, "sip:10.0.0.12:5060"))
///   log(kamailio::render_error(*err));
/// auto listed = rpc.list();   // the targets Kamailio routes to now, with their flags
/// ```
namespace callgrid::kamailio {

/// How to reach Kamailio. Plain data.
struct rpc_options {
  /// The jsonrpcs `dgram_socket` path.
  std::filesystem::path socket_path;
  /// Time budget of one call: sending plus waiting for the reply.
  std::chrono::milliseconds timeout{2000};
};

/// One entry of `dispatcher.list`: the target as Kamailio holds it now, and its two-letter
/// FLAGS (first A active, I inactive, T trying, D disabled; second P probing or X not). The
/// target's state is disabled for D, inactive for I, probing for AP/TP, else active. Plain data.
struct listed_target {
  dispatcher_target target;
  std::string flags;
};

/// A JSON-RPC client for one Kamailio. Owns one unix datagram socket with an abstract address
/// the kernel picks (nothing to clean up on disk), created at the first call. Blocking: each
/// call runs in the caller's thread for at most its time budget. Not thread-safe; one owner.
/// Replies to earlier calls that timed out are recognised by their id and skipped. Every failure
/// is a value: `rpc_unavailable` (no socket, Kamailio not listening), `rpc_timeout`,
/// `rpc_failed` (Kamailio's JSON-RPC error with its code and message), `rpc_bad_reply`.
class rpc_client {
public:
  /// A client for the socket in `options`; does no I/O yet.
  explicit rpc_client(rpc_options options);
  ~rpc_client();
  rpc_client(const rpc_client&) = delete;
  rpc_client& operator=(const rpc_client&) = delete;
  rpc_client(rpc_client&& other) noexcept;
  rpc_client& operator=(rpc_client&& other) noexcept;

  /// Calls `method` with positional `params` (a JSON array) and returns the reply's `result`.
  /// `timeout` overrides the options' budget when positive.
  [[nodiscard]] result<nlohmann::json> call(std::string_view method,
                                            const nlohmann::json& params = nlohmann::json::array(),
                                            std::chrono::milliseconds timeout = {});

  /// `dispatcher.set_state LETTERS SET URI`: immediate, in Kamailio's memory only (a reload
  /// rereads the file's flags). Fails with `rpc_failed` when the URI is not in the set.
  [[nodiscard]] status set_state(target_state state, int set, std::string_view uri);

  /// `dispatcher.set_state` with the letters given as they are (a, i, d, t, ap, ip, tp).
  [[nodiscard]] status set_state(std::string_view letters, int set, std::string_view uri);

  /// `dispatcher.reload`: Kamailio rereads the list file. Kamailio allows one reload per
  /// `reload_delta` (5 s); a refused one is `rpc_failed` with code 500 and "Ongoing reload"
  /// (see `is_ongoing_reload`).
  [[nodiscard]] status reload();

  /// `permissions.addressReload`: Kamailio rereads the permissions module's address file (the
  /// trusted peers) into memory, without a restart.
  [[nodiscard]] status reload_trusted_peers();

  /// `dispatcher.list`, parsed: the targets of every set in Kamailio's order (reverse file
  /// order within a set). No sets at all is an empty vector, not an error.
  [[nodiscard]] result<std::vector<listed_target>> list();

  /// The socket path this client talks to.
  [[nodiscard]] const std::filesystem::path& socket_path() const noexcept {
    return options_.socket_path;
  }

private:
  [[nodiscard]] status open();

  rpc_options options_;
  int fd_ = -1;
  std::uint64_t next_id_ = 1;
};

/// Whether `err` is Kamailio refusing a reload because the last one is younger than its
/// `reload_delta` ("500 - Ongoing reload"): retry later, the old list stays in effect.
[[nodiscard]] bool is_ongoing_reload(const error& err) noexcept;

/// Parses the `result` of `dispatcher.list` (`{"NRSETS":N,"RECORDS":[{"SET":{"ID":..,
/// "TARGETS":[{"DEST":{"URI":..,"FLAGS":..,"PRIORITY":..,"ATTRS":{"DUID":..,"WEIGHT":..}}}]}}]}`).
/// Pure; a document of another shape is `rpc_bad_reply`.
[[nodiscard]] result<std::vector<listed_target>> parse_dispatcher_listing(const nlohmann::json& doc);

/// What differs between the targets written to the list file and those Kamailio lists after a
/// reload, one sentence each (empty when they match): a target missing or extra, or a different
/// admin state (disabled or not), weight, priority or node id. Active, inactive and probing
/// count as the same here, because Kamailio's own probing moves targets between them. Pure.
[[nodiscard]] std::vector<std::string>
listing_differences(const std::vector<dispatcher_target>& written,
                    const std::vector<listed_target>& listed);

} // namespace callgrid::kamailio
