# Integration fixtures, included by the top Makefile (which defines B).
#   tests/fixtures/NAME.c   -> $(B)/fixtures/NAME        (gcc, gnu11)
#   tests/fixtures/NAME.cc  -> $(B)/fixtures/NAME        (g++, gnu++17)
#   tests/fixtures/lib/NAME.c -> $(B)/fixtures/libNAME.so (libraries the fixtures dlopen)
#   make fixtures      build them all
#   make integration   build them and the library, then run tests/integration.sh
FIX_DIR  := tests/fixtures
FIX_OUT  := $(B)/fixtures
FIX_BIN  := $(patsubst $(FIX_DIR)/%.c,$(FIX_OUT)/%,$(wildcard $(FIX_DIR)/*.c)) \
            $(patsubst $(FIX_DIR)/%.cc,$(FIX_OUT)/%,$(wildcard $(FIX_DIR)/*.cc))
FIX_SO   := $(patsubst $(FIX_DIR)/lib/%.c,$(FIX_OUT)/lib%.so,$(wildcard $(FIX_DIR)/lib/*.c))

# Fixed flags: the fixtures stand for ordinary programs, whatever CFLAGS the library gets.
FIX_WARN     := -Wall -Wextra -Werror
FIX_CFLAGS   := -std=gnu11 -O2 -g -pthread $(FIX_WARN)
FIX_CXXFLAGS := -std=gnu++17 -O2 -g -pthread $(FIX_WARN)
FIX_LDLIBS   := -ldl
# fixtures that need more libraries (Debian packages in scripts/deps.sh)
$(FIX_OUT)/mon_blocked_server: FIX_LDLIBS += -luring
# built as Debian builds its packages (dpkg-buildflags): glibc's checked forms of the calls
$(FIX_OUT)/net_fortified: FIX_CFLAGS += -D_FORTIFY_SOURCE=2
# the control channel's place and requests (a test helper of the greenpoll command)
$(FIX_OUT)/ctl_fake_server: FIX_CFLAGS += -iquote shim

.PHONY: fixtures integration
fixtures: $(FIX_BIN) $(FIX_SO)

$(FIX_OUT)/%: $(FIX_DIR)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(FIX_CFLAGS) -MMD -MP -MF $@.d $< -o $@ $(FIX_LDLIBS)
$(FIX_OUT)/%: $(FIX_DIR)/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(FIX_CXXFLAGS) -MMD -MP -MF $@.d $< -o $@ $(FIX_LDLIBS)
$(FIX_OUT)/lib%.so: $(FIX_DIR)/lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(FIX_CFLAGS) -fPIC -shared -MMD -MP -MF $@.d $< -o $@

integration: fixtures $(B)/libgreenpoll.so
	tests/integration.sh $(B)

-include $(FIX_BIN:=.d) $(FIX_SO:=.d)
