// TensorRT backend: a .engine built by `edgead export --format trt` and its .engine.json sidecar, as
// runtime/edgead_runtime/backends/tensorrt.py (same checks, same messages, same rebuild hint).
//
// One class for every TensorRT in the field; the I/O calls differ by release and are chosen at compile time,
// compiled (-c, not linked) against NVIDIA/TensorRT's published headers (include/ at tags 8.5.2 and v8.6.1,
// branch release/10.3 and main = 11.1):
//   8.5 / 8.6 (binding API):  getNbBindings, getBindingName, bindingIsInput, getBindingDataType,
//     getProfileDimensions(index, 0, selector), IExecutionContext::setBindingDimensions / getBindingDimensions,
//     enqueueV2(bindings, stream, nullptr) -- removed in 10.0;
//   10.x / 11.x (tensor API): getNbIOTensors, getIOTensorName, getTensorIOMode, getTensorDataType,
//     getProfileShape(name, 0, selector), setInputShape / getTensorShape, setTensorAddress, enqueueV3(stream).
// Device buffers and pinned host buffers are allocated once for the profile's largest batch; a run stages the
// batch in pinned memory, copies in, enqueues and copies out on one CUDA stream, then synchronizes once.
#include <cuda_runtime_api.h>

#include <NvInfer.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <type_traits>

#include "backends.hpp"
#include "edgead/engine_file.hpp"
#include "edgead/errors.hpp"

#if NV_TENSORRT_MAJOR >= 10
#define EDGEAD_TRT_TENSOR_API 1
#else
// 8.x deprecates its binding API (the tensor API exists from 8.5), but the Python backend and the engines built
// for JetPack 5/6.0 use it; the deprecation warnings are expected there.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

namespace edgead::detail {
namespace {

using nvinfer1::DataType;
using nvinfer1::Dims;
using nvinfer1::OptProfileSelector;

void cuda_check(cudaError_t err, const std::string& what) {
  if (err != cudaSuccess)
    throw BackendError("CUDA " + what + " failed: " + cudaGetErrorName(err) +
                       "; is a CUDA GPU visible (nvidia-smi / tegrastats)?");
}

// TensorRT reports why an engine does not load only to its logger: keep the errors, print warnings.
class Logger : public nvinfer1::ILogger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    if (severity <= Severity::kERROR) errors.emplace_back(msg);
    if (severity <= Severity::kWARNING) std::cerr << "tensorrt: " << msg << std::endl;
  }
  std::vector<std::string> errors;
};

std::vector<std::int64_t> to_vector(const Dims& d) { return std::vector<std::int64_t>(d.d, d.d + d.nbDims); }

Dims to_dims(const std::vector<std::int64_t>& v) {
  Dims d{};
  d.nbDims = static_cast<int32_t>(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) d.d[i] = static_cast<std::remove_reference_t<decltype(d.d[0])>>(v[i]);  // int32 in 8.x, int64 in 10+
  return d;
}

std::size_t element_size(DataType t) {
  switch (t) {
    case DataType::kFLOAT: case DataType::kINT32: return 4;
    case DataType::kHALF: return 2;
    case DataType::kINT8: case DataType::kUINT8: case DataType::kBOOL: return 1;
    default: throw BackendError("unsupported TensorRT tensor type " + std::to_string(static_cast<int>(t)));
  }
}

// The engine's I/O by tensor name (10+) or binding index (8.x): the only code that differs by release.
struct EngineIO {
  nvinfer1::ICudaEngine* engine;
  nvinfer1::IExecutionContext* context;
  std::vector<std::string> names;
  std::vector<void*> bindings;  // 8.x: the address array enqueueV2 takes

