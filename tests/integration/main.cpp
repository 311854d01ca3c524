// The one translation unit of callgrid_integration_test that provides CAF's test runner main().
// (no suite of its own)
#include <caf/test/unit_test_impl.hpp>
