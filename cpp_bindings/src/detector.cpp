#include "edgead/detector.hpp"

#include <algorithm>
#include <cstring>

#include <opencv2/imgproc.hpp>

#include "edgead/errors.hpp"
#include "edgead/preprocess.hpp"

namespace edgead {

namespace {

const Tensor& output(const Outputs& outputs, const std::string& name) {
  auto it = outputs.find(name);
  if (it == outputs.end()) throw BackendError("the graph returned no output '" + name + "'");
  return it->second;
}

// Row i of a [N, ...] output: its values start at i * (size / N).
const float* row(const Tensor& tensor, int i) {
  const std::size_t per = tensor.data.size() / static_cast<std::size_t>(tensor.shape.at(0));
  return tensor.data.data() + per * static_cast<std::size_t>(i);
}

cv::Mat map_of(const Tensor& tensor, int i) {
  const auto& s = tensor.shape;
  if (s.size() < 3) throw BackendError("the graph's anomaly map has " + std::to_string(s.size()) + " dimensions");
  const int h = static_cast<int>(s[s.size() - 2]), w = static_cast<int>(s[s.size() - 1]);
  return cv::Mat(h, w, CV_32F, const_cast<float*>(row(tensor, i)));  // a view; callers copy
}

}  // namespace

Detector::Detector(const std::string& model_path, const std::string& backend, std::optional<double> threshold,
                   const BackendOptions& options)
    : backend_(open_backend(model_path, backend, options)) {
  const auto& names = backend_->output_names();
  bool complete = backend_->metadata().part == "full";
  for (const auto& name : kOutputNames) complete = complete && std::count(names.begin(), names.end(), name) > 0;
  if (!complete) {
    std::string got;
    for (const auto& n : names) got += (got.empty() ? "'" : ", '") + n + "'";
    throw ModelFileError("'" + model_path + "' is a '" + backend_->metadata().part + "' graph with outputs [" + got +
                         "], not ['score', 'anomaly_map', 'raw_score', 'raw_anomaly_map']; it can be benchmarked "
                         "(`edgead-cpp-bench`) but not used to predict: export the full model");
  }
  threshold_ = threshold.value_or(backend_->metadata().threshold);
}

Result Detector::predict(const cv::Mat& frame) { return predict_batch({frame}).at(0); }

Result Detector::predict_path(const std::string& path) { return predict(read_image(path)); }

std::vector<Result> Detector::predict_batch(const std::vector<cv::Mat>& frames) {
  if (frames.empty()) throw FrameMismatchError("predict_batch got no frames; give at least one");
  const int h = metadata().height, w = metadata().width;
  const std::size_t frame_bytes = static_cast<std::size_t>(h) * w * 3;
  batch_.resize(frame_bytes * frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const cv::Mat prepared = prepare_frame(frames[i], h, w);
    std::memcpy(batch_.data() + i * frame_bytes, prepared.data, frame_bytes);
  }
  const Outputs outputs = backend_->run(batch_.data(), {static_cast<std::int64_t>(frames.size()), h, w, 3});
  std::vector<Result> results;
  results.reserve(frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i)
    results.push_back(make_result(outputs, static_cast<int>(i), frames[i].size(), threshold_));
  return results;
}

Result make_result(const Outputs& outputs, int i, const cv::Size& frame_size, double threshold) {
  Result result;
  result.score = row(output(outputs, "score"), i)[0];
  result.raw_score = row(output(outputs, "raw_score"), i)[0];
  result.threshold = threshold;
  result.is_anomalous = static_cast<double>(result.score) >= threshold;
  const cv::Mat amap = map_of(output(outputs, "anomaly_map"), i);
  if (amap.size() == frame_size)
    result.anomaly_map = amap.clone();
  else
    cv::resize(amap, result.anomaly_map, frame_size, 0, 0, cv::INTER_LINEAR);
  result.raw_anomaly_map = map_of(output(outputs, "raw_anomaly_map"), i).clone();
  return result;
}

const char* version() { return EDGEAD_VERSION; }

}  // namespace edgead