  EngineIO(nvinfer1::ICudaEngine* e, nvinfer1::IExecutionContext* c) : engine(e), context(c) {
#ifdef EDGEAD_TRT_TENSOR_API
    for (int32_t i = 0; i < engine->getNbIOTensors(); ++i) names.emplace_back(engine->getIOTensorName(i));
#else
    for (int32_t i = 0; i < engine->getNbBindings(); ++i) names.emplace_back(engine->getBindingName(i));
#endif
    bindings.assign(names.size(), nullptr);
  }
  int index(const std::string& name) const {
    return static_cast<int>(std::find(names.begin(), names.end(), name) - names.begin());
  }
#ifdef EDGEAD_TRT_TENSOR_API
  bool is_input(const std::string& n) const {
    return engine->getTensorIOMode(n.c_str()) == nvinfer1::TensorIOMode::kINPUT;
  }
  DataType dtype(const std::string& n) const { return engine->getTensorDataType(n.c_str()); }
  Dims engine_shape(const std::string& n) const { return engine->getTensorShape(n.c_str()); }
  Dims profile(const std::string& n, OptProfileSelector s) const { return engine->getProfileShape(n.c_str(), 0, s); }
  bool set_input_shape(const std::string& n, const Dims& d) { return context->setInputShape(n.c_str(), d); }
  Dims shape(const std::string& n) const { return context->getTensorShape(n.c_str()); }
  void bind(const std::string& n, void* address) { context->setTensorAddress(n.c_str(), address); }
  bool execute(cudaStream_t stream) { return context->enqueueV3(stream); }
#else
  bool is_input(const std::string& n) const { return engine->bindingIsInput(index(n)); }
  DataType dtype(const std::string& n) const { return engine->getBindingDataType(index(n)); }
  Dims engine_shape(const std::string& n) const { return engine->getBindingDimensions(index(n)); }
  Dims profile(const std::string& n, OptProfileSelector s) const { return engine->getProfileDimensions(index(n), 0, s); }
  bool set_input_shape(const std::string& n, const Dims& d) { return context->setBindingDimensions(index(n), d); }
  Dims shape(const std::string& n) const { return context->getBindingDimensions(index(n)); }
  void bind(const std::string& n, void* address) { bindings[index(n)] = address; }
  bool execute(cudaStream_t stream) { return context->enqueueV2(bindings.data(), stream, nullptr); }
#endif
};

struct Buffer {
  std::string name;
  DataType dtype;
  void* device = nullptr;
  void* host = nullptr;  // pinned
};

class TensorRTBackend : public Backend {
 public:
  TensorRTBackend(const std::string& path, EngineFile file, std::unique_ptr<Logger> logger,
                  std::unique_ptr<nvinfer1::IRuntime> runtime, std::unique_ptr<nvinfer1::ICudaEngine> engine,
                  std::string version, std::string device)
      : Backend("tensorrt", path, std::move(file.metadata)), info_(std::move(file.info)), logger_(std::move(logger)),
        runtime_(std::move(runtime)), engine_(std::move(engine)), version_(std::move(version)),
        device_(std::move(device)) {
    context_.reset(engine_->createExecutionContext());
    if (!context_) throw BackendError("TensorRT could not create an execution context for '" + path + "' (out of GPU memory?)");
    io_ = std::make_unique<EngineIO>(engine_.get(), context_.get());
    std::vector<std::string> inputs;
    for (const auto& n : io_->names) (io_->is_input(n) ? inputs : output_names_).push_back(n);
    if (inputs.size() != 1) throw ModelFileError("'" + path + "' has " + std::to_string(inputs.size()) +
                                                 " inputs; an edgead engine has one (uint8 image)");
    input_name_ = inputs[0];
    input_shape_ = to_vector(io_->engine_shape(input_name_));
    min_batch_ = io_->profile(input_name_, OptProfileSelector::kMIN).d[0];
    max_batch_ = io_->profile(input_name_, OptProfileSelector::kMAX).d[0];
    allocate();
  }

  ~TensorRTBackend() override {
    for (auto& b : buffers_) {
      cudaFree(b.device);
      cudaFreeHost(b.host);
    }
    if (stream_) cudaStreamDestroy(stream_);
    io_.reset();
    context_.reset();  // before the engine, the engine before its runtime, the runtime before its logger
    engine_.reset();
    runtime_.reset();
  }

  std::vector<std::pair<std::string, std::string>> describe() const override {
    return {{"backend", name_}, {"version", version_}, {"device", device_}, {"precision", info_.precision},
            {"precision_mode", info_.precision_mode}, {"max_batch", std::to_string(max_batch_)},
            {"dla_core", info_.dla_core ? std::to_string(*info_.dla_core) : "none"}};
  }

 protected:
  void check_batch(const std::vector<std::int64_t>& shape) const override {
    Backend::check_batch(shape);
    if (shape[0] < min_batch_ || shape[0] > max_batch_)
      throw FrameMismatchError("'" + path_ + "' was built for batches of " + std::to_string(min_batch_) + " up to " +
                               std::to_string(max_batch_) + ", got " + std::to_string(shape[0]) +
                               ": change --batch, or rebuild with other --min-batch/--max-batch");
  }

