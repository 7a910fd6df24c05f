# Front door. CMake does the work underneath; everything lands in build/.
BUILD      ?= build
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CC         ?= cc
VENV_STAMP := .venv/.fp8gemm-stamp
FUZZ_SECONDS ?= 60

.PHONY: all test bench install sanitize fuzz venv clean deps

all: $(VENV_STAMP)
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

# A fresh machine first gets the Debian packages it lacks (python3-venv, python3-dev, ...).
$(VENV_STAMP): scripts/setup-venv.sh requirements-test.txt requirements-torch.txt requirements-torch-cuda.txt
	bash scripts/install-deps.sh
	bash scripts/setup-venv.sh

venv: $(VENV_STAMP)

deps:
	bash scripts/install-deps.sh

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: all
	./$(BUILD)/fp8gemm bench

install: all
	cmake --install $(BUILD) --prefix $(PREFIX)

# The whole C suite under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	  -DFP8GEMM_SANITIZE=ON -DFP8GEMM_PYTHON_TESTS=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  FP8GEMM_SANITIZED=1 ctest --output-on-failure -j $(JOBS)

# libFuzzer harnesses, each run for FUZZ_SECONDS with ASan + UBSan.
fuzz:
	cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	  -DFP8GEMM_SANITIZE=ON -DFP8GEMM_FUZZ=ON -DFP8GEMM_PYTHON_TESTS=OFF
	cmake --build build-fuzz -j $(JOBS)
	bash scripts/run-fuzzers.sh build-fuzz $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) build-asan build-fuzz
