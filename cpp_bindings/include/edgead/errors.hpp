// Typed errors: each names the file or value that is wrong and how to fix it (as edgead_runtime/errors.py).
#pragma once

#include <stdexcept>
#include <string>

namespace edgead {

/// Base class of every error a user can act on.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A model file is missing, truncated, or lacks edgead metadata.
class ModelFileError : public Error {
 public:
  using Error::Error;
};

/// A frame does not fit the model (size, channels or depth).
class FrameMismatchError : public Error {
 public:
  using Error::Error;
};

/// A backend name, option or device that this build or machine cannot give.
class BackendError : public Error {
 public:
  using Error::Error;
};

/// An image file is missing, truncated or not an image.
class ImageReadError : public Error {
 public:
  ImageReadError(const std::string& path, const std::string& reason)
      : Error("cannot read image '" + path + "': " + reason), path(path), reason(reason) {}
  std::string path;
  std::string reason;
};

}  // namespace edgead
