#define CAF_SUITE kamailio.list_file_writer

#include <caf/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/stat.h>

#include "kamailio/list_file_writer.hpp"
#include "services/service_process.hpp"

using namespace callgrid;

namespace {

std::string read(const std::filesystem::path& path) {
  std::ifstream in{path};
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

/// A fresh directory `$TMPDIR/callgrid-kw-XXXXXX`, removed at the end of the test.
struct scratch_dir : callgrid::test_support::temp_dir {
  scratch_dir() : temp_dir("kw") {}
};

} // namespace

CAF_TEST(the file is replaced whole and no temp file stays behind) {
  scratch_dir dir;
  auto file = dir.path() / "dispatcher.list";
  CAF_CHECK(!kamailio::write_file_atomically(file, "1 sip:10.0.0.1\n"));
  CAF_CHECK_EQUAL(read(file), "1 sip:10.0.0.1\n");
  CAF_CHECK(!kamailio::write_file_atomically(file, "1 sip:10.0.0.2 4\n"));
  CAF_CHECK_EQUAL(read(file), "1 sip:10.0.0.2 4\n");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator{dir.path()})
    ++entries;
  CAF_CHECK_EQUAL(entries, 1u);
  struct stat info {};
  CAF_REQUIRE_EQUAL(::stat(file.c_str(), &info), 0);
  CAF_CHECK_EQUAL(info.st_mode & 0777, 0644u);
}

CAF_TEST(a missing directory is an io error naming the path) {
  scratch_dir dir;
  auto file = dir.path() / "missing" / "dispatcher.list";
  auto err = kamailio::write_file_atomically(file, "1 sip:10.0.0.1\n");
  CAF_REQUIRE(err.has_value());
  CAF_CHECK_EQUAL(err->code, kamailio::errc::io_error);
  CAF_MESSAGE(kamailio::render_error(*err));
  CAF_CHECK_NOT_EQUAL(err->message.find(file.string()), std::string::npos);
  CAF_CHECK_NOT_EQUAL(err->message.find("No such file or directory"), std::string::npos);
}

CAF_TEST(a failed rename leaves the old file untouched) {
  scratch_dir dir;
  auto file = dir.path() / "dispatcher.list";
  CAF_CHECK(!kamailio::write_file_atomically(file, "old\n"));
  // A directory where the file should go cannot be replaced by rename.
  auto blocked = dir.path() / "blocked";
  std::filesystem::create_directories(blocked / "child");
  auto err = kamailio::write_file_atomically(blocked, "new\n");
  CAF_REQUIRE(err.has_value());
  CAF_CHECK_NOT_EQUAL(err->message.find("renaming"), std::string::npos);
  CAF_CHECK_EQUAL(read(file), "old\n");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator{dir.path()})
    ++entries;
  CAF_CHECK_EQUAL(entries, 2u);
}
