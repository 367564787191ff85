// Internal: one open function per engine module, compiled when the engine is found (cmake/backends.cmake).
#pragma once

#include <memory>
#include <string>

#include "edgead/backend.hpp"

namespace edgead::detail {

std::unique_ptr<Backend> open_openvino(const std::string& path, const BackendOptions& options);
std::unique_ptr<Backend> open_onnxruntime(const std::string& path, const BackendOptions& options);
std::unique_ptr<Backend> open_tensorrt(const std::string& path, const BackendOptions& options);

/// "'path' expects uint8 [N, H, W, 3] ..." style shape text: [1, 256, 256, 3].
std::string shape_text(const std::vector<std::int64_t>& shape);
/// BackendError for an option that ``backend`` does not take, listing the ones it does.
void refuse_options(const std::string& backend, const BackendOptions& options, bool precision, bool threads,
                    bool device_id);

}  // namespace edgead::detail
