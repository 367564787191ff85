// edgead-cpp-bench: the C++ runtime's latency per stage, in the JSON schema of `edgead-runtime bench`
// ("edgead-bench/2", docs/bench.md), so `edgead-runtime bench --merge` puts a C++ run beside a Python one.
// Same method: targets timed round-robin in blocks of --block calls after one untimed settling call; stages
// decode (read_image), preprocess (prepare_frame), graph (Backend::run per batch size), postprocess (make_result).
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <numeric>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "edgead/edgead.hpp"

using nlohmann::json;

namespace {

const char* kUsage = R"(usage: edgead-cpp-bench MODEL [MODEL ...] [--backend auto|openvino|onnxruntime|tensorrt]
                         [--precision P] [--threads N] [--batch N ...] [--warmup N] [--iters N] [--block N]
                         [--source IMAGE|DIR] [--json OUT]

Times the edgead C++ runtime per stage: decode (read_image), preprocess (prepare_frame), graph (the backend
call, per batch size) and postprocess (make_result), and prints the report as JSON (schema "edgead-bench/2",
the same as `edgead-runtime bench --json`; docs/bench.md). Several models are timed round-robin in one run.
  --source IMAGE|DIR   the frame to decode (a folder: its images in turn); default: a synthetic PNG at twice
                       the first model's size
  --batch N ...        batch sizes (default 1 8); --warmup 10, --iters 100, --block 10 as in the Python bench
Compare with Python:   edgead-runtime bench MODEL --backend openvino --merge cpp.json
)";

struct Args {
  std::vector<std::string> models;
  std::string backend = "auto", precision, source, json_out;
  int threads = 0, warmup = 10, iters = 100, block = 10;
  std::vector<int> batches;
};

int to_int(const std::string& flag, const std::string& value) {
  try {
    std::size_t used = 0;
    int n = std::stoi(value, &used);
    if (used == value.size() && n >= 0) return n;
  } catch (const std::exception&) {
  }
  throw std::invalid_argument(flag + " takes a non-negative integer, got '" + value + "'");
}

Args parse(int argc, char** argv) {
  Args a;
  std::vector<std::string> v(argv + 1, argv + argc);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string& f = v[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= v.size() || v[i + 1].rfind("--", 0) == 0) throw std::invalid_argument(f + " needs a value");
      return v[++i];
    };
    if (f == "-h" || f == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (f == "--backend") a.backend = value();
    else if (f == "--precision") a.precision = value();
    else if (f == "--threads") a.threads = to_int(f, value());
    else if (f == "--warmup") a.warmup = to_int(f, value());
    else if (f == "--iters") a.iters = to_int(f, value());
    else if (f == "--block") a.block = to_int(f, value());
    else if (f == "--source") a.source = value();
    else if (f == "--json") a.json_out = value();
    else if (f == "--batch") {
      a.batches.push_back(to_int(f, value()));
      while (i + 1 < v.size() && v[i + 1].rfind("--", 0) != 0) a.batches.push_back(to_int(f, v[++i]));
    } else if (f.rfind("--", 0) == 0) throw std::invalid_argument("unknown option " + f + " (see --help)");
    else a.models.push_back(f);
  }
  if (a.models.empty()) throw std::invalid_argument("give at least one model file (see --help)");
  if (a.batches.empty()) a.batches = {1, 8};
  if (a.iters < 1 || a.block < 1 || *std::min_element(a.batches.begin(), a.batches.end()) < 1)
    throw std::invalid_argument("--iters, --block and batch sizes must be >= 1");
  return a;
}

// ------------------------------------------------------------------ timing (bench.py's time_interleaved_samples)

using Call = std::function<void()>;

