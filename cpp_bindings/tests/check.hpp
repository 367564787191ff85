// A minimal test harness: CHECK(cond), CHECK_THROWS(expr, Type, "substring of what()"); main returns failures.
#pragma once

#include <iostream>
#include <string>

inline int g_failures = 0;
inline int g_checks = 0;

#define CHECK(cond)                                                                             \
  do {                                                                                          \
    ++g_checks;                                                                                 \
    if (!(cond)) {                                                                              \
      ++g_failures;                                                                             \
      std::cerr << __FILE__ << ":" << __LINE__ << ": CHECK(" #cond ") failed" << std::endl;     \
    }                                                                                           \
  } while (0)

#define CHECK_THROWS(expr, Type, substring)                                                                 \
  do {                                                                                                      \
    ++g_checks;                                                                                             \
    try {                                                                                                   \
      (void)(expr);                                                                                         \
      ++g_failures;                                                                                         \
      std::cerr << __FILE__ << ":" << __LINE__ << ": " #expr " did not throw " #Type << std::endl;          \
    } catch (const Type& exc) {                                                                             \
      if (std::string(exc.what()).find(substring) == std::string::npos) {                                   \
        ++g_failures;                                                                                       \
        std::cerr << __FILE__ << ":" << __LINE__ << ": " #Type " message lacks '" << (substring)            \
                  << "': " << exc.what() << std::endl;                                                      \
      }                                                                                                     \
    }                                                                                                       \
  } while (0)

inline int finish(const char* name) {
  std::cout << name << ": " << g_checks - g_failures << " of " << g_checks << " checks passed" << std::endl;
  return g_failures == 0 ? 0 : 1;
}
