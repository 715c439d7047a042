# Racker: the two commands a new user needs are `make demo` and `make check`.
# Both install what they need (Debian packages), build, and run.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
PREFIX     ?= /usr/local
PYTHON     ?= /usr/bin/python3
# Seconds each fuzz target runs in `make check` (longer: make fuzz FUZZ_SECONDS=600).
FUZZ_SECONDS ?= 15
PYTEST_ARGS ?=

.PHONY: all deps build check unit asan fuzz e2e vm demo bench install clean

all: build

deps:
	@sh scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

unit: build
	meson test -C $(BUILD) --print-errorlogs

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false

asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	ASAN_OPTIONS=detect_leaks=1 \
	meson test -C $(ASAN_BUILD) --print-errorlogs

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

e2e: build
	RACKER_BIN=$(CURDIR)/$(BUILD)/racker POSTROJ_BIN=$(CURDIR)/$(BUILD)/postroj \
	$(PYTHON) -m pytest -v -ra $(PYTEST_ARGS) tests/e2e

# racker on a real Debian 12 system (its 6.1 kernel, systemd as PID 1) with
# pure cgroup v2 and with pure v1, in QEMU: this host is hybrid, with
# another kernel (tests/vm/README.md).
vm: build
	RACKER_BUILD=$(CURDIR)/$(BUILD) bash tests/vm/run.sh v2
	RACKER_BUILD=$(CURDIR)/$(BUILD) bash tests/vm/run.sh v1

# Every test: unit tests (plain and under ASan+UBSan), fuzz smoke runs, the
# end-to-end tests against a local registry the suite starts itself, and
# the VM runs on pure v2 and v1 hosts.
check: unit asan fuzz e2e vm

demo: build
	sh scripts/demo.sh $(BUILD)

bench: build
	sh bench/run.sh $(BUILD)

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
