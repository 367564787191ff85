// OpenVINO backend (CPU), as runtime/edgead_runtime/backends/openvino.py: runs an edgead IR (.xml + .bin) or the
// exported .onnx directly. The compute precision is always set explicitly and read back: the CPU plugin computes in
// bf16 by default on CPUs with AVX512-BF16 or AMX, and quietly swaps an f16 request for bf16 on some, which moves
// scores away from the exported graph's; f32 is the default, and a swapped precision is an error, never silent.
#include <filesystem>
#include <map>
#include <sstream>

#include <openvino/openvino.hpp>

#include "backends.hpp"
#include "edgead/errors.hpp"

namespace edgead::detail {
namespace {

const std::map<std::string, ov::element::Type> kPrecisions = {
    {"f32", ov::element::f32}, {"fp32", ov::element::f32}, {"bf16", ov::element::bf16},
    {"f16", ov::element::f16}, {"fp16", ov::element::f16}};
const char* kDevice = "CPU";

// OpenVINO errors start with C++ source locations; the last non-empty line says what went wrong.
std::string last_line(const std::exception& exc) {
  std::istringstream lines(exc.what());
  std::string line, last = "unknown error";
  while (std::getline(lines, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line.substr(line.find_first_not_of(" \t\r"));
  return last;
}

std::vector<std::int64_t> dims(const ov::PartialShape& shape) {
  std::vector<std::int64_t> out;
  for (const auto& d : shape) out.push_back(d.is_static() ? d.get_length() : -1);
  return out;
}

class OpenVinoBackend : public Backend {
 public:
  OpenVinoBackend(const std::string& path, ModelMetadata metadata, ov::CompiledModel compiled)
      : Backend("openvino", path, std::move(metadata)), compiled_(std::move(compiled)) {
    input_name_ = compiled_.input().get_any_name();
    input_shape_ = dims(compiled_.input().get_partial_shape());
    for (const auto& port : compiled_.outputs()) output_names_.push_back(port.get_any_name());
    request_ = compiled_.create_infer_request();  // one request, reused: run() is not re-entrant
    precision_ = compiled_.get_property(ov::hint::inference_precision).get_type_name();
  }

  std::vector<std::pair<std::string, std::string>> describe() const override {
    std::ostringstream hint;
    hint << compiled_.get_property(ov::hint::performance_mode);
    return {{"backend", name_},
            {"version", ov::get_openvino_version().buildNumber},
            {"device", kDevice},
            {"precision", precision_},
            {"threads", std::to_string(compiled_.get_property(ov::inference_num_threads))},
            {"streams", std::to_string(compiled_.get_property(ov::num_streams).num)},
            {"performance_hint", hint.str()}};
  }

 protected:
  Outputs run_checked(const std::uint8_t* data, const std::vector<std::int64_t>& shape) override {
    ov::Shape input_shape(shape.begin(), shape.end());
    request_.set_input_tensor(ov::Tensor(ov::element::u8, input_shape, const_cast<std::uint8_t*>(data)));
    try {
      request_.infer();
    } catch (const ov::Exception& exc) {
      throw BackendError("openvino failed to run '" + path_ + "' on a batch of " + std::to_string(shape[0]) + " (" +
                         last_line(exc) + ")");
    }
    Outputs outputs;
    for (std::size_t i = 0; i < output_names_.size(); ++i) {
      const ov::Tensor tensor = request_.get_output_tensor(i);
      Tensor& out = outputs[output_names_[i]];
      const ov::Shape& s = tensor.get_shape();
      out.shape.assign(s.begin(), s.end());
      out.data.resize(tensor.get_size());
      if (tensor.get_element_type() == ov::element::f32) {
        std::copy_n(tensor.data<const float>(), out.data.size(), out.data.begin());
      } else if (tensor.get_element_type() == ov::element::f16) {
        const auto* half = tensor.data<const ov::float16>();
        for (std::size_t k = 0; k < out.data.size(); ++k) out.data[k] = static_cast<float>(half[k]);
      } else {
        throw BackendError("'" + path_ + "' output '" + output_names_[i] + "' is " +
                           tensor.get_element_type().get_type_name() + "; an edgead graph outputs f32");
      }
    }
    return outputs;
  }

 private:
  ov::CompiledModel compiled_;
  ov::InferRequest request_;
  std::string precision_;
};

}  // namespace

std::unique_ptr<Backend> open_openvino(const std::string& path, const BackendOptions& options) {
  refuse_options("openvino", options, true, true, false);
  const std::string asked = options.precision.empty() ? "f32" : options.precision;
  auto hint = kPrecisions.find(asked);
  if (hint == kPrecisions.end())
    throw BackendError("openvino precision '" + asked + "' is not supported; choose f32, bf16 or f16");
  if (!std::filesystem::is_regular_file(path))
    throw ModelFileError("model file '" + path + "' does not exist; check the path or run `edgead export`");
  ov::Core core;
  const bool onnx = std::filesystem::path(path).extension() == ".onnx";
  std::shared_ptr<ov::Model> model;
  try {
    model = core.read_model(path);
  } catch (const std::exception& exc) {
    const std::string beside =
        onnx ? "" : "; an IR needs '" + std::filesystem::path(path).replace_extension(".bin").filename().string() +
                        "' beside it";
    throw ModelFileError("openvino cannot load '" + path + "' (" + last_line(exc) + ")" + beside +
                         "; if it is truncated, export it again");
  }
  // ONNX metadata_props land under rt_info "framework" in OpenVINO's ONNX reader; an IR keeps its own key.
  const std::vector<std::string> key = onnx ? std::vector<std::string>{"framework", kMetadataKey}
                                            : std::vector<std::string>{kMetadataKey};
  std::string text;
  const bool found = model->has_rt_info(key);
  if (found) text = model->get_rt_info<std::string>(key);
  ModelMetadata metadata = embedded_metadata(found ? &text : nullptr, path, onnx ? "metadata_props" : "rt_info",
                                             onnx ? "onnx" : "openvino");
  if (model->inputs().size() != 1)
    throw ModelFileError("'" + path + "' has " + std::to_string(model->inputs().size()) +
                         " inputs; an edgead graph has one (uint8 image)");
  ov::AnyMap config = {ov::hint::inference_precision(hint->second)};
  if (options.threads > 0) config.emplace(ov::inference_num_threads(options.threads));
  ov::CompiledModel compiled;
  try {
    compiled = core.compile_model(model, kDevice, config);
  } catch (const std::exception& exc) {
    throw BackendError("openvino cannot compile '" + path + "' for " + kDevice + " (" + last_line(exc) + ")");
  }
  const ov::element::Type got = compiled.get_property(ov::hint::inference_precision);
  if (got != hint->second) {
    std::string caps, usable = "f32";
    for (const auto& cap : core.get_property(kDevice, ov::device::capabilities)) {
      caps += (caps.empty() ? "" : ", ") + cap;
      if (cap == "BF16") usable += ", bf16";
      if (cap == "FP16") usable += ", f16";
    }
    throw BackendError("openvino on this CPU computes '" + asked + "' as " + got.get_type_name() +
                       " (CPU capabilities " + caps + "); choose one of " + usable);
  }
  return std::make_unique<OpenVinoBackend>(path, std::move(metadata), std::move(compiled));
}

}  // namespace edgead::detail