  Outputs run_checked(const std::uint8_t* data, const std::vector<std::int64_t>& shape) override {
    if (!io_->set_input_shape(input_name_, to_dims(shape)))
      throw FrameMismatchError("TensorRT rejected input shape " + shape_text(shape) + " for '" + path_ + "'");
    std::size_t bytes = 1;
    for (auto d : shape) bytes *= static_cast<std::size_t>(d);
    Buffer& in = buffer(input_name_);
    std::memcpy(in.host, data, bytes);  // the engine's input is uint8, as the graph's
    cuda_check(cudaMemcpyAsync(in.device, in.host, bytes, cudaMemcpyHostToDevice, stream_), "H2D copy");
    if (!io_->execute(stream_))
      throw BackendError("TensorRT failed to enqueue '" + path_ + "' for a batch of " + std::to_string(shape[0]));
    Outputs outputs;
    for (const auto& name : output_names_) {
      Buffer& b = buffer(name);
      Tensor& t = outputs[name];
      t.shape = to_vector(io_->shape(name));
      std::size_t count = 1;
      for (auto d : t.shape) count *= static_cast<std::size_t>(d);
      t.data.resize(count);
      cuda_check(cudaMemcpyAsync(b.host, b.device, count * sizeof(float), cudaMemcpyDeviceToHost, stream_), "D2H copy");
    }
    cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    for (auto& [name, t] : outputs) std::memcpy(t.data.data(), buffer(name).host, t.data.size() * sizeof(float));
    return outputs;
  }

 private:
  void allocate() {
    cuda_check(cudaStreamCreate(&stream_), "cudaStreamCreate");
    std::vector<std::int64_t> max_input = input_shape_;
    max_input[0] = max_batch_;
    if (!io_->set_input_shape(input_name_, to_dims(max_input)))
      throw BackendError("TensorRT rejected input shape " + shape_text(max_input) + " for '" + path_ + "'");
    for (const auto& name : io_->names) {
      const DataType t = io_->dtype(name);
      if (name == input_name_ ? t != DataType::kUINT8 : t != DataType::kFLOAT)
        throw ModelFileError("'" + path_ + "' tensor '" + name + "' has TensorRT type " + std::to_string(static_cast<int>(t)) +
                             "; an edgead engine takes uint8 and returns float32: rebuild it with `edgead export`");
      std::size_t bytes = element_size(t);
      for (auto d : name == input_name_ ? max_input : to_vector(io_->shape(name))) bytes *= static_cast<std::size_t>(d);
      Buffer b{name, t};
      cuda_check(cudaMalloc(&b.device, bytes), "cudaMalloc(" + std::to_string(bytes) + ")");
      cuda_check(cudaMallocHost(&b.host, bytes), "cudaMallocHost(" + std::to_string(bytes) + ")");
      io_->bind(name, b.device);
      buffers_.push_back(b);
    }
  }

  Buffer& buffer(const std::string& name) {
    for (auto& b : buffers_)
      if (b.name == name) return b;
    throw BackendError("no buffer for tensor '" + name + "'");
  }

  EngineInfo info_;
  std::unique_ptr<Logger> logger_;
  std::unique_ptr<nvinfer1::IRuntime> runtime_;
  std::unique_ptr<nvinfer1::ICudaEngine> engine_;
  std::unique_ptr<nvinfer1::IExecutionContext> context_;
  std::unique_ptr<EngineIO> io_;
  std::vector<Buffer> buffers_;
  cudaStream_t stream_ = nullptr;
  std::int64_t min_batch_ = 1, max_batch_ = 1;
  std::string version_, device_;
};

}  // namespace

std::unique_ptr<Backend> open_tensorrt(const std::string& path, const BackendOptions& options) {
  refuse_options("tensorrt", options, false, false, true);
  EngineFile file = read_engine(path);  // file errors first: they need no GPU
  int count = 0;
  cuda_check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  if (options.device_id >= count)
    throw BackendError("CUDA device " + std::to_string(options.device_id) + " does not exist; this machine has " +
                       std::to_string(count) + " (0.." + std::to_string(count - 1) + ")");
  cudaDeviceProp props{};
  cuda_check(cudaGetDeviceProperties(&props, options.device_id), "cudaGetDeviceProperties");
  cuda_check(cudaSetDevice(options.device_id), "cudaSetDevice");
  const std::string device = props.name;
  const std::string capability = std::to_string(props.major) + "." + std::to_string(props.minor);
  const std::string version = trt_version_string(getInferLibVersion());
  if (auto problem = compatibility_problem(path, file.info, version, device, capability); !problem.empty())
    throw ModelFileError(problem);
  if (auto warning = device_warning(path, file.info, device); !warning.empty())
    std::cerr << "warning: " << warning << std::endl;
  auto logger = std::make_unique<Logger>();
  std::unique_ptr<nvinfer1::IRuntime> runtime(nvinfer1::createInferRuntime(*logger));
  if (!runtime) throw BackendError("TensorRT " + version + " could not create a runtime on " + device);
  if (file.info.dla_core) runtime->setDLACore(*file.info.dla_core);
  std::unique_ptr<nvinfer1::ICudaEngine> engine(runtime->deserializeCudaEngine(file.data.data(), file.data.size()));
  if (!engine) throw ModelFileError(deserialize_failure(path, file.info, version, device, logger->errors));
  return std::make_unique<TensorRTBackend>(path, std::move(file), std::move(logger), std::move(runtime),
                                           std::move(engine), version, device);
}

}  // namespace edgead::detail
