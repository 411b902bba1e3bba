# scripts/bench.mk — `make bench`, included by the top Makefile: installs what the benchmarks
# need (scripts/deps.sh bench), builds the library and the plain pthread programs of
# scripts/bench/ into build/bench/, and runs them natively and under the shim side by side
# (scripts/bench-runtime.sh; table on stdout and in build/bench-runtime.md). Not a timed test.
BENCH_PROGS := $(patsubst scripts/bench/%.c,$(B)/bench/%,\
                 $(filter-out scripts/bench/common.c,$(wildcard scripts/bench/*.c)))

.PHONY: bench-deps

# bench-deps comes first so that a serial make installs the packages before building anything
bench: bench-deps all $(BENCH_PROGS)
	scripts/bench-runtime.sh $(B)

bench-deps:
	@scripts/deps.sh bench

$(B)/bench/%: scripts/bench/%.c scripts/bench/common.c scripts/bench/common.h
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(WARN) $(CFLAGS) -pthread -o $@ $< scripts/bench/common.c
