#pragma once

#include "esl/ascii.hpp"

namespace callgrid::fsemu {

/// Header names and filter values compare as FreeSWITCH compares them (strcasecmp, ASCII).
using esl::iequals;

} // namespace callgrid::fsemu
