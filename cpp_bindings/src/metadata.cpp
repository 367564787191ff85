#include "edgead/metadata.hpp"

#include <set>

#include <nlohmann/json.hpp>

#include "edgead/errors.hpp"

namespace edgead {
namespace {

using nlohmann::json;

const std::set<std::string> kKnownKeys = {"format_version", "edgead_version", "model",      "backbone",
                                          "part",           "precision",      "input",      "outputs",
                                          "normalization",  "threshold"};

[[noreturn]] void malformed(const std::string& source, const std::string& why) {
  throw ModelFileError(source + ": edgead metadata is malformed (" + why + "); re-export the model");
}

const json& required(const json& object, const char* key, const std::string& where, const std::string& source) {
  auto it = object.find(key);
  if (it == object.end()) malformed(source, "missing key '" + where + key + "'");
  return *it;
}

std::string text_or(const json& data, const char* key, const std::string& fallback, const std::string& source) {
  auto it = data.find(key);
  if (it == data.end()) return fallback;
  if (!it->is_string()) malformed(source, std::string("'") + key + "' is " + it->dump() + ", not a string");
  return it->get<std::string>();
}

int dimension(const json& input, const char* key, const std::string& source) {
  const json& value = required(input, key, "input.", source);
  if (!value.is_number_integer() || value.get<long long>() < 1)
    malformed(source, std::string("'input.") + key + "' is " + value.dump() + ", not a positive integer");
  return value.get<int>();
}

}  // namespace

ModelMetadata ModelMetadata::from_json(const std::string& text, const std::string& source) {
  json data;
  try {
    data = json::parse(text);
  } catch (const json::parse_error& exc) {
    malformed(source, std::string("not JSON: ") + exc.what());
  }
  if (!data.is_object()) malformed(source, "not a JSON object");
  auto version = data.find("format_version");
  if (version != data.end() && (!version->is_number_integer() || version->get<int>() > kFormatVersion))
    malformed(source, "format_version " + version->dump() + " is newer than this runtime's " +
                          std::to_string(kFormatVersion) + "; update edgead");
  ModelMetadata meta;
  const json& model = required(data, "model", "", source);
  if (!model.is_string()) malformed(source, "'model' is " + model.dump() + ", not a string");
  meta.model = model.get<std::string>();
  const json& input = required(data, "input", "", source);
  if (!input.is_object()) malformed(source, "'input' is " + input.dump() + ", not an object");
  meta.height = dimension(input, "height", source);
  meta.width = dimension(input, "width", source);
  meta.backbone = text_or(data, "backbone", meta.backbone, source);
  meta.part = text_or(data, "part", meta.part, source);
  meta.precision = text_or(data, "precision", meta.precision, source);
  meta.edgead_version = text_or(data, "edgead_version", meta.edgead_version, source);
  if (auto it = data.find("threshold"); it != data.end()) {
    if (!it->is_number()) malformed(source, "'threshold' is " + it->dump() + ", not a number");
    meta.threshold = it->get<double>();
  }
  if (auto it = data.find("normalization"); it != data.end()) meta.normalization_json = it->dump();
  json extra = json::object();
  for (auto it = data.begin(); it != data.end(); ++it)
    if (!kKnownKeys.count(it.key())) extra[it.key()] = it.value();
  meta.extra_json = extra.dump();
  return meta;
}

ModelMetadata embedded_metadata(const std::string* text, const std::string& path, const std::string& where,
                                const std::string& format) {
  if (text == nullptr)
    throw ModelFileError("'" + path + "' has no edgead metadata (" + where + " key '" + kMetadataKey +
                         "'); export it with `edgead export RUN_DIR --format " + format + "`");
  return ModelMetadata::from_json(*text, path);
}

}  // namespace edgead
