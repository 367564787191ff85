#include "edgead/backend.hpp"

#include <algorithm>
#include <filesystem>

#include "backends.hpp"
#include "edgead/errors.hpp"

namespace edgead {

namespace detail {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

void refuse_options(const std::string& backend, const BackendOptions& options, bool precision, bool threads,
                    bool device_id) {
  std::vector<std::string> given, accepted;
  if (precision) accepted.push_back("precision");
  if (threads) accepted.push_back("threads");
  if (device_id) accepted.push_back("device_id");
  if (!options.precision.empty() && !precision) given.push_back("precision");
  if (options.threads != 0 && !threads) given.push_back("threads");
  if (options.device_id != 0 && !device_id) given.push_back("device_id");
  if (given.empty()) return;
  std::string text = "backend '" + backend + "' has no option(s)";
  for (const auto& g : given) text += " " + g;
  text += "; it takes:";
  for (const auto& a : accepted) text += " " + a;
  throw BackendError(text + (accepted.empty() ? " none" : ""));
}

}  // namespace detail

Outputs Backend::run(const std::uint8_t* data, const std::vector<std::int64_t>& shape) {
  check_batch(shape);
  return run_checked(data, shape);
}

void Backend::check_batch(const std::vector<std::int64_t>& shape) const {
  const int h = metadata_.height, w = metadata_.width;
  const std::string expected = "uint8 [N, " + std::to_string(h) + ", " + std::to_string(w) + ", 3] (BGR, NHWC)";
  if (shape.size() != 4 || shape[0] < 1 || shape[1] != h || shape[2] != w || shape[3] != 3)
    throw FrameMismatchError("'" + path_ + "' expects " + expected + ", got shape " + detail::shape_text(shape) +
                             "; use prepare_frame()");
  if (!input_shape_.empty() && input_shape_[0] > 0 && shape[0] != input_shape_[0])
    throw FrameMismatchError("'" + path_ + "' has a fixed batch of " + std::to_string(input_shape_[0]) +
                             ", got a batch of " + std::to_string(shape[0]));
}

std::vector<std::string> available_backends() {
  std::vector<std::string> names;
#ifdef EDGEAD_HAVE_ONNXRUNTIME
  names.push_back("onnxruntime");
#endif
#ifdef EDGEAD_HAVE_OPENVINO
  names.push_back("openvino");
#endif
#ifdef EDGEAD_HAVE_TENSORRT
  names.push_back("tensorrt");
#endif
  return names;
}

namespace {

std::string pick(const std::string& path) {
  std::string suffix = std::filesystem::path(path).extension().string();
  std::transform(suffix.begin(), suffix.end(), suffix.begin(), [](unsigned char c) { return std::tolower(c); });
  const auto names = available_backends();
  const bool have_ort = std::find(names.begin(), names.end(), "onnxruntime") != names.end();
  if (suffix == ".onnx") return have_ort ? "onnxruntime" : "openvino";
  if (suffix == ".xml") return "openvino";
  if (suffix == ".engine" || suffix == ".plan") return "tensorrt";
  throw BackendError("cannot pick a backend for '" + path + "' from its suffix '" + suffix +
                     "'; known: .onnx (onnxruntime, else openvino), .xml (openvino), .engine/.plan (tensorrt), "
                     "or pass the backend name");
}

[[noreturn]] void not_built(const std::string& name, const char* option) {
  std::string have;
  for (const auto& n : available_backends()) have += (have.empty() ? "" : ", ") + n;
  throw BackendError("this edgead build has no '" + name + "' backend (it has: " + (have.empty() ? "none" : have) +
                     "); rebuild with -D" + option + "=ON where its headers and libraries are installed");
}

}  // namespace

std::unique_ptr<Backend> open_backend(const std::string& path, const std::string& backend,
                                      const BackendOptions& options) {
  const std::string name = backend == "auto" ? pick(path) : backend;
  if (name == "openvino") {
#ifdef EDGEAD_HAVE_OPENVINO
    return detail::open_openvino(path, options);
#else
    not_built(name, "EDGEAD_WITH_OPENVINO");
#endif
  }
  if (name == "onnxruntime") {
#ifdef EDGEAD_HAVE_ONNXRUNTIME
    return detail::open_onnxruntime(path, options);
#else
    not_built(name, "EDGEAD_WITH_ONNXRUNTIME");
#endif
  }
  if (name == "tensorrt") {
#ifdef EDGEAD_HAVE_TENSORRT
    return detail::open_tensorrt(path, options);
#else
    not_built(name, "EDGEAD_WITH_TENSORRT");
#endif
  }
  throw BackendError("unknown backend '" + name + "'; choose one of: auto, openvino, onnxruntime, tensorrt");
}

}  // namespace edgead
