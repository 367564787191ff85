// Frames in, scores and maps out (the Python runtime's detector.py): the graph does the work, this only
// resizes around it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edgead/backend.hpp"

namespace edgead {

/// One frame's verdict. Normalized values put the calibrated threshold at 0.5.
struct Result {
  float score = 0;
  float raw_score = 0;
  bool is_anomalous = false;
  double threshold = 0.5;
  cv::Mat anomaly_map;      ///< CV_32F at the frame's own size, normalized
  cv::Mat raw_anomaly_map;  ///< CV_32F at the model's size, raw
};

class Detector {
 public:
  /// Open ``model_path`` on ``backend``; ``threshold`` overrides the exported one (normalized scale).
  explicit Detector(const std::string& model_path, const std::string& backend = "auto",
                    std::optional<double> threshold = std::nullopt, const BackendOptions& options = {});

  /// Any size, 8/16-bit, 1/3/4 channels (the prepare_frame rules).
  Result predict(const cv::Mat& frame);
  /// The frames run as one batch.
  std::vector<Result> predict_batch(const std::vector<cv::Mat>& frames);
  Result predict_path(const std::string& path);

  const ModelMetadata& metadata() const { return backend_->metadata(); }
  Backend& backend() { return *backend_; }
  double threshold() const { return threshold_; }
  void set_threshold(double threshold) { threshold_ = threshold; }

 private:
  std::unique_ptr<Backend> backend_;
  double threshold_;
  std::vector<std::uint8_t> batch_;  // reused input buffer
};

/// Frame ``i`` of a batch's graph outputs as a Result: the post-processing the bench times alone.
Result make_result(const Outputs& outputs, int i, const cv::Size& frame_size, double threshold);

}  // namespace edgead
