# Roost build. `make` builds build/roost; `make run` installs what is missing,
# builds and starts the server on the embedded default; `make test` runs the
# whole suite (unit tests and real-client integration tests, sanitizer build).

CC      ?= cc
PKGS    := openssl sqlite3 libcrypt
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS_COMMON := -std=c17 -D_GNU_SOURCE -Isrc $(WARN) $(PKG_CFLAGS) -MMD -MP
LDLIBS  := $(PKG_LIBS) -lresolv -lpthread

REL_CFLAGS  := $(CFLAGS_COMMON) -O2 -g
ASAN_CFLAGS := $(CFLAGS_COMMON) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_LDFLAGS := -fsanitize=address,undefined

SRCS      := $(shell find src -name '*.c' | sort)
LIB_SRCS  := $(filter-out src/cli/main.c,$(SRCS))
UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))

REL_OBJS  := $(SRCS:%.c=build/rel/%.o)
REL_LIB_OBJS := $(LIB_SRCS:%.c=build/rel/%.o)
BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCH_BINS := $(BENCH_SRCS:bench/%.c=build/bench/%)
ASAN_OBJS := $(SRCS:%.c=build/asan/%.o)
ASAN_LIB_OBJS := $(LIB_SRCS:%.c=build/asan/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/asan/unit/%)

DATA ?= ./var
FUZZ_SMOKE_SECONDS ?= 10

.PHONY: all deps run test unit integration bench fuzz clean format
all: build/roost

deps:
	@scripts/deps.sh build

build/roost: $(REL_OBJS)
	$(CC) -o $@ $^ $(LDLIBS)

build/asan/roost: $(ASAN_OBJS)
	$(CC) $(ASAN_LDFLAGS) -o $@ $^ $(LDLIBS)

build/bench/%: bench/%.c $(REL_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -o $@ $< $(REL_LIB_OBJS) $(LDLIBS)

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -c -o $@ $<

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -c -o $@ $<

build/asan/unit/%: tests/unit/%.c tests/unit/test.h $(ASAN_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -Itests/unit -o $@ $< $(ASAN_LIB_OBJS) $(ASAN_LDFLAGS) $(LDLIBS)

run:
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory build/roost
	./build/roost serve --data $(DATA)

unit: $(UNIT_BINS)
	@scripts/run-unit.sh $(UNIT_BINS)

# Every benchmark program is built too, so that a change that breaks one is
# caught here rather than at the next `make bench`.
integration: build/asan/roost $(BENCH_BINS)
	@scripts/run-integration.sh

# The integration tests run last so that pytest's summary is the closing line.
test:
	@scripts/deps.sh build test fuzz
	@$(MAKE) --no-print-directory unit
	@fuzz/run.sh $(FUZZ_SMOKE_SECONDS)
	@$(MAKE) --no-print-directory integration

bench:
	@scripts/deps.sh build test bench
	@$(MAKE) --no-print-directory build/roost $(BENCH_BINS)
	@bench/run.sh

fuzz:
	@scripts/deps.sh build fuzz
	@fuzz/run.sh

format:
	clang-format -i $(SRCS) $(UNIT_SRCS)

clean:
	rm -rf build

-include $(REL_OBJS:.o=.d) $(ASAN_OBJS:.o=.d)
