#include "edgead/preprocess.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "edgead/errors.hpp"

namespace edgead {
namespace fs = std::filesystem;

namespace {

std::string describe(const cv::Mat& image) {
  return "depth " + cv::typeToString(image.type()) + ", " + std::to_string(image.rows) + "x" +
         std::to_string(image.cols) + "x" + std::to_string(image.channels());
}

// numpy's (image.astype(float32) / 257.0 + 0.5).astype(uint8): float32 arithmetic, then truncation.
// cv::Mat::convertTo would round to nearest instead, which differs by one on about half the values.
cv::Mat sixteen_to_eight(const cv::Mat& image) {
  cv::Mat out(image.size(), CV_MAKETYPE(CV_8U, image.channels()));
  const int width = image.cols * image.channels();
  for (int y = 0; y < image.rows; ++y) {
    const auto* src = image.ptr<std::uint16_t>(y);
    auto* dst = out.ptr<std::uint8_t>(y);
    for (int x = 0; x < width; ++x) dst[x] = static_cast<std::uint8_t>(static_cast<float>(src[x]) / 257.0f + 0.5f);
  }
  return out;
}

}  // namespace

cv::Mat read_image(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw ImageReadError(path, std::strerror(errno));
  std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (data.empty()) {
    if (fs::is_directory(path)) throw ImageReadError(path, "Is a directory");
    throw ImageReadError(path, "the file is empty");
  }
  cv::Mat image = cv::imdecode(data, cv::IMREAD_UNCHANGED);
  if (image.empty()) throw ImageReadError(path, "not a decodable image (corrupt, truncated or unsupported format)");
  return image;
}

cv::Mat to_bgr8(const cv::Mat& image) {
  if (image.empty()) throw FrameMismatchError("frame is empty (0 pixels); give a decoded image");
  cv::Mat eight;
  if (image.depth() == CV_16U) {
    eight = sixteen_to_eight(image);
  } else if (image.depth() == CV_8U) {
    eight = image;
  } else {
    throw FrameMismatchError("frame " + describe(image) + " is not supported; give uint8 or uint16 pixels");
  }
  cv::Mat bgr;
  switch (eight.channels()) {
    case 1:
      cv::cvtColor(eight, bgr, cv::COLOR_GRAY2BGR);
      return bgr;
    case 3:
      return eight;
    case 4:
      cv::cvtColor(eight, bgr, cv::COLOR_BGRA2BGR);
      return bgr;
    default:
      throw FrameMismatchError("frame " + describe(image) + " is not an image; expected 1, 3 or 4 channels");
  }
}

cv::Mat prepare_frame(const cv::Mat& image, int height, int width) {
  cv::Mat bgr = to_bgr8(image);
  if (bgr.rows == height && bgr.cols == width) return bgr.isContinuous() ? bgr : bgr.clone();
  const bool shrinking = bgr.rows > height || bgr.cols > width;
  cv::Mat out;
  cv::resize(bgr, out, cv::Size(width, height), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

std::vector<std::string> list_images(const std::string& folder) {
  static const std::vector<std::string> suffixes = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"};
  std::vector<std::string> paths;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder, error)) {
    std::string suffix = entry.path().extension().string();
    std::transform(suffix.begin(), suffix.end(), suffix.begin(), [](unsigned char c) { return std::tolower(c); });
    if (entry.is_regular_file() && std::find(suffixes.begin(), suffixes.end(), suffix) != suffixes.end())
      paths.push_back(entry.path().string());
  }
  if (error) throw ImageReadError(folder, "cannot list the folder: " + error.message());
  std::sort(paths.begin(), paths.end());
  return paths;
}

}  // namespace edgead
