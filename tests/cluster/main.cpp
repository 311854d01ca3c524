// The one translation unit of the cluster test binaries that provides CAF's test runner main().
// (no suite of its own)
#include <caf/test/unit_test_impl.hpp>
