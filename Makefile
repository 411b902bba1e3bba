# greenpoll — one boring Makefile.
#   make          build/libgreenpoll.so and the greenpoll command
#   make install  them and greenpoll(1) under PREFIX (/usr/local), staged under DESTDIR if set;
#                 make uninstall removes exactly those files
#   make test     install missing build deps, build everything, run every test (the unit tests
#                 also built with AddressSanitizer); ends "N passed, N failed"
#   make demo     install missing deps, run the demo (native vs shimmed, side by side)
#   make bench    the benchmarks (not timed tests)
#   make compat   real programs under the shim (MariaDB, PostgreSQL), installing them when missing
#   make asan     the library and the unit tests built with AddressSanitizer (build/asan): runs
#                 the unit tests and a subset of the fixtures under it (tests/sanitize.sh)
#   make tsan     the library and the unit tests built with ThreadSanitizer (build/tsan): runs
#                 the unit tests
CC      ?= gcc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror
STD     := -std=gnu11
B       := build
# make install's places, DESTDIR included: the command finds the library at ../lib/ from its
# bin/ (cli/run.c)
PREFIX   ?= /usr/local
TO_BIN   = $(DESTDIR)$(PREFIX)/bin
TO_LIB   = $(DESTDIR)$(PREFIX)/lib
TO_MAN1  = $(DESTDIR)$(PREFIX)/share/man/man1
# a sanitizer for the library and the unit tests (address, thread); empty: none (make asan/tsan).
# TSan does not model standalone fences (-Wtsan says so of the monitor's): a race it reports
# next to one is to be read with that in mind.
SANITIZE :=
SAN_FLAGS := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -DGR_SANITIZE_$(SANITIZE)) \
             $(if $(filter thread,$(SANITIZE)),-Wno-tsan)

LIB_SRC := $(wildcard runtime/*.c) $(wildcard shim/*.c)
LIB_ASM := $(wildcard runtime/arch/x86_64/*.S)
LIB_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(LIB_SRC)) $(patsubst %.S,$(B)/obj/%.o,$(LIB_ASM))
RT_OBJ  := $(patsubst %.c,$(B)/obj/%.o,$(wildcard runtime/*.c)) $(patsubst %.S,$(B)/obj/%.o,$(LIB_ASM))
CLI_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(wildcard cli/*.c))

# libunwind's generic API (unw_create_addr_space: inspect.c unwinds copies of task stacks)
UNWIND_LIBS := $(shell pkg-config --libs libunwind-generic 2>/dev/null || echo -lunwind-generic -lunwind)
LIB_CFLAGS := $(STD) $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -pthread -iquote runtime -iquote shim \
              -iquote $(B)/gen \
              -fno-omit-frame-pointer -MMD -MP $(SAN_FLAGS)

.PHONY: all test demo bench deps clean unit integration compat install uninstall
.PHONY: all test demo bench deps clean unit integration compat asan tsan asan-build tsan-build
all: $(B)/libgreenpoll.so $(B)/greenpoll

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -c $< -o $@
$(B)/obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -c $< -o $@

# the interposed functions' names (shim/calls.h), from their definitions; rewritten only when
# they change, so that only then does every shim object build again
SHIM_CALLS_H := $(B)/gen/shim_calls.h
$(SHIM_CALLS_H): $(wildcard shim/*.c) scripts/shim-calls.sh
	@mkdir -p $(dir $@)
	scripts/shim-calls.sh $(wildcard shim/*.c) > $@.new
	if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi
$(patsubst %.c,$(B)/obj/%.o,$(wildcard shim/*.c)): $(SHIM_CALLS_H)
# an export ending in a tail call of another (accept's of accept4) would make that one look
# called by the program (calls.h tells greenpoll's own calls by their return address)
$(patsubst %.c,$(B)/obj/%.o,$(wildcard shim/*.c)): LIB_CFLAGS += -fno-optimize-sibling-calls

$(B)/libgreenpoll.so: $(LIB_OBJ)
	$(CC) -shared $(SAN_FLAGS) -o $@ $^ -pthread -ldl $(UNWIND_LIBS) -Wl,-z,now -Wl,--no-undefined

# the command: an ordinary program (no -fPIC, no hidden visibility); ctl_proto.h is in shim/
CLI_CFLAGS := $(STD) $(WARN) $(CFLAGS) -iquote cli -iquote shim -MMD -MP
$(CLI_OBJ): $(B)/obj/cli/%.o: cli/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CLI_CFLAGS) -c $< -o $@
# elfutils' libdw: file:line of the frames of a dump or report (cli/lines.c; the library itself
# reads no line tables)
DW_CFLAGS := $(shell pkg-config --cflags libdw 2>/dev/null)
DW_LIBS   := $(shell pkg-config --libs libdw 2>/dev/null || echo -ldw -lelf)
$(B)/obj/cli/lines.o: CLI_CFLAGS += $(DW_CFLAGS)
$(B)/greenpoll: $(CLI_OBJ)
	$(CC) -o $@ $^ $(DW_LIBS)

install: all
	install -d $(TO_BIN) $(TO_LIB) $(TO_MAN1)
	install -m 0755 $(B)/greenpoll $(TO_BIN)/greenpoll
	install -m 0755 $(B)/libgreenpoll.so $(TO_LIB)/libgreenpoll.so
	install -m 0644 cli/greenpoll.1 $(TO_MAN1)/greenpoll.1

uninstall:
	rm -f $(TO_BIN)/greenpoll $(TO_LIB)/libgreenpoll.so $(TO_MAN1)/greenpoll.1

deps:
	@scripts/deps.sh

-include tests/unit.mk
-include tests/fixtures.mk
-include scripts/bench.mk
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

clean:
	rm -rf $(B)

# ---- the two commands of README.md ----
demo:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all $(B)/fixtures/echo_server $(B)/bench/net/loadgen
	@scripts/demo.sh $(B)

compat:
	@scripts/deps.sh compat
	@$(MAKE) --no-print-directory all
	@scripts/compat-mariadb.sh $(B)
	@scripts/compat-postgres.sh $(B)

test:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all fixtures unit asan-build
	@tests/run-all.sh $(B) $(B)/asan

# ---- sanitizers ----
# The library and the unit tests are built again with a sanitizer in a directory of their own
# ($(B)/asan, $(B)/tsan; the fixtures are the plain ones). The unit tests are plain pthread
# programs, so both sanitizers see them whole. Fixtures run under the instrumented library only
# with ASan (libasan preloaded first; tests/sanitize.sh lists them): ASan's defaults keep no
# fake stacks, so green stacks need no fiber annotations (__sanitizer_start_switch_fiber):
# what it must be told, that a reused stack region is clean, runtime/stack.c tells it. TSan
# cannot run the library yet: preloaded, the TSan build dies at start-up (SIGSEGV, even for
# hello); tests/sanitize.sh's header says at which steps and what is left to do.
SAN_CFLAGS := -O1 -g

asan-build tsan-build:
	@$(MAKE) --no-print-directory B=$(B)/$(@:-build=) \
		SANITIZE=$(if $(filter asan-build,$@),address,thread) CFLAGS="$(SAN_CFLAGS)" all unit

asan: asan-build fixtures
	@tests/sanitize.sh address $(B)/asan $(B)/fixtures

tsan: tsan-build
	@tests/sanitize.sh thread $(B)/tsan
