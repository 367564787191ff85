#include <nlohmann/json.hpp>

#include "check.hpp"
#include "edgead/edgead.hpp"

using edgead::ModelFileError;
using edgead::ModelMetadata;

static std::string valid() {
  return R"({"format_version": 1, "edgead_version": "0.1.0", "model": "patchcore", "backbone": "b0",
             "part": "full", "precision": "fp16", "input": {"name": "image", "height": 128, "width": 96},
             "normalization": {"image": {"threshold": 2.5}}, "threshold": 0.4,
             "calibration": {"images": 20}, "config": {"seed": 0}})";
}

int main() {
  const ModelMetadata meta = ModelMetadata::from_json(valid(), "m.onnx");
  CHECK(meta.model == "patchcore");
  CHECK(meta.backbone == "b0");
  CHECK(meta.height == 128 && meta.width == 96);
  CHECK(meta.threshold == 0.4);
  CHECK(meta.precision == "fp16");
  CHECK(meta.edgead_version == "0.1.0");
  CHECK(meta.normalization_json.find("2.5") != std::string::npos);
  CHECK(meta.extra_json.find("calibration") != std::string::npos && meta.extra_json.find("seed") != std::string::npos);

  // defaults for optional keys, as the Python reader
  const auto minimal = ModelMetadata::from_json(R"({"model": "dfm", "input": {"height": 8, "width": 8}})", "x");
  CHECK(minimal.threshold == 0.5 && minimal.part == "full" && minimal.precision == "fp32");

  // each error names the file and what is wrong
  CHECK_THROWS(ModelMetadata::from_json("{not json", "bad.onnx"), ModelFileError, "bad.onnx: edgead metadata is malformed");
  CHECK_THROWS(ModelMetadata::from_json(R"({"input": {"height": 8, "width": 8}})", "a.onnx"), ModelFileError,
               "missing key 'model'");
  CHECK_THROWS(ModelMetadata::from_json(R"({"model": "dfm", "input": {"width": 8}})", "a.onnx"), ModelFileError,
               "missing key 'input.height'");
  CHECK_THROWS(ModelMetadata::from_json(R"({"model": "dfm", "input": {"height": "x", "width": 8}})", "a.onnx"),
               ModelFileError, "'input.height' is \"x\", not a positive integer");
  CHECK_THROWS(ModelMetadata::from_json(R"({"model": "dfm", "input": {"height": 8, "width": 8}, "threshold": "hi"})",
                                        "a.onnx"),
               ModelFileError, "'threshold'");
  CHECK_THROWS(ModelMetadata::from_json(R"({"format_version": 2, "model": "d", "input": {"height": 8, "width": 8}})",
                                        "new.onnx"),
               ModelFileError, "format_version 2 is newer");
  CHECK_THROWS(ModelMetadata::from_json("[1, 2]", "list.onnx"), ModelFileError, "not a JSON object");
  CHECK_THROWS(edgead::embedded_metadata(nullptr, "plain.onnx", "metadata_props", "onnx"), ModelFileError,
               "'plain.onnx' has no edgead metadata (metadata_props key 'edgead'); export it with `edgead export RUN_DIR --format onnx`");
  return finish("test_metadata");
}
