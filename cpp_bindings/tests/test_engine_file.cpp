// The TensorRT engine sidecar rules of runtime/edgead_runtime/engine_file.py, without TensorRT.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "check.hpp"
#include "edgead/edgead.hpp"

using edgead::ModelFileError;
using nlohmann::json;
namespace fs = std::filesystem;

static json sidecar(const std::string& sha, std::int64_t bytes) {
  return {{"model", "patchcore"},
          {"input", {{"height", 64}, {"width", 64}}},
          {"threshold", 0.5},
          {"tensorrt",
           {{"tensorrt_version", "8.6.2.3"}, {"device", "Orin"}, {"compute_capability", "8.7"}, {"precision", "fp16"},
            {"precision_mode", "builder"}, {"batch", {{"min", 1}, {"opt", 4}, {"max", 8}}}, {"source_onnx", "m.onnx"},
            {"build_args", {"--precision", "fp16", "--max-batch", "8"}}, {"dla_core", nullptr},
            {"engine_bytes", bytes}, {"engine_sha256", sha}}}};
}

int main() {
  CHECK((edgead::parse_version("8.5.2.2") == std::vector<int>{8, 5, 2, 2}));
  CHECK((edgead::parse_version("10.0.0b6") == std::vector<int>{10, 0, 0}));
  CHECK_THROWS(edgead::parse_version("x1"), std::invalid_argument, "not a version number");
  CHECK(edgead::io_api("8.6.1") == "binding" && edgead::io_api("8.5.2.2") == "binding");
  CHECK(edgead::io_api("10.3.0") == "tensor" && edgead::io_api("11.0") == "tensor");
  CHECK(edgead::trt_version_string(8502) == "8.5.2" && edgead::trt_version_string(8601) == "8.6.1");
  CHECK(edgead::trt_version_string(9200) == "9.2.0" && edgead::trt_version_string(100300) == "10.3.0");
  CHECK(edgead::trt_version_string(110100) == "11.1.0" && edgead::trt_version_string(101303) == "10.13.3");
  // FIPS 180-2 test vector
  CHECK(edgead::sha256_hex("abc", 3) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(edgead::sidecar_path("a/m.engine") == "a/m.engine.json");

  const auto dir = fs::temp_directory_path() / "edgead test engine";  // a space: the command must quote it
  fs::create_directories(dir);
  const std::string engine = (dir / "m.engine").string();
  CHECK_THROWS(edgead::read_engine(engine), ModelFileError, "does not exist; build it with `edgead export");
  const std::string plan = "not really a plan";
  std::ofstream(engine, std::ios::binary) << plan;
  CHECK_THROWS(edgead::read_engine(engine), ModelFileError, "has no metadata file 'm.engine.json' beside it");
  std::ofstream(engine + ".json") << R"({"model": "x"})";
  CHECK_THROWS(edgead::read_engine(engine), ModelFileError, "has no 'tensorrt' section");
  std::ofstream(engine + ".json") << sidecar(edgead::sha256_hex(plan.data(), plan.size()), 17).dump();
  const auto file = edgead::read_engine(engine);
  CHECK(file.metadata.model == "patchcore" && file.metadata.height == 64);
  CHECK(file.info.batch_max == 8 && !file.info.dla_core && file.info.precision_mode == "builder");
  CHECK(std::string(file.data.begin(), file.data.end()) == plan);
  CHECK(file.metadata.extra_json.find("tensorrt") == std::string::npos);

  const std::string command = edgead::rebuild_command(engine, file.info);
  CHECK(command == "edgead export '" + (dir / "m.onnx").string() + "' --format trt --precision fp16 --max-batch 8 -o '" +
                       engine + "'");
  std::ofstream(engine + ".json") << sidecar(std::string(64, '0'), 17).dump();
  CHECK_THROWS(edgead::read_engine(engine), ModelFileError, "other SHA-256): copy the matching pair, or rebuild it");
  auto broken = sidecar("", 0);
  broken["tensorrt"].erase("batch");
  std::ofstream(engine + ".json") << broken.dump();
  CHECK_THROWS(edgead::read_engine(engine), ModelFileError, "the 'tensorrt' metadata is malformed");

  // version and architecture rules: major.minor.patch and compute capability must match
  CHECK(edgead::compatibility_problem(engine, file.info, "8.6.2.9", "Orin", "8.7").empty());
  CHECK(edgead::compatibility_problem(engine, file.info, "8.6.1", "Orin", "8.7").find("TensorRT 8.6.1") !=
        std::string::npos);
  CHECK(edgead::compatibility_problem(engine, file.info, "8.6.2", "RTX 4090", "8.9").find(command) != std::string::npos);
  CHECK(edgead::device_warning(engine, file.info, "Orin").empty());
  CHECK(edgead::device_warning(engine, file.info, "Orin NX").find("its kernels were chosen") != std::string::npos);
  const auto failure = edgead::deserialize_failure(engine, file.info, "8.6.2", "Orin", {" bad magic \n", ""});
  CHECK(failure.find("TensorRT said: bad magic. Rebuild it on this machine") != std::string::npos);
  CHECK(failure.find(command) != std::string::npos);  // the command keeps its case (no capitalize())
  CHECK(edgead::deserialize_failure(engine, file.info, "8.6.2", "Orin", {}).find("nothing logged") != std::string::npos);
  fs::remove_all(dir);
  return finish("test_engine_file");
}
