// The frame conversion rules of runtime/edgead_runtime/preprocess.py; bit-exact parity on real images is in
// tests/cpp/test_cpp_bindings.py (against the Python function itself).
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "check.hpp"
#include "edgead/edgead.hpp"

using edgead::FrameMismatchError;
using edgead::ImageReadError;

int main() {
  // 16-bit -> 8-bit: float(x) / 257 + 0.5, truncated (numpy's astype), not rounded
  cv::Mat deep(1, 4, CV_16UC1);
  deep.at<std::uint16_t>(0, 0) = 0;
  deep.at<std::uint16_t>(0, 1) = 128;    // 0.998 -> 0
  deep.at<std::uint16_t>(0, 2) = 129;    // 1.002 -> 1
  deep.at<std::uint16_t>(0, 3) = 65535;  // 255.5 -> 255
  const cv::Mat eight = edgead::to_bgr8(deep);
  CHECK(eight.type() == CV_8UC3);
  CHECK(eight.at<cv::Vec3b>(0, 0)[0] == 0 && eight.at<cv::Vec3b>(0, 1)[1] == 0);
  CHECK(eight.at<cv::Vec3b>(0, 2)[2] == 1 && eight.at<cv::Vec3b>(0, 3)[0] == 255);

  // grey -> BGR copies the value into all three channels; BGRA drops alpha
  cv::Mat grey(2, 2, CV_8UC1, cv::Scalar(77));
  CHECK(edgead::to_bgr8(grey).at<cv::Vec3b>(1, 1) == cv::Vec3b(77, 77, 77));
  cv::Mat bgra(2, 2, CV_8UC4, cv::Scalar(1, 2, 3, 4));
  CHECK(edgead::to_bgr8(bgra).at<cv::Vec3b>(0, 0) == cv::Vec3b(1, 2, 3));

  // refused layouts and depths
  CHECK_THROWS(edgead::to_bgr8(cv::Mat(2, 2, CV_8UC2)), FrameMismatchError, "expected 1, 3 or 4 channels");
  CHECK_THROWS(edgead::to_bgr8(cv::Mat(2, 2, CV_32FC3)), FrameMismatchError, "give uint8 or uint16 pixels");
  CHECK_THROWS(edgead::to_bgr8(cv::Mat()), FrameMismatchError, "frame is empty");

  // sizes: shrink with INTER_AREA, grow with INTER_LINEAR, same size is the frame itself
  cv::Mat big(64, 48, CV_8UC3);
  cv::randu(big, 0, 255);
  cv::Mat area;
  cv::resize(big, area, cv::Size(24, 32), 0, 0, cv::INTER_AREA);
  const cv::Mat shrunk = edgead::prepare_frame(big, 32, 24);
  CHECK(shrunk.rows == 32 && shrunk.cols == 24 && cv::norm(shrunk, area, cv::NORM_INF) == 0);
  cv::Mat linear;
  cv::resize(big, linear, cv::Size(96, 128), 0, 0, cv::INTER_LINEAR);
  CHECK(cv::norm(edgead::prepare_frame(big, 128, 96), linear, cv::NORM_INF) == 0);
  // one side larger, the other smaller: shrinking (area), as in Python
  cv::Mat mixed;
  cv::resize(big, mixed, cv::Size(96, 32), 0, 0, cv::INTER_AREA);
  CHECK(cv::norm(edgead::prepare_frame(big, 32, 96), mixed, cv::NORM_INF) == 0);
  const cv::Mat same = edgead::prepare_frame(big, 64, 48);
  CHECK(same.isContinuous() && cv::norm(same, big, cv::NORM_INF) == 0);
  CHECK(edgead::prepare_frame(big(cv::Rect(0, 0, 24, 32)), 32, 24).isContinuous());

  // files: missing, empty, corrupt; a real PNG reads back unchanged (16-bit kept)
  const auto dir = std::filesystem::temp_directory_path() / "edgead_test_preprocess";
  std::filesystem::create_directories(dir);
  CHECK_THROWS(edgead::read_image((dir / "missing.png").string()), ImageReadError, "No such file");
  std::ofstream((dir / "empty.png").string()).close();
  CHECK_THROWS(edgead::read_image((dir / "empty.png").string()), ImageReadError, "the file is empty");
  std::ofstream((dir / "corrupt.png").string()) << "not a png";
  CHECK_THROWS(edgead::read_image((dir / "corrupt.png").string()), ImageReadError, "not a decodable image");
  cv::imwrite((dir / "deep.png").string(), deep);
  const cv::Mat back = edgead::read_image((dir / "deep.png").string());
  CHECK(back.type() == CV_16UC1 && cv::norm(back, deep, cv::NORM_INF) == 0);
  const auto images = edgead::list_images(dir.string());
  CHECK(images.size() == 3 && images.front().find("corrupt.png") != std::string::npos);
  std::filesystem::remove_all(dir);
  return finish("test_preprocess");
}
