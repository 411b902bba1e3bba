# scripts/bench.mk — `make bench`, included by the top Makefile: installs what the benchmarks
# need (scripts/deps.sh bench), builds the library, the plain pthread programs of scripts/bench/
# into build/bench/, the network servers and the load generator, then runs the runtime
# benchmarks (scripts/bench-runtime.sh; table on stdout and in build/bench-runtime.md), the
# synchronization benchmarks (scripts/bench-sync.sh; build/bench-sync.md) and the network
# benchmarks (scripts/bench-net.sh; build/bench-net.md and build/bench-net.png) and the monitor
# benchmarks (scripts/bench-monitor.sh; build/bench-monitor.md), each natively and under the
# shim side by side. Not a timed test.
#   make bench          all four, runtime first
#   make bench-sync     the synchronization benchmarks alone
#   make bench-net      the network benchmarks alone
#   make bench-monitor  the monitor benchmarks alone
#   make soak           the soak (scripts/soak.sh): SOAK_S seconds (default 60) of churn under
#                       the shim, then every byte, fd, thread, task, poll descriptor and stack
#                       checked; not part of `make bench` or `make test`
BENCH_PROGS := $(patsubst scripts/bench/%.c,$(B)/bench/%,\
                 $(filter-out scripts/bench/common.c,$(wildcard scripts/bench/*.c)))

# the synchronization benchmarks: two plain programs and the worker-pool server fixtures
SYNC_PROGS := $(patsubst scripts/bench/%.c,$(B)/bench/%,$(wildcard scripts/bench/sync/*.c)) \
              $(B)/fixtures/pool_server $(B)/fixtures/pool_client

# the network benchmarks: two fixtures (plain thread-per-connection servers), a hand-written
# epoll server and the load generator in C, a Go server
NET_PROGS := $(B)/fixtures/echo_server $(B)/fixtures/http_server $(B)/bench/net/loadgen \
             $(B)/bench/net/epoll_echo $(B)/bench/echo-go

# the monitor benchmarks: an echo server whose marked requests block or compute, and the load
# generator (which marks them)
MON_PROGS := $(B)/bench/monitor/slow_echo $(B)/bench/net/loadgen

# Go: standard library only, nothing downloaded, every cache inside the build directory
GO_ENV := GOCACHE=$(abspath $(B))/go/cache GOPATH=$(abspath $(B))/go/path GOENV=off \
          GOPROXY=off GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0

.PHONY: bench-deps bench-net bench-sync bench-monitor soak

SOAK_S ?= 60

# bench-deps comes first so that a serial make installs the packages before building anything
bench: bench-deps all $(BENCH_PROGS) $(SYNC_PROGS) $(NET_PROGS) $(MON_PROGS)
	scripts/bench-runtime.sh $(B)
	scripts/bench-sync.sh $(B)
	scripts/bench-net.sh $(B)
	scripts/bench-monitor.sh $(B)

bench-sync: bench-deps all $(SYNC_PROGS)
	scripts/bench-sync.sh $(B)

bench-net: bench-deps all $(NET_PROGS)
	scripts/bench-net.sh $(B)

bench-monitor: bench-deps all $(MON_PROGS)
	scripts/bench-monitor.sh $(B)

bench-deps:
	@scripts/deps.sh bench

soak: all $(B)/soak/soak
	SOAK_S=$(SOAK_S) scripts/soak.sh $(B)

$(B)/soak/%: scripts/soak/%.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(WARN) $(CFLAGS) -pthread -o $@ $<

$(B)/bench/%: scripts/bench/%.c scripts/bench/common.c scripts/bench/common.h
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(WARN) $(CFLAGS) -pthread -o $@ $< scripts/bench/common.c

$(B)/bench/net/%: scripts/bench/net/%.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(WARN) $(CFLAGS) -iquote tests/fixtures -o $@ $<

$(B)/bench/monitor/%: scripts/bench/monitor/%.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(WARN) $(CFLAGS) -pthread -iquote tests/fixtures -o $@ $<

$(B)/bench/echo-go: scripts/bench/net/echo.go
	@mkdir -p $(dir $@)
	$(GO_ENV) go build -trimpath -o $@ $<
