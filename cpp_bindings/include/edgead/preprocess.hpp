// The one preprocessing rule, exactly as runtime/edgead_runtime/preprocess.py: any decoded frame (grey, BGR,
// BGRA; 8- or 16-bit; any size) becomes a uint8 BGR frame at the model size. Normalization and colour order
// are inside the exported graph, so this is all that happens outside it.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace edgead {

/// Read an image file as stored (any depth and channel count); ImageReadError if unreadable.
cv::Mat read_image(const std::string& path);

/// uint8 BGR of any common layout: 16-bit -> uint8 as float(x) / 257 + 0.5 truncated; grey and BGRA -> BGR.
cv::Mat to_bgr8(const cv::Mat& image);

/// The graph's input frame: uint8 BGR at (height, width); shrinking uses INTER_AREA, growing INTER_LINEAR.
cv::Mat prepare_frame(const cv::Mat& image, int height, int width);

/// Image files directly inside ``folder`` (.png .jpg .jpeg .bmp .tif .tiff .webp), sorted by name.
std::vector<std::string> list_images(const std::string& folder);

}  // namespace edgead
