// What every engine provides, so the Detector and the bench never see engine APIs (the Python runtime's
// backends/base.py): open a model file, run a uint8 BGR NHWC batch, get the graph's named float32 outputs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "edgead/metadata.hpp"

namespace edgead {

/// One float32 output of the graph, row-major.
struct Tensor {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};
using Outputs = std::map<std::string, Tensor>;

/// Options of every backend; each backend refuses the ones it does not take (never silently ignored).
struct BackendOptions {
  std::string precision;  ///< OpenVINO: f32 (default), bf16, f16
  int threads = 0;        ///< intra-op threads (OpenVINO, ONNX Runtime); 0: the engine's default
  int device_id = 0;      ///< CUDA device (TensorRT)
};

class Backend {
 public:
  virtual ~Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }
  const ModelMetadata& metadata() const { return metadata_; }
  const std::string& input_name() const { return input_name_; }
  /// Input dimensions; -1 where dynamic (the batch).
  const std::vector<std::int64_t>& input_shape() const { return input_shape_; }
  const std::vector<std::string>& output_names() const { return output_names_; }

  /// Run one batch: ``data`` is uint8 BGR NHWC of ``shape`` = {N, height, width, 3}. Not re-entrant.
  Outputs run(const std::uint8_t* data, const std::vector<std::int64_t>& shape);

  /// The engine settings a timing depends on (version, precision, threads), as the Python bench records them.
  virtual std::vector<std::pair<std::string, std::string>> describe() const { return {{"backend", name_}}; }

 protected:
  Backend(std::string name, std::string path, ModelMetadata metadata)
      : name_(std::move(name)), path_(std::move(path)), metadata_(std::move(metadata)) {}
  virtual void check_batch(const std::vector<std::int64_t>& shape) const;
  virtual Outputs run_checked(const std::uint8_t* data, const std::vector<std::int64_t>& shape) = 0;

  std::string name_;
  std::string path_;
  ModelMetadata metadata_;
  std::string input_name_;
  std::vector<std::int64_t> input_shape_;
  std::vector<std::string> output_names_;
};

/// The backends this build has, in the order "auto" tries them for a suffix.
std::vector<std::string> available_backends();

/// Open ``path`` with ``backend``: openvino, onnxruntime or tensorrt; "auto" picks from the suffix as the Python
/// runtime does (.onnx: onnxruntime, or openvino in a build without it; .xml: openvino; .engine/.plan: tensorrt).
/// BackendError when this build lacks the backend, naming the CMake option that adds it.
std::unique_ptr<Backend> open_backend(const std::string& path, const std::string& backend = "auto",
                                      const BackendOptions& options = {});

}  // namespace edgead
