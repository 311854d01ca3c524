#pragma once

#include <cstdint>

namespace callgrid::cluster {

/// Error codes of the cluster component (category atom "cluster"). Plain enum without CAF so
/// that the pure membership core can return it; `cluster/error.hpp` turns it into a
/// `caf::error`. Every error built from it carries a context string saying what failed.
enum class errc : uint8_t {
  /// Not an error; required by CAF.
  none = 0,
  /// The request names a node the registry does not know (never joined, or removed).
  unknown_node,
  /// A request is malformed: an empty node id, a negative deadline, an empty `who`.
  invalid_request,
  /// A drain was requested for a node that is already drained.
  already_drained,
  /// A drain was cancelled on a node that is not draining.
  not_draining,
  /// `force_leave` of a node that is still alive (not down or left) without `force`.
  member_alive,
  /// This coordinator does not lead; the context names the leader's address when known.
  not_leader,
  /// The remote actor does not offer the registry's interface (a different build or port).
  interface_mismatch,
  /// The cluster link's TLS files are unusable: unreadable, not PEM, a key that does not belong
  /// to the certificate, or a certificate the CA did not sign (the context names the file).
  tls_invalid,
};

/// Returns the name of `code`, e.g. "unknown_node". Never fails.
[[nodiscard]] const char* to_string(errc code) noexcept;

} // namespace callgrid::cluster
