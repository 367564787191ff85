#include "edgead/engine_file.hpp"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "edgead/errors.hpp"

namespace edgead {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kTrtKey = "tensorrt";

std::string as_text(const json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

// Python's shlex.quote: unchanged when only [\w@%+=:,./-], else single-quoted with ' as '"'"'.
std::string shell_quote(const std::string& s) {
  if (s.empty()) return "''";
  bool safe = true;
  for (unsigned char c : s) safe = safe && (std::isalnum(c) || c == '_' || std::string("@%+=:,./-").find(c) != std::string::npos);
  if (safe) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\"'\"'") : std::string(1, c);
  return out + "'";
}

std::vector<int> first3(std::vector<int> v) {
  if (v.size() > 3) v.resize(3);
  return v;
}

std::string join_log(const std::vector<std::string>& log) {
  std::string out;
  for (const auto& line : log) {
    auto b = line.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) continue;
    auto e = line.find_last_not_of(" \t\r\n");
    out += (out.empty() ? "" : "; ") + line.substr(b, e - b + 1);
  }
  return out.empty() ? "nothing logged" : out;
}

}  // namespace

std::string sidecar_path(const std::string& engine) { return engine + ".json"; }

std::vector<int> parse_version(const std::string& text) {
  std::vector<int> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find('.', start);
    std::string piece = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::size_t digits = 0;
    while (digits < piece.size() && std::isdigit(static_cast<unsigned char>(piece[digits]))) ++digits;
    if (digits == 0) break;
    parts.push_back(std::stoi(piece.substr(0, digits)));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (parts.empty()) throw std::invalid_argument("'" + text + "' is not a version number");
  return parts;
}

std::string trt_version_string(int v) {
  const int major = v >= 100000 ? v / 10000 : v / 1000, minor = v >= 100000 ? v / 100 % 100 : v / 100 % 10;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(v % 100);
}

std::string io_api(const std::string& tensorrt_version) {
  return parse_version(tensorrt_version)[0] < 10 ? "binding" : "tensor";
}

EngineInfo engine_info_from_json(const std::string& text, const std::string& source) {
  try {
    const json data = json::parse(text);
    EngineInfo info;
    info.tensorrt_version = as_text(data.at("tensorrt_version"));
    info.device = as_text(data.at("device"));
    info.compute_capability = as_text(data.at("compute_capability"));
    info.precision = as_text(data.at("precision"));
    info.precision_mode = as_text(data.value("precision_mode", json("graph")));
    const json& batch = data.at("batch");
    info.batch_min = batch.at("min").get<int>();
    info.batch_opt = batch.at("opt").get<int>();
    info.batch_max = batch.at("max").get<int>();
    info.source_onnx = as_text(data.value("source_onnx", json("model.onnx")));
    for (const auto& arg : data.value("build_args", json::array())) info.build_args.push_back(as_text(arg));
    if (data.contains("dla_core") && !data["dla_core"].is_null()) info.dla_core = data["dla_core"].get<int>();
    info.engine_bytes = data.value("engine_bytes", std::int64_t{0});
    info.engine_sha256 = as_text(data.value("engine_sha256", json("")));
    return info;
  } catch (const json::exception& exc) {
    throw ModelFileError(source + ": the '" + kTrtKey + "' metadata is malformed (" + exc.what() +
                         "); rebuild the engine");
  }
}

EngineFile read_engine(const std::string& path) {
  if (!fs::is_regular_file(path))
    throw ModelFileError("engine file '" + path + "' does not exist; build it with `edgead export MODEL.onnx --format trt -o " +
                         path + "`");
  const std::string side = sidecar_path(path);
  const std::string side_name = fs::path(side).filename().string();
  if (!fs::is_regular_file(side))
    throw ModelFileError("'" + path + "' has no metadata file '" + side_name +
                         "' beside it; copy it together with the engine, or rebuild both with `edgead export "
                         "MODEL.onnx --format trt -o " + path + "`");
  json meta;
  try {
    std::ifstream in(side);
    meta = json::parse(in);
  } catch (const json::exception& exc) {
    throw ModelFileError("cannot read '" + side + "' (" + exc.what() + "); rebuild the engine with `edgead export`");
  }
  if (!meta.is_object() || !meta.contains(kTrtKey))
    throw ModelFileError("'" + side + "' has no '" + kTrtKey + "' section; it is not an edgead engine sidecar, rebuild it");
  EngineFile file;
  file.info = engine_info_from_json(meta[kTrtKey].dump(), side);
  std::ifstream in(path, std::ios::binary);
  file.data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  const std::string digest = sha256_hex(file.data.data(), file.data.size());
  if (!file.info.engine_sha256.empty() && digest != file.info.engine_sha256)
    throw ModelFileError("'" + path + "' (" + std::to_string(file.data.size()) + " bytes) is not the engine '" +
                         side_name + "' describes (" + std::to_string(file.info.engine_bytes) +
                         " bytes, other SHA-256): copy the matching pair, or " + rebuild_hint(path, file.info));
  meta.erase(kTrtKey);
  file.metadata = ModelMetadata::from_json(meta.dump(), side);
  return file;
}

std::string rebuild_command(const std::string& engine, const EngineInfo& info) {
  const std::string onnx = (fs::path(engine).parent_path() / info.source_onnx).string();
  std::vector<std::string> args = {"edgead", "export", onnx, "--format", "trt"};
  args.insert(args.end(), info.build_args.begin(), info.build_args.end());
  args.insert(args.end(), {"-o", engine});
  std::string out;
  for (const auto& a : args) out += (out.empty() ? "" : " ") + shell_quote(a);
  return out;
}

std::string rebuild_hint(const std::string& engine, const EngineInfo& info) {
  return "rebuild it on this machine from its ONNX graph: `" + rebuild_command(engine, info) + "`";
}

std::string compatibility_problem(const std::string& engine, const EngineInfo& info,
                                  const std::string& tensorrt_version, const std::string& device,
                                  const std::string& compute_capability) {
  if (first3(parse_version(info.tensorrt_version)) == first3(parse_version(tensorrt_version)) &&
      info.compute_capability == compute_capability)
    return "";
  return "'" + engine + "' was built with TensorRT " + info.tensorrt_version + " on " + info.device +
         " (compute capability " + info.compute_capability + "); this machine runs TensorRT " + tensorrt_version +
         " on " + device + " (compute capability " + compute_capability +
         "). An engine only loads with the TensorRT version and GPU it was built for: " + rebuild_hint(engine, info);
}

std::string device_warning(const std::string& engine, const EngineInfo& info, const std::string& device) {
  if (info.device == device) return "";
  return "'" + engine + "' was built on " + info.device + " and runs on " + device + " (same compute capability " +
         info.compute_capability + "); its kernels were chosen for the other GPU: for the best latency, " +
         rebuild_hint(engine, info);
}

std::string deserialize_failure(const std::string& engine, const EngineInfo& info,
                                const std::string& tensorrt_version, const std::string& device,
                                const std::vector<std::string>& log) {
  std::string hint = rebuild_hint(engine, info);
  hint[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(hint[0])));
  return "TensorRT " + tensorrt_version + " on " + device + " could not load '" + engine + "' (built with TensorRT " +
         info.tensorrt_version + " on " + info.device + "); TensorRT said: " + join_log(log) + ". " + hint;
}

std::string sha256_hex(const void* data, std::size_t size) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data, size, digest, &length, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL EVP_Digest(sha256) failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

}  // namespace edgead
