#pragma once

#include <string>
#include <string_view>
#include <vector>

/// Reads the byte-exact FreeSWITCH captures kept in tests/data/esl-captures: for each capture
/// NAME, `NAME.txt` (one entry per frame, as a Python bytes repr), `NAME.recv.bin` (what
/// FreeSWITCH sent) and `NAME.sent.bin` (what the client sent). Test code: failures throw
/// std::runtime_error naming the file and line.
namespace callgrid::test_support {

/// One frame of a transcript.
struct capture_entry {
  /// true: FreeSWITCH sent it ("<<<"); false: the client sent it (">>>").
  bool from_freeswitch = true;
  /// Seconds since the transcript began.
  double time = 0;
  /// The exact bytes.
  std::string bytes;
};

/// A whole capture.
struct capture {
  std::string name;
  std::vector<capture_entry> entries;
  /// NAME.recv.bin: the concatenation of every "<<<" entry.
  std::string received;
  /// NAME.sent.bin: the concatenation of every ">>>" entry.
  std::string sent;

  /// The "<<<" entries only, in order.
  [[nodiscard]] std::vector<std::string> received_frames() const;
};

/// The directory holding the captures: $CALLGRID_TEST_DATA/esl-captures, or the source tree's.
[[nodiscard]] std::string captures_dir();

/// The names of all captures (file names without extension), sorted.
[[nodiscard]] std::vector<std::string> capture_names();

/// Loads one capture by name, e.g. "04_call_plain_events".
[[nodiscard]] capture load_capture(const std::string& name);

/// Decodes a Python bytes literal such as b'Content-Type: x\n\n'.
[[nodiscard]] std::string decode_python_bytes(std::string_view literal);

/// Reads a whole file; throws if it cannot be read.
[[nodiscard]] std::string read_file(const std::string& path);

} // namespace callgrid::test_support
