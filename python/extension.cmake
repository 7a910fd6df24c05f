# The Python extension fp8gemm._native (C, public API only, linked to the static library).
# Normal builds put an importable package in <build>/python/fp8gemm (the .py files are
# copied on every build); pip builds (scikit-build-core, SKBUILD) install the same files
# as the wheel's "python" component. Not built under the sanitizers or the fuzzers.
if(FP8GEMM_SANITIZE OR FP8GEMM_FUZZ)
  return()
endif()

# Outside pip, build for the project's .venv interpreter when there is one.
if(NOT SKBUILD AND NOT Python3_EXECUTABLE AND EXISTS ${CMAKE_SOURCE_DIR}/.venv/bin/python)
  set(Python3_EXECUTABLE ${CMAKE_SOURCE_DIR}/.venv/bin/python)
endif()
find_package(Python3 3.10 COMPONENTS Interpreter Development.Module)
if(NOT Python3_Development.Module_FOUND)
  message(FATAL_ERROR "FP8GEMM_PYTHON needs the Python headers (Debian: python3-dev); "
                      "configure with -DFP8GEMM_PYTHON=OFF to skip the extension")
endif()

file(GLOB FP8GEMM_PY_EXT_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/python/src/*.c)
Python3_add_library(fp8gemm_native MODULE WITH_SOABI ${FP8GEMM_PY_EXT_SOURCES})
set_target_properties(fp8gemm_native PROPERTIES OUTPUT_NAME _native
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/python/fp8gemm)
# Python.h is not -Wextra clean in every version's macros: keep our flags, quiet theirs.
target_include_directories(fp8gemm_native SYSTEM PRIVATE ${Python3_INCLUDE_DIRS})
target_link_libraries(fp8gemm_native PRIVATE fp8gemm_static)

file(GLOB FP8GEMM_PY_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/python/fp8gemm/*.py)
add_custom_target(fp8gemm_python_files ALL
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/python/fp8gemm
  COMMAND ${CMAKE_COMMAND} -E copy_if_different ${FP8GEMM_PY_FILES} ${CMAKE_BINARY_DIR}/python/fp8gemm
  COMMENT "Python package files -> ${CMAKE_BINARY_DIR}/python/fp8gemm")

install(TARGETS fp8gemm_native LIBRARY DESTINATION fp8gemm COMPONENT python EXCLUDE_FROM_ALL)
install(FILES ${FP8GEMM_PY_FILES} DESTINATION fp8gemm COMPONENT python EXCLUDE_FROM_ALL)