std::vector<std::vector<double>> time_interleaved(const std::vector<Call>& calls, int warmup, int iters, int block) {
  for (const auto& call : calls)
    for (int i = 0; i < warmup; ++i) call();
  std::vector<std::vector<double>> samples(calls.size());
  while (static_cast<int>(samples[0].size()) < iters) {
    for (std::size_t c = 0; c < calls.size(); ++c) {
      calls[c]();  // untimed: lets the previous engine's threads go idle
      const int n = std::min(block, iters - static_cast<int>(samples[c].size()));
      for (int k = 0; k < n; ++k) {
        const auto start = std::chrono::steady_clock::now();
        calls[c]();
        samples[c].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      }
    }
  }
  return samples;
}

double percentile(std::vector<double> v, double q) {  // numpy's default (linear) interpolation
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

json stats(const std::vector<double>& ms) {
  const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
  double var = 0;
  for (double x : ms) var += (x - mean) * (x - mean);
  const double std_ms = ms.size() > 1 ? std::sqrt(var / static_cast<double>(ms.size() - 1)) : 0.0;
  return {{"iters", ms.size()}, {"mean_ms", mean}, {"std_ms", std_ms}, {"p50_ms", percentile(ms, 50)},
          {"p90_ms", percentile(ms, 90)}, {"p99_ms", percentile(ms, 99)}};
}

// ------------------------------------------------------------------ machine (bench.py's machine_info)

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

json machine() {
  std::string cpu;
  std::set<std::string> cores;
  std::string physical, line;
  std::istringstream info(read_file("/proc/cpuinfo"));
  while (std::getline(info, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1), value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    if (key == "model name" && cpu.empty()) cpu = value;
    if (key == "physical id") physical = value;
    if (key == "core id") cores.insert(physical + ":" + value);
  }
  cpu_set_t set;
  const int available = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : -1;
  utsname u{};
  uname(&u);
  const long threads = sysconf(_SC_NPROCESSORS_ONLN);
  return {{"cpu", cpu.empty() ? std::string(u.machine) : cpu},
          {"cores", cores.empty() ? json(threads) : json(cores.size())},
          {"threads", threads},
          {"cpus_available", available},
          {"platform", std::string(u.sysname) + "-" + u.release + "-" + u.machine},
          {"python", nullptr},
          {"numpy", nullptr},
          {"opencv", CV_VERSION},
          {"onnxruntime", nullptr},
          {"openvino", nullptr},
          {"tensorrt", nullptr},
          {"edgead_runtime", nullptr},
          {"edgead_cpp", edgead::version()},
          {"gpus", nullptr},
          {"jetson", nullptr}};
}

double peak_rss_mb() {
  std::istringstream status(read_file("/proc/self/status"));
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

cv::Mat synthetic_frame(int height, int width) {  // gradients plus noise, as bench.py's synthetic_frame
  cv::Mat frame(height, width, CV_8UC3), noise(height, width, CV_32SC3);
  cv::RNG(0).fill(noise, cv::RNG::UNIFORM, -20, 21);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const cv::Vec3i n = noise.at<cv::Vec3i>(y, x);
      const int base[3] = {x * 255 / std::max(width - 1, 1), y * 255 / std::max(height - 1, 1), (x + y) % 256};
      for (int c = 0; c < 3; ++c) frame.at<cv::Vec3b>(y, x)[c] = cv::saturate_cast<std::uint8_t>(base[c] + n[c]);
    }
  return frame;
}

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", std::gmtime(&t));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    const edgead::BackendOptions options{a.precision, a.threads, 0};
    const double baseline_mb = peak_rss_mb();
    std::vector<std::unique_ptr<edgead::Backend>> backends;
    json reports = json::array();
    for (const auto& model : a.models) {
      const auto start = std::chrono::steady_clock::now();
      backends.push_back(edgead::open_backend(model, a.backend, options));
      const double open_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      const auto& b = *backends.back();
      const auto& m = b.metadata();
      json engine = json::object();
      for (const auto& [k, v] : b.describe())
        engine[k] = !v.empty() && std::all_of(v.begin(), v.end(), ::isdigit) ? json(std::stoll(v)) : json(v);
      const std::string name = "cpp-" + b.name();
      const std::string file = model.substr(model.find_last_of('/') + 1);
      reports.push_back({{"label", file + " " + name + (a.precision.empty() ? "" : ":" + a.precision)},
                         {"path", model}, {"backend", name},
                         {"precision", a.precision.empty() ? json(nullptr) : json(a.precision)},
                         {"engine", engine}, {"model", m.model}, {"backbone", m.backbone}, {"part", m.part},
                         {"input_size", {m.height, m.width}}, {"startup", {{"open_ms", open_ms}}},
                         {"batches", json::array()}});
    }
    const double opened_mb = peak_rss_mb();
    std::vector<std::string> sources;
    std::string synthetic;
    if (a.source.empty()) {
      synthetic = "/tmp/edgead-cpp-bench-" + std::to_string(getpid()) + ".png";
      cv::imwrite(synthetic, synthetic_frame(2 * backends[0]->metadata().height, 2 * backends[0]->metadata().width));
      sources = {synthetic};
    } else {
      sources = std::filesystem::is_directory(a.source) ? edgead::list_images(a.source) : std::vector{a.source};
      if (sources.empty()) throw std::invalid_argument("--source '" + a.source + "' has no images");
    }
    const cv::Mat frame = edgead::read_image(sources[0]);
    std::size_t next = 0;
    const auto decode = time_interleaved({[&] { edgead::read_image(sources[next++ % sources.size()]); }}, a.warmup,
                                         a.iters, a.block)[0];
    if (!synthetic.empty()) std::remove(synthetic.c_str());

    // stages: the first call (cold), preprocess, postprocess; then the graph per batch size
    std::vector<cv::Mat> prepared;
    std::vector<Call> pre, post;
    std::vector<edgead::Outputs> first;
    for (std::size_t t = 0; t < backends.size(); ++t) {
      auto& b = *backends[t];
      const int h = b.metadata().height, w = b.metadata().width;
      prepared.push_back(edgead::prepare_frame(frame, h, w));
      const auto start = std::chrono::steady_clock::now();
      first.push_back(b.run(prepared.back().data, {1, h, w, 3}));
      reports[t]["startup"]["first_call_ms"] =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      pre.push_back([&frame, h, w] { edgead::prepare_frame(frame, h, w); });
    }
    const auto pre_ms = time_interleaved(pre, a.warmup, a.iters, a.block);
    std::vector<std::size_t> full;
    for (std::size_t t = 0; t < backends.size(); ++t) {
      const auto& names = backends[t]->output_names();
      bool ok = true;
      for (const auto& n : edgead::kOutputNames) ok = ok && std::count(names.begin(), names.end(), n);
      if (!ok) continue;
      full.push_back(t);
      const double threshold = backends[t]->metadata().threshold;
      post.push_back([&first, &frame, t, threshold] { edgead::make_result(first[t], 0, frame.size(), threshold); });
    }
    const auto post_ms = post.empty() ? std::vector<std::vector<double>>{} : time_interleaved(post, a.warmup, a.iters, a.block);
    for (std::size_t t = 0; t < backends.size(); ++t) {
      reports[t]["preprocess"] = stats(pre_ms[t]);
      auto it = std::find(full.begin(), full.end(), t);
      reports[t]["postprocess"] = it == full.end() ? json(nullptr) : stats(post_ms[it - full.begin()]);
    }
    std::vector<std::size_t> refs;  // bench.py's reference_indices
    for (std::size_t t = 0; t < a.models.size(); ++t) {
      const auto same = std::count(a.models.begin(), a.models.end(), a.models[t]);
      refs.push_back(same > 1 ? std::find(a.models.begin(), a.models.end(), a.models[t]) - a.models.begin() : 0);
    }
    for (int n : a.batches) {
      std::vector<std::vector<std::uint8_t>> inputs;
      std::vector<Call> calls;
      for (std::size_t t = 0; t < backends.size(); ++t) {
        const cv::Mat& p = prepared[t];
        inputs.emplace_back();
        for (int k = 0; k < n; ++k) inputs.back().insert(inputs.back().end(), p.data, p.data + p.total() * 3);
      }
      for (std::size_t t = 0; t < backends.size(); ++t) {
        const std::vector<std::int64_t> shape = {n, prepared[t].rows, prepared[t].cols, 3};
        calls.push_back([&, t, shape] { backends[t]->run(inputs[t].data(), shape); });
      }
      const auto samples = time_interleaved(calls, a.warmup, a.iters, a.block);
      std::vector<json> s;
      for (const auto& ms : samples) s.push_back(stats(ms));
      for (std::size_t t = 0; t < backends.size(); ++t) {
        json batch = s[t];
        const double fps = n * 1e3 / s[t]["mean_ms"].get<double>();
        batch["batch"] = n;
        batch["fps"] = fps;
        batch["ratio_to_reference"] = s[t]["p50_ms"].get<double>() / s[refs[t]]["p50_ms"].get<double>();
        batch["fps_ratio_to_reference"] = fps / (n * 1e3 / s[refs[t]]["mean_ms"].get<double>());
        batch["samples_ms"] = samples[t];
        reports[t]["batches"].push_back(batch);
      }
    }
    const double decode_p50 = percentile(decode, 50), peak_mb = peak_rss_mb();
    for (std::size_t t = 0; t < backends.size(); ++t) {
      json& r = reports[t];
      r["reference"] = reports[refs[t]]["label"];
      r["accuracy"] = nullptr;
      r["memory"] = {{"batch", *std::max_element(a.batches.begin(), a.batches.end())}, {"baseline_mb", baseline_mb},
                     {"after_open_mb", opened_mb}, {"peak_mb", peak_mb}, {"model_mb", peak_mb - baseline_mb},
                     {"isolated", backends.size() == 1}};
      if (r["postprocess"].is_null()) {
        r["pipeline_fps"] = nullptr;
        continue;
      }
      const json& smallest = r["batches"][std::min_element(a.batches.begin(), a.batches.end()) - a.batches.begin()];
      const double per_frame = decode_p50 + r["preprocess"]["p50_ms"].get<double>() +
                               smallest["p50_ms"].get<double>() / smallest["batch"].get<double>() +
                               r["postprocess"]["p50_ms"].get<double>();
      r["pipeline_fps"] = 1e3 / per_frame;
    }
    json opts = json::object();
    if (a.threads) opts["intra_op_threads"] = a.threads;
    const json report = {
        {"schema", "edgead-bench/2"}, {"created_utc", iso_now()}, {"machine", machine()},
        {"settings", {{"batch_sizes", a.batches}, {"warmup", a.warmup}, {"iters", a.iters}, {"block", a.block},
                      {"interleaved", backends.size() > 1}, {"source", a.source.empty() ? json(nullptr) : json(a.source)},
                      {"frame_size", {frame.rows, frame.cols}}, {"backend_options", opts}, {"accuracy_data", nullptr},
                      {"memory", true}, {"runtime", "cpp"}}},
        {"decode", stats(decode)}, {"targets", reports}, {"process_peak_rss_mb", peak_mb}};
    for (const auto& r : reports)
      for (const auto& b : r["batches"])
        std::cerr << r["label"].get<std::string>() << "  batch " << b["batch"] << ": p50 " << b["p50_ms"].get<double>()
                  << " ms, " << b["fps"].get<double>() << " fps; preprocess p50 " << r["preprocess"]["p50_ms"].get<double>()
                  << " ms" << std::endl;
    if (a.json_out.empty()) {
      std::cout << report.dump(2) << std::endl;
    } else {
      std::ofstream(a.json_out) << report.dump(2) << std::endl;
      std::cerr << "wrote " << a.json_out << "; compare: edgead-runtime bench MODEL --merge " << a.json_out << std::endl;
    }
    return 0;
  } catch (const std::exception& exc) {
    std::cerr << "error: " << exc.what() << std::endl;
    return 2;
  }
}
