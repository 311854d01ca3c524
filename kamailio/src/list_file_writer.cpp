#include "kamailio/list_file_writer.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace callgrid::kamailio {

namespace {

error io_error(const std::string& step, const std::filesystem::path& path, int error_number) {
  return make_error(errc::io_error, step + " " + path.string() + ": "
                                      + std::strerror(error_number) + " (errno "
                                      + std::to_string(error_number) + ")");
}

/// Closes a file descriptor on scope exit.
class fd_guard {
public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  [[nodiscard]] int get() const noexcept { return fd_; }
  /// Closes now; returns the errno of a failed close, 0 on success.
  int close_now() {
    auto rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

private:
  int fd_;
};

} // namespace

status write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  auto directory = path.parent_path();
  if (directory.empty())
    directory = ".";
  auto temp_text = (directory / ("." + path.filename().string() + ".XXXXXX")).string();
  int fd = ::mkstemp(temp_text.data());
  if (fd < 0)
    return io_error("creating a temp file next to", path, errno);
  fd_guard file{fd};
  std::filesystem::path temp{temp_text};
  auto fail = [&](const std::string& step, const std::filesystem::path& what, int error_number) {
    ::unlink(temp.c_str());
    return io_error(step, what, error_number);
  };
  if (::fchmod(file.get(), 0644) != 0)
    return fail("setting the mode of", temp, errno);
  std::size_t written = 0;
  while (written < content.size()) {
    auto n = ::write(file.get(), content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail("writing", temp, errno);
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(file.get()) != 0)
    return fail("fsync of", temp, errno);
  if (auto err = file.close_now(); err != 0)
    return fail("closing", temp, err);
  if (::rename(temp.c_str(), path.c_str()) != 0)
    return fail("renaming " + temp.string() + " to", path, errno);
  int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    return io_error("opening the directory of", path, errno);
  fd_guard dir{dir_fd};
  if (::fsync(dir.get()) != 0)
    return io_error("fsync of the directory of", path, errno);
  return std::nullopt;
}

} // namespace callgrid::kamailio
