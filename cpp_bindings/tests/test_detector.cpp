// Backend + Detector on a real exported model (EDGEAD_TEST_MODEL, e.g. from `edgead export RUN --format onnx`);
// without one only the model-free errors are checked and the test reports "skipped".
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <opencv2/core.hpp>

#include "check.hpp"
#include "edgead/edgead.hpp"

using edgead::BackendError;
using edgead::FrameMismatchError;
using edgead::ModelFileError;

int main() {
  const auto dir = std::filesystem::temp_directory_path() / "edgead_test_detector";
  std::filesystem::create_directories(dir);
  const std::string garbage = (dir / "garbage.onnx").string();
  std::ofstream(garbage) << "this is not an onnx file";
  CHECK_THROWS(edgead::Detector((dir / "missing.onnx").string(), "openvino"), ModelFileError, "does not exist");
  CHECK_THROWS(edgead::Detector(garbage, "openvino"), ModelFileError, "openvino cannot load");
  CHECK_THROWS(edgead::Detector(garbage, "tpu"), BackendError, "unknown backend 'tpu'");
  CHECK_THROWS(edgead::open_backend((dir / "m.pt").string()), BackendError, "cannot pick a backend");
  CHECK_THROWS(edgead::Detector(garbage, "openvino", std::nullopt, {"f64", 0, 0}), BackendError, "f64");
  CHECK_THROWS(edgead::Detector(garbage, "openvino", std::nullopt, {"", 0, 1}), BackendError, "no option(s) device_id");
  std::filesystem::remove_all(dir);

  const char* model = std::getenv("EDGEAD_TEST_MODEL");
  if (model == nullptr || *model == '\0') {
    std::cout << "test_detector: EDGEAD_TEST_MODEL not set, model checks skipped" << std::endl;
    return g_failures ? 1 : 77;
  }
  edgead::Detector detector(model, "openvino");
  const int h = detector.metadata().height, w = detector.metadata().width;
  CHECK(detector.threshold() == detector.metadata().threshold);
  CHECK(detector.backend().describe().at(3).second == "f32");  // precision read back from the compiled model

  cv::Mat frame(h * 2 + 3, w + 5, CV_8UC3);
  cv::randu(frame, 0, 255);
  const auto result = detector.predict(frame);
  CHECK(result.anomaly_map.size() == frame.size() && result.anomaly_map.type() == CV_32F);
  CHECK(result.raw_anomaly_map.rows == h && result.raw_anomaly_map.cols == w);
  CHECK(result.score >= 0 && result.score <= 1);
  CHECK(result.is_anomalous == (result.score >= detector.threshold()));

  // a batch gives each frame's own result; a grey frame runs too
  cv::Mat grey(h, w, CV_8UC1, cv::Scalar(90));
  const auto batch = detector.predict_batch({frame, grey});
  CHECK(batch.size() == 2 && std::abs(batch[0].score - result.score) < 1e-5);
  CHECK(batch[1].anomaly_map.size() == grey.size());

  detector.set_threshold(-1.0);
  CHECK(detector.predict(grey).is_anomalous);
  CHECK_THROWS(detector.predict_batch({}), FrameMismatchError, "no frames");
  CHECK_THROWS(detector.predict(cv::Mat(4, 4, CV_32FC1)), FrameMismatchError, "give uint8 or uint16 pixels");
  std::vector<std::uint8_t> wrong(static_cast<std::size_t>(h) * w * 3);
  CHECK_THROWS(detector.backend().run(wrong.data(), {1, h, w, 1}), FrameMismatchError, "use prepare_frame()");
  return finish("test_detector");
}
