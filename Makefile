# The two commands a newcomer types (README): `make demo` and `make test`.
# Both install what is missing (scripts/install-deps.sh), configure and build first.
#   make test SANITIZE=1     the suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make build BUILD_TYPE=Debug

BUILD_TYPE ?= Release
SANITIZE ?= 0
JOBS ?= $(shell nproc)

ifeq ($(SANITIZE),1)
BUILD_DIR ?= build/sanitize
# No benchmarks in the sanitizer build: nothing there tests them, and CI builds it from scratch.
CMAKE_ARGS += -DAQUADUCT_SANITIZE=ON -DAQUADUCT_BUILD_BENCH=OFF
BUILD_TYPE = RelWithDebInfo
else
BUILD_DIR ?= build/$(shell echo $(BUILD_TYPE) | tr A-Z a-z)
endif

.PHONY: all deps configure build demo test bench clean
.PHONY: fuzz-build fuzz-smoke fuzz

all: build

deps:
	bash scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The demo needs only the command: a newcomer's first build skips the tests and benches.
demo: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target aquaduct_cli
	$(BUILD_DIR)/aquaduct run examples/demo.toml
	@echo "demo output:" && find examples/out -type f | sort

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) --timeout 900
# The fuzzers carry ASan+UBSan themselves: the sanitizer run does not repeat them.
ifneq ($(SANITIZE),1)
	$(MAKE) fuzz-smoke FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)
endif

# bench/harness.sh flags, e.g. BENCH_ARGS="--rows 1000000 --memory-gb 0.25,1" for a short run.
BENCH_ARGS ?=
# bench/tap_bench.sh flags, e.g. TAP_BENCH_ARGS="--rows 100000 --runs 1" for a quick run.
TAP_BENCH_ARGS ?=
# bench/huge_objects_bench.sh SCALE MAX_JOB_ROWS BURST: the issue's scenario scaled down by 10;
# HUGE_BENCH_ARGS="200000 500000 200000" runs it whole (10M rows).
HUGE_BENCH_ARGS ?= 20000 50000 20000
bench: build
	$(BUILD_DIR)/bench/decode_bench
	$(BUILD_DIR)/bench/pgp_bench
	$(BUILD_DIR)/bench/sink_bench
	$(BUILD_DIR)/bench/transport_bench
	bash bench/e2e_bench.sh $(BUILD_DIR)/aquaduct
	bash bench/tap_bench.sh $(BUILD_DIR)/aquaduct $(TAP_BENCH_ARGS)
	bash bench/huge_objects_bench.sh $(BUILD_DIR)/aquaduct $(HUGE_BENCH_ARGS)
	$(BUILD_DIR)/bench/emulator_bench
	bash bench/emulator_serve_bench.sh $(BUILD_DIR)/aquaduct
	$(BUILD_DIR)/bench/engine_bench --aquaduct $(BUILD_DIR)/aquaduct --only pool
	bash bench/fleet_bench.sh $(BUILD_DIR)/aquaduct
	bash bench/harness.sh $(BUILD_DIR) $(BENCH_ARGS)

# libFuzzer targets with Debian's clang (fuzz/CMakeLists.txt), each run FUZZ_SECONDS
# from its seeds, two at a time, by fuzz/smoke.sh; `make test` runs them FUZZ_SMOKE_SECONDS
# each (the suite's minutes on 2 cores; `make fuzz` is the long run).
FUZZ_DIR ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 30

fuzz-build: deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAQUADUCT_BUILD_FUZZ=ON -DAQUADUCT_BUILD_TESTS=OFF -DAQUADUCT_BUILD_BENCH=OFF
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_all

fuzz-smoke: fuzz-build
	bash fuzz/smoke.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

# Every fuzz target for 10 minutes (about 35 minutes in all on 2 cores); not part of `make test`.
fuzz: fuzz-build
	bash fuzz/smoke.sh $(FUZZ_DIR) 600

clean:
	rm -rf build

# The reliability suite's long forms (docs/reliability.md); `make test` runs the short ones.
.PHONY: reliability soak
SOAK_MINUTES ?= 30
# All run, the kill loop and the stateful resume on a still and on a live tenant; the target
# fails when any failed.
reliability: build
	status=0; \
	AQUADUCT_RELIABILITY_LONG=1 $(BUILD_DIR)/tests/reliability/test_reliability_faults || status=1; \
	bash tests/reliability/kill_loop.sh $(BUILD_DIR)/aquaduct 20 || status=1; \
	bash tests/reliability/kill_loop.sh --churn 30 $(BUILD_DIR)/aquaduct 20 || status=1; \
	bash tests/reliability/stateful_resume_test.sh $(BUILD_DIR)/aquaduct || status=1; \
	bash tests/reliability/stateful_resume_test.sh --churn 30 $(BUILD_DIR)/aquaduct || status=1; \
	exit $$status

# 30 minutes of runs against an emulator injecting faults; RSS and fds over time in soak.csv. Not in CI.
soak: build
	bash scripts/soak.sh $(BUILD_DIR)/aquaduct $(SOAK_MINUTES) soak.csv
