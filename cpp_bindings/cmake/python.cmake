# The nanobind module edgead_cpp._edgead_cpp, built by scikit-build-core (`pip install ./cpp_bindings`).
if(NOT SKBUILD)
  message(FATAL_ERROR "EDGEAD_BUILD_PYTHON is for scikit-build-core; build the Python module with "
                      "`pip install ./cpp_bindings` (the C++ library alone: leave EDGEAD_BUILD_PYTHON off)")
endif()
find_package(Python 3.10 COMPONENTS Interpreter Development.Module REQUIRED)
execute_process(COMMAND "${Python_EXECUTABLE}" -m nanobind --cmake_dir
                OUTPUT_STRIP_TRAILING_WHITESPACE OUTPUT_VARIABLE nanobind_ROOT)
find_package(nanobind CONFIG REQUIRED)
nanobind_add_module(_edgead_cpp NB_STATIC src/python_module.cpp)
target_link_libraries(_edgead_cpp PRIVATE edgead)
# libopenvino.so comes from the openvino wheel beside this package in site-packages (__init__ imports it first)
set_target_properties(_edgead_cpp PROPERTIES INSTALL_RPATH "$ORIGIN/../openvino/libs")
install(TARGETS _edgead_cpp LIBRARY DESTINATION edgead_cpp)
