# Test registration helpers.
#
# callgrid_add_caf_tests(<target> LABELS <label>... SOURCES <file>...)
#   Builds one CAF test binary from SOURCES and registers one ctest entry per CAF test suite.
#   Suite names are read from the `#define CAF_SUITE <name>` line of each source file, so a new
#   suite file needs no further CMake edits. Each entry runs `<target> -s '^<name>$'`.
#   The working directory is the build tree; the environment variable CALLGRID_TEST_DATA points
#   at tests/data.

function(callgrid_add_caf_tests target)
  cmake_parse_arguments(ARG "" "" "LABELS;SOURCES;DEPS" ${ARGN})
  add_executable(${target} ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE callgrid_warnings CAF::core ${ARG_DEPS})
  target_compile_definitions(${target} PRIVATE
    CALLGRID_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data"
    CALLGRID_BINARY_DIR="${PROJECT_BINARY_DIR}")
  foreach(source IN LISTS ARG_SOURCES)
    file(STRINGS "${CMAKE_CURRENT_SOURCE_DIR}/${source}" suite_lines
         REGEX "^#define CAF_SUITE ")
    foreach(line IN LISTS suite_lines)
      string(REGEX REPLACE "^#define CAF_SUITE ([A-Za-z0-9_.-]+).*" "\\1" suite "${line}")
      string(REPLACE "." "\\." suite_regex "${suite}")
      add_test(NAME ${suite}
               COMMAND ${target} -n -r 300 -s "^${suite_regex}$")
      set_tests_properties(${suite} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 600
        ENVIRONMENT "CALLGRID_TEST_DATA=${PROJECT_SOURCE_DIR}/tests/data")
    endforeach()
  endforeach()
endfunction()
