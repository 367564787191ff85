// A TensorRT engine and its .engine.json sidecar (runtime/edgead_runtime/engine_file.py, same rules and
// messages): read the pair, check the SHA-256, refuse an engine built for another TensorRT version or GPU
// architecture with the exact `edgead export` command that rebuilds it. Nothing here needs TensorRT or CUDA.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "edgead/metadata.hpp"

namespace edgead {

struct EngineInfo {
  std::string tensorrt_version;
  std::string device;
  std::string compute_capability;  ///< "8.7"
  std::string precision;           ///< fp32 | fp16 | int8
  std::string precision_mode = "graph";
  int batch_min = 1, batch_opt = 1, batch_max = 1;  ///< the optimization profile
  std::string source_onnx = "model.onnx";           ///< the ONNX graph it was built from (beside the engine)
  std::vector<std::string> build_args;              ///< `edgead export` flags that rebuild it
  std::optional<int> dla_core;
  std::int64_t engine_bytes = 0;
  std::string engine_sha256;
};

struct EngineFile {
  std::vector<char> data;  ///< the serialized plan
  ModelMetadata metadata;
  EngineInfo info;
};

/// "model.engine" -> "model.engine.json".
std::string sidecar_path(const std::string& engine);
/// "8.5.2.2" -> {8, 5, 2, 2}; "10.0.0b6" keeps its leading digits; std::invalid_argument without any.
std::vector<int> parse_version(const std::string& text);
/// getInferLibVersion() as "major.minor.patch": 8.x/9.x encode major*1000 + minor*100 + patch, 10 and later
/// (major*100 + minor)*100 + patch (NvInferRuntimeBase.h of each release).
std::string trt_version_string(int version);
/// "binding" for TensorRT 8.x (execute_async_v2 / enqueueV2), "tensor" for 10 and later (enqueueV3).
std::string io_api(const std::string& tensorrt_version);
/// The engine's "tensorrt" section; ModelFileError naming ``source`` when malformed.
EngineInfo engine_info_from_json(const std::string& text, const std::string& source);
/// The engine bytes, the model metadata and the engine info; ModelFileError naming the fix otherwise.
EngineFile read_engine(const std::string& path);
/// The exact `edgead export` command that rebuilds ``engine`` (shell-quoted like Python's shlex.join).
std::string rebuild_command(const std::string& engine, const EngineInfo& info);
std::string rebuild_hint(const std::string& engine, const EngineInfo& info);
/// Why this engine cannot load here (other TensorRT major.minor.patch or compute capability); empty if it can.
std::string compatibility_problem(const std::string& engine, const EngineInfo& info,
                                  const std::string& tensorrt_version, const std::string& device,
                                  const std::string& compute_capability);
/// Same architecture, other GPU model: it loads, but its kernels were timed on another chip; empty if same.
std::string device_warning(const std::string& engine, const EngineInfo& info, const std::string& device);
/// The message for a deserialization that returned null, with what TensorRT logged.
std::string deserialize_failure(const std::string& engine, const EngineInfo& info,
                                const std::string& tensorrt_version, const std::string& device,
                                const std::vector<std::string>& log);
/// Lower-case hex SHA-256 of ``data``.
std::string sha256_hex(const void* data, std::size_t size);

}  // namespace edgead
