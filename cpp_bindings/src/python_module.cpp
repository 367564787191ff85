// nanobind glue only: numpy arrays <-> cv::Mat views, C++ exceptions -> Python ones. The behaviour is the library's.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include "edgead/edgead.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using Frame = nb::ndarray<nb::device::cpu, nb::c_contig>;

int depth_of(const nb::dlpack::dtype& t) {
  const std::pair<nb::dlpack::dtype, int> table[] = {
      {nb::dtype<std::uint8_t>(), CV_8U}, {nb::dtype<std::uint16_t>(), CV_16U}, {nb::dtype<std::int8_t>(), CV_8S},
      {nb::dtype<std::int16_t>(), CV_16S}, {nb::dtype<std::int32_t>(), CV_32S}, {nb::dtype<float>(), CV_32F},
      {nb::dtype<double>(), CV_64F}};
  for (const auto& [dtype, depth] : table)
    if (dtype == t) return depth;
  const char* kinds[] = {"int", "uint", "float", "bfloat", "complex", "?", "bool"};
  const std::string kind = t.code < 7 ? kinds[t.code] : "?";
  throw edgead::FrameMismatchError("frame dtype " + (kind == "bool" ? kind : kind + std::to_string(t.bits)) +
                                   " is not supported; give uint8 or uint16 pixels");
}

// A view of the numpy frame's memory (no copy): (H, W) or (H, W, C).
cv::Mat view(const Frame& a) {
  if (a.ndim() != 2 && a.ndim() != 3)
    throw edgead::FrameMismatchError("frame has " + std::to_string(a.ndim()) +
                                     " dimensions; expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)");
  const int channels = a.ndim() == 3 ? static_cast<int>(a.shape(2)) : 1;
  if (channels < 1 || channels > CV_CN_MAX)
    throw edgead::FrameMismatchError("frame has " + std::to_string(channels) + " channels; expected 1, 3 or 4");
  return cv::Mat(static_cast<int>(a.shape(0)), static_cast<int>(a.shape(1)), CV_MAKETYPE(depth_of(a.dtype()), channels),
                 const_cast<void*>(a.data()));
}

nb::dlpack::dtype dtype_of(int depth) {
  switch (depth) {
    case CV_8U: return nb::dtype<std::uint8_t>();
    case CV_16U: return nb::dtype<std::uint16_t>();
    case CV_32F: return nb::dtype<float>();
    default: throw edgead::FrameMismatchError("cannot return a cv::Mat of depth " + std::to_string(depth));
  }
}

// A numpy array that owns ``mat`` (moved to the heap; freed with the array): (H, W) or (H, W, C).
nb::ndarray<nb::numpy> to_numpy(cv::Mat mat) {
  auto* owned = new cv::Mat(mat.isContinuous() ? std::move(mat) : mat.clone());
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<cv::Mat*>(p); });
  std::vector<size_t> shape = {static_cast<size_t>(owned->rows), static_cast<size_t>(owned->cols)};
  if (owned->channels() > 1) shape.push_back(static_cast<size_t>(owned->channels()));
  return nb::ndarray<nb::numpy>(owned->data, shape.size(), shape.data(), owner, nullptr, dtype_of(owned->depth()));
}

nb::ndarray<nb::numpy, float> tensor_to_numpy(edgead::Tensor&& tensor) {
  auto* owned = new edgead::Tensor(std::move(tensor));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<edgead::Tensor*>(p); });
  std::vector<size_t> shape(owned->shape.begin(), owned->shape.end());
  return nb::ndarray<nb::numpy, float>(owned->data.data(), shape.size(), shape.data(), owner);
}

std::vector<cv::Mat> views(const std::vector<Frame>& frames) {
  std::vector<cv::Mat> mats;
  for (const auto& f : frames) mats.push_back(view(f));
  return mats;
}

edgead::BackendOptions options(const std::string& precision, int threads, int device_id) {
  return {precision, threads, device_id};
}

}  // namespace

