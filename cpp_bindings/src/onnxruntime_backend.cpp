// ONNX Runtime backend, as runtime/edgead_runtime/backends/onnxruntime.py: the .onnx on the CUDA provider when this
// onnxruntime has it (JetPack's, or a GPU release), else on the CPU. Compiled where onnxruntime_cxx_api.h and
// libonnxruntime are found (ONNXRUNTIME_ROOT); PyPI's onnxruntime wheel ships the library without headers.
// C++ API as in microsoft/onnxruntime include/onnxruntime/core/session/onnxruntime_cxx_api.h (1.13 and later:
// GetInputNameAllocated, LookupCustomMetadataMapAllocated; AppendExecutionProvider_CUDA with OrtCUDAProviderOptions;
// the version from the C API's OrtApiBase::GetVersionString). Not compiled on the development machines (no headers).
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <filesystem>

#include "backends.hpp"
#include "edgead/errors.hpp"

namespace edgead::detail {
namespace {

Ort::Env& environment() {  // one per process; sessions must not outlive it
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "edgead");
  return env;
}

class OnnxRuntimeBackend : public Backend {
 public:
  OnnxRuntimeBackend(const std::string& path, ModelMetadata metadata, Ort::Session session,
                     std::vector<std::string> providers)
      : Backend("onnxruntime", path, std::move(metadata)), session_(std::move(session)),
        providers_(std::move(providers)) {
    Ort::AllocatorWithDefaultOptions allocator;
    input_name_ = session_.GetInputNameAllocated(0, allocator).get();
    input_shape_ = session_.GetInputTypeInfo(0).GetTensorTypeAndShapeInfo().GetShape();
    for (std::size_t i = 0; i < session_.GetOutputCount(); ++i)
      output_names_.push_back(session_.GetOutputNameAllocated(i, allocator).get());
    for (const auto& n : output_names_) output_ptrs_.push_back(n.c_str());
  }

  std::vector<std::pair<std::string, std::string>> describe() const override {
    std::string providers;
    for (const auto& p : providers_) providers += (providers.empty() ? "" : ",") + p;
    return {{"backend", name_}, {"version", std::string(OrtGetApiBase()->GetVersionString())}, {"precision", "graph"},
            {"providers", providers}};
  }

 protected:
  Outputs run_checked(const std::uint8_t* data, const std::vector<std::int64_t>& shape) override {
    std::size_t bytes = 1;
    for (auto d : shape) bytes *= static_cast<std::size_t>(d);
    const auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    Ort::Value input = Ort::Value::CreateTensor<std::uint8_t>(memory, const_cast<std::uint8_t*>(data), bytes,
                                                              shape.data(), shape.size());
    const char* input_name = input_name_.c_str();
    std::vector<Ort::Value> values;
    try {
      values = session_.Run(Ort::RunOptions{nullptr}, &input_name, &input, 1, output_ptrs_.data(), output_ptrs_.size());
    } catch (const Ort::Exception& exc) {
      throw BackendError("onnxruntime failed to run '" + path_ + "' on a batch of " + std::to_string(shape[0]) + " (" +
                         exc.what() + ")");
    }
    Outputs outputs;
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto info = values[i].GetTensorTypeAndShapeInfo();
      if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)
        throw BackendError("'" + path_ + "' output '" + output_names_[i] + "' is not float32; re-export the model");
      Tensor& t = outputs[output_names_[i]];
      t.shape = info.GetShape();
      const float* p = values[i].GetTensorData<float>();
      t.data.assign(p, p + info.GetElementCount());
    }
    return outputs;
  }

 private:
  Ort::Session session_;
  std::vector<std::string> providers_;
  std::vector<const char*> output_ptrs_;
};

}  // namespace

std::unique_ptr<Backend> open_onnxruntime(const std::string& path, const BackendOptions& options) {
  refuse_options("onnxruntime", options, false, true, true);
  if (!std::filesystem::is_regular_file(path))
    throw ModelFileError("model file '" + path + "' does not exist; check the path or run `edgead export`");
  Ort::SessionOptions session_options;
  if (options.threads > 0) session_options.SetIntraOpNumThreads(options.threads);
  std::vector<std::string> providers;
  const auto available = Ort::GetAvailableProviders();
  if (std::find(available.begin(), available.end(), "CUDAExecutionProvider") != available.end()) {
    OrtCUDAProviderOptions cuda{};
    cuda.device_id = options.device_id;
    session_options.AppendExecutionProvider_CUDA(cuda);
    providers.push_back("CUDAExecutionProvider");
  } else if (options.device_id != 0) {
    throw BackendError("onnxruntime " + std::string(OrtGetApiBase()->GetVersionString()) + " has no CUDAExecutionProvider, so device_id " +
                       std::to_string(options.device_id) + " cannot be used; install a GPU build of onnxruntime");
  }
  providers.push_back("CPUExecutionProvider");
  std::unique_ptr<Ort::Session> session;
  try {
    session = std::make_unique<Ort::Session>(environment(), path.c_str(), session_options);
  } catch (const Ort::Exception& exc) {
    throw ModelFileError("onnxruntime cannot load '" + path + "' (" + exc.what() +
                         "); if it is truncated or not an ONNX model, export it again");
  }
  Ort::AllocatorWithDefaultOptions allocator;
  auto text = session->GetModelMetadata().LookupCustomMetadataMapAllocated(kMetadataKey, allocator);
  const std::string json = text ? std::string(text.get()) : std::string();
  ModelMetadata metadata = embedded_metadata(text ? &json : nullptr, path, "metadata_props", "onnx");
  if (session->GetInputCount() != 1)
    throw ModelFileError("'" + path + "' has " + std::to_string(session->GetInputCount()) +
                         " inputs; an edgead graph has one (uint8 image)");
  return std::make_unique<OnnxRuntimeBackend>(path, std::move(metadata), std::move(*session), std::move(providers));
}

}  // namespace edgead::detail
