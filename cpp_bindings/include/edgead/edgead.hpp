// The edgead C++ runtime: #include <edgead/edgead.hpp>, link edgead::edgead.
#pragma once

#include "edgead/backend.hpp"
#include "edgead/detector.hpp"
#include "edgead/engine_file.hpp"
#include "edgead/errors.hpp"
#include "edgead/metadata.hpp"
#include "edgead/preprocess.hpp"

namespace edgead {
/// The library version (the Python packages' version it matches).
const char* version();
}  // namespace edgead
