# The two commands a newcomer types (README): `make demo` and `make test`.
# Both install what is missing (scripts/install-deps.sh), configure and build first.
#   make test SANITIZE=1     the suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make build BUILD_TYPE=Debug

BUILD_TYPE ?= Release
SANITIZE ?= 0
JOBS ?= $(shell nproc)

ifeq ($(SANITIZE),1)
BUILD_DIR ?= build/sanitize
CMAKE_ARGS += -DAQUADUCT_SANITIZE=ON
BUILD_TYPE = RelWithDebInfo
else
BUILD_DIR ?= build/$(shell echo $(BUILD_TYPE) | tr A-Z a-z)
endif

.PHONY: all deps configure build demo test bench clean

all: build

deps:
	bash scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	$(BUILD_DIR)/aquaduct run examples/demo.toml
	@echo "demo output:" && find out -type f | sort

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) --timeout 900

bench: build
	$(BUILD_DIR)/bench/decode_bench
	bash bench/e2e_bench.sh $(BUILD_DIR)/aquaduct
	$(BUILD_DIR)/bench/emulator_bench
	bash bench/emulator_serve_bench.sh $(BUILD_DIR)/aquaduct

clean:
	rm -rf build
