// classify_folder MODEL FOLDER [THRESHOLD]: one verdict per image of FOLDER, as `edgead-runtime predict` prints.
#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include <edgead/edgead.hpp>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL(.onnx|.xml|.engine) FOLDER [THRESHOLD]\n", argv[0]);
    return 2;
  }
  try {
    std::optional<double> threshold;
    if (argc > 3) threshold = std::stod(argv[3]);
    edgead::Detector detector(argv[1], "auto", threshold);  // backend from the suffix
    std::printf("%s (%s, %dx%d), threshold %.3f\n", argv[1], detector.metadata().model.c_str(),
                detector.metadata().width, detector.metadata().height, detector.threshold());
    int anomalous = 0, total = 0;
    for (const std::string& path : edgead::list_images(argv[2])) {
      try {
        const edgead::Result r = detector.predict(edgead::read_image(path));
        std::printf("%-60s score %.4f  %s\n", path.c_str(), r.score, r.is_anomalous ? "ANOMALOUS" : "good");
        anomalous += r.is_anomalous;
        ++total;
      } catch (const edgead::ImageReadError& e) {  // one bad file does not stop the folder
        std::printf("%-60s error: %s\n", path.c_str(), e.what());
      }
    }
    std::printf("%d of %d images anomalous\n", anomalous, total);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
