# Which engine backends to compile. Each is ON (required), OFF, or AUTO (compiled when its engine is found).
# Sets EDGEAD_BACKEND_SOURCES / _LIBS / _DEFINITIONS / _INCLUDES and EDGEAD_HAVE_<ENGINE>.

function(edgead_backend_result name want found why)
  string(TOUPPER "${name}" upper)
  if(want STREQUAL "ON" AND NOT found)
    message(FATAL_ERROR "EDGEAD_WITH_${upper}=ON but ${why}; install it, point CMake at it, or set -DEDGEAD_WITH_${upper}=OFF")
  endif()
  if(found)
    set(EDGEAD_HAVE_${upper} ON PARENT_SCOPE)
  else()
    set(EDGEAD_HAVE_${upper} OFF PARENT_SCOPE)
    if(want STREQUAL "AUTO")
      message(STATUS "edgead: ${name} backend not compiled: ${why}")
    endif()
  endif()
endfunction()

macro(edgead_add_backend source define)  # ARGN: the libraries it links
  list(APPEND EDGEAD_BACKEND_SOURCES ${source})
  list(APPEND EDGEAD_BACKEND_LIBS ${ARGN})
  list(APPEND EDGEAD_BACKEND_DEFINITIONS ${define})
  set(_found ON)
endmacro()

set(EDGEAD_BACKEND_SOURCES "")
set(EDGEAD_BACKEND_LIBS "")
set(EDGEAD_BACKEND_DEFINITIONS "")
set(EDGEAD_BACKEND_INCLUDES "")

# --- OpenVINO: the pip wheel ships headers and OpenVINOConfig.cmake; ask a Python that has it where.
set(_found OFF)
if(NOT EDGEAD_WITH_OPENVINO STREQUAL "OFF")
  if(NOT OpenVINO_DIR)
    find_package(Python3 COMPONENTS Interpreter QUIET)
    if(Python3_Interpreter_FOUND)
      execute_process(COMMAND ${Python3_EXECUTABLE} -c "import openvino.utils as u; print(u.get_cmake_path())"
                      OUTPUT_VARIABLE _ov_dir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(_ov_dir)
        set(OpenVINO_DIR "${_ov_dir}" CACHE PATH "OpenVINOConfig.cmake folder")
      endif()
    endif()
  endif()
  find_package(OpenVINO QUIET COMPONENTS Runtime)
  if(OpenVINO_FOUND)
    edgead_add_backend(src/openvino_backend.cpp EDGEAD_HAVE_OPENVINO openvino::runtime)
  endif()
endif()
edgead_backend_result(openvino "${EDGEAD_WITH_OPENVINO}" ${_found}
  "OpenVINOConfig.cmake not found (pip install openvino, then -DOpenVINO_DIR=$(python -c 'import openvino.utils as u; print(u.get_cmake_path())'))")

# --- ONNX Runtime: a release tarball or JetPack (ONNXRUNTIME_ROOT), or an installed onnxruntimeConfig.cmake.
# The PyPI wheel ships libonnxruntime.so but no headers, so it cannot be used here.
set(_found OFF)
if(NOT EDGEAD_WITH_ONNXRUNTIME STREQUAL "OFF")
  find_package(onnxruntime CONFIG QUIET)
  if(TARGET onnxruntime::onnxruntime)
    set(_ort_lib onnxruntime::onnxruntime)
  else()
    find_path(ONNXRUNTIME_INCLUDE_DIR onnxruntime_cxx_api.h
      HINTS ${ONNXRUNTIME_ROOT} ENV ONNXRUNTIME_ROOT
      PATH_SUFFIXES include include/onnxruntime include/onnxruntime/core/session)
    find_library(ONNXRUNTIME_LIBRARY onnxruntime HINTS ${ONNXRUNTIME_ROOT} ENV ONNXRUNTIME_ROOT PATH_SUFFIXES lib lib64)
    if(ONNXRUNTIME_INCLUDE_DIR AND ONNXRUNTIME_LIBRARY)
      set(_ort_lib ${ONNXRUNTIME_LIBRARY})
      list(APPEND EDGEAD_BACKEND_INCLUDES ${ONNXRUNTIME_INCLUDE_DIR})
    endif()
  endif()
  if(_ort_lib)
    edgead_add_backend(src/onnxruntime_backend.cpp EDGEAD_HAVE_ONNXRUNTIME ${_ort_lib})
  endif()
endif()
edgead_backend_result(onnxruntime "${EDGEAD_WITH_ONNXRUNTIME}" ${_found}
  "onnxruntime_cxx_api.h + libonnxruntime not found (set ONNXRUNTIME_ROOT to an ONNX Runtime release folder)")

# --- TensorRT: NvInfer.h + libnvinfer (JetPack, or NVIDIA's x86 tarball) and the CUDA runtime.
set(_found OFF)
if(NOT EDGEAD_WITH_TENSORRT STREQUAL "OFF")
  find_path(TENSORRT_INCLUDE_DIR NvInfer.h HINTS ${TENSORRT_ROOT} ENV TENSORRT_ROOT PATH_SUFFIXES include)
  find_library(TENSORRT_LIBRARY nvinfer HINTS ${TENSORRT_ROOT} ENV TENSORRT_ROOT PATH_SUFFIXES lib lib64)
  find_package(CUDAToolkit QUIET)
  if(TENSORRT_INCLUDE_DIR AND TENSORRT_LIBRARY AND CUDAToolkit_FOUND)
    edgead_add_backend(src/tensorrt_backend.cpp EDGEAD_HAVE_TENSORRT ${TENSORRT_LIBRARY} CUDA::cudart)
    list(APPEND EDGEAD_BACKEND_INCLUDES ${TENSORRT_INCLUDE_DIR})
  endif()
endif()
edgead_backend_result(tensorrt "${EDGEAD_WITH_TENSORRT}" ${_found}
  "NvInfer.h, libnvinfer or the CUDA toolkit not found (set TENSORRT_ROOT; on JetPack they are in /usr)")
