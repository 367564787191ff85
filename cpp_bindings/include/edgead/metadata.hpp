// The metadata every exported model carries: the JSON under ONNX metadata_props["edgead"], an OpenVINO IR's
// rt_info["edgead"], or a TensorRT engine's .engine.json sidecar. Schema: runtime/edgead_runtime/metadata.py.
#pragma once

#include <string>
#include <vector>

namespace edgead {

inline constexpr const char* kMetadataKey = "edgead";
inline constexpr int kFormatVersion = 1;
inline const std::vector<std::string> kOutputNames = {"score", "anomaly_map", "raw_score", "raw_anomaly_map"};

struct ModelMetadata {
  std::string model;
  std::string backbone = "unknown";
  int height = 0;
  int width = 0;
  double threshold = 0.5;          ///< on the normalized score; the calibrated threshold maps to 0.5
  std::string part = "full";       ///< "full", or "backbone" for a profiling sub-graph
  std::string precision = "fp32";  ///< backbone precision of the graph (fp32, fp16, int8)
  std::string edgead_version = "unknown";
  std::string normalization_json = "{}";  ///< kept verbatim: it is folded into the graph
  std::string extra_json = "{}";          ///< keys this reader does not use (calibration, config, tensorrt, ...)

  /// Parse the JSON text; ModelFileError naming ``source`` and the bad key when it is malformed.
  static ModelMetadata from_json(const std::string& text, const std::string& source);
};

/// The metadata JSON a backend found in a model file (``where``), or an error saying how to export it.
ModelMetadata embedded_metadata(const std::string* text, const std::string& path, const std::string& where,
                                const std::string& format);

}  // namespace edgead
