#pragma once

#include <filesystem>
#include <string_view>

#include "kamailio/errc.hpp"

/// Atomic replacement of the files Kamailio reads (dispatcher list, address list).
///
/// ```
/// if (auto err = kamailio::write_file_atomically("/var/lib/callgrid/dispatcher.list", text))
///   log(kamailio::render_error(*err));
/// ```
namespace callgrid::kamailio {

/// Replaces the file at `path` with `content` so that a reader sees the old or the new file,
/// never a mix, and the new one survives a crash once this returns: writes a temp file in the
/// same directory, fsyncs it, renames it over `path` and fsyncs the directory. The file gets
/// mode 0644. Runs in the caller's thread (blocking file I/O). On failure returns
/// `errc::io_error` naming the step, the path and the errno text, and removes the temp file;
/// the old file is then untouched.
[[nodiscard]] status write_file_atomically(const std::filesystem::path& path,
                                           std::string_view content);

} // namespace callgrid::kamailio