NB_MODULE(_edgead_cpp, m) {
  m.doc() = "edgead C++ runtime";
  m.attr("__version__") = edgead::version();

  // Python exception types mirroring the C++ ones (edgead_cpp.Error is the base); the most derived is raised.
  static PyObject* types[5];
  const char* names[5] = {"Error", "ModelFileError", "FrameMismatchError", "BackendError", "ImageReadError"};
  for (int i = 0; i < 5; ++i) {
    types[i] = PyErr_NewException((std::string("edgead_cpp.") + names[i]).c_str(), i ? types[0] : PyExc_Exception,
                                  nullptr);
    m.attr(names[i]) = nb::borrow(types[i]);
  }
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const edgead::ImageReadError& e) {
      PyErr_SetString(types[4], e.what());
    } catch (const edgead::ModelFileError& e) {
      PyErr_SetString(types[1], e.what());
    } catch (const edgead::FrameMismatchError& e) {
      PyErr_SetString(types[2], e.what());
    } catch (const edgead::BackendError& e) {
      PyErr_SetString(types[3], e.what());
    } catch (const edgead::Error& e) {
      PyErr_SetString(types[0], e.what());
    }
  });

  nb::class_<edgead::ModelMetadata>(m, "ModelMetadata")
      .def_static("from_json", &edgead::ModelMetadata::from_json, "text"_a, "source"_a = "model")
      .def_ro("model", &edgead::ModelMetadata::model)
      .def_ro("backbone", &edgead::ModelMetadata::backbone)
      .def_ro("height", &edgead::ModelMetadata::height)
      .def_ro("width", &edgead::ModelMetadata::width)
      .def_ro("threshold", &edgead::ModelMetadata::threshold)
      .def_ro("part", &edgead::ModelMetadata::part)
      .def_ro("precision", &edgead::ModelMetadata::precision)
      .def_ro("edgead_version", &edgead::ModelMetadata::edgead_version)
      .def_ro("normalization_json", &edgead::ModelMetadata::normalization_json)
      .def_ro("extra_json", &edgead::ModelMetadata::extra_json);

  nb::class_<edgead::Result>(m, "Result")
      .def_ro("score", &edgead::Result::score)
      .def_ro("raw_score", &edgead::Result::raw_score)
      .def_ro("is_anomalous", &edgead::Result::is_anomalous)
      .def_ro("threshold", &edgead::Result::threshold)
      .def_prop_ro("anomaly_map", [](const edgead::Result& r) { return to_numpy(r.anomaly_map); }, nb::rv_policy::move)
      .def_prop_ro("raw_anomaly_map", [](const edgead::Result& r) { return to_numpy(r.raw_anomaly_map); }, nb::rv_policy::move);

  nb::class_<edgead::Backend>(m, "Backend")
      .def_static(
          "open",
          [](const std::string& path, const std::string& name, const std::string& precision, int threads,
             int device_id) { return edgead::open_backend(path, name, options(precision, threads, device_id)); },
          "path"_a, "backend"_a = "auto", "precision"_a = "", "threads"_a = 0, "device_id"_a = 0)
      .def_prop_ro("name", &edgead::Backend::name)
      .def_prop_ro("path", &edgead::Backend::path)
      .def_prop_ro("metadata", &edgead::Backend::metadata)
      .def_prop_ro("input_name", &edgead::Backend::input_name)
      .def_prop_ro("input_shape", &edgead::Backend::input_shape)
      .def_prop_ro("output_names", &edgead::Backend::output_names)
      .def("describe", &edgead::Backend::describe)
      .def("run", [](edgead::Backend& self, nb::ndarray<std::uint8_t, nb::device::cpu, nb::c_contig> batch) {
        std::vector<std::int64_t> shape;
        for (size_t i = 0; i < batch.ndim(); ++i) shape.push_back(static_cast<std::int64_t>(batch.shape(i)));
        edgead::Outputs outputs;
        {
          nb::gil_scoped_release release;
          outputs = self.run(batch.data(), shape);
        }
        nb::dict result;
        for (auto& [name, tensor] : outputs) result[nb::str(name.c_str())] = tensor_to_numpy(std::move(tensor));
        return result;
      }, "batch"_a);

  nb::class_<edgead::Detector>(m, "Detector")
      .def("__init__",
           [](edgead::Detector* self, const std::string& path, const std::string& backend,
              std::optional<double> threshold, const std::string& precision, int threads, int device_id) {
             new (self) edgead::Detector(path, backend, threshold, options(precision, threads, device_id));
           },
           "model_path"_a, "backend"_a = "auto", "threshold"_a = nb::none(), "precision"_a = "", "threads"_a = 0,
           "device_id"_a = 0)
      .def("predict", [](edgead::Detector& self, Frame frame) {
        cv::Mat mat = view(frame);
        nb::gil_scoped_release release;
        return self.predict(mat);
      }, "frame"_a)
      .def("predict_batch", [](edgead::Detector& self, const std::vector<Frame>& frames) {
        std::vector<cv::Mat> mats = views(frames);
        nb::gil_scoped_release release;
        return self.predict_batch(mats);
      }, "frames"_a)
      .def("predict_path", &edgead::Detector::predict_path, "path"_a, nb::call_guard<nb::gil_scoped_release>())
      .def_prop_ro("metadata", &edgead::Detector::metadata)
      .def_prop_rw("threshold", &edgead::Detector::threshold, &edgead::Detector::set_threshold)
      .def("describe", [](edgead::Detector& self) { return self.backend().describe(); });

  m.def("available_backends", &edgead::available_backends);
  m.def("read_image", [](const std::string& path) { return to_numpy(edgead::read_image(path)); },
        "path"_a);
  m.def("prepare_frame", [](Frame frame, std::pair<int, int> size) {
    return to_numpy(edgead::prepare_frame(view(frame), size.first, size.second));
  }, "frame"_a, "size"_a);
}
