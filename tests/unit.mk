# Unit tests of the runtime, included by the top Makefile (which defines B, RT_OBJ, CC).
#   tests/unit/test_NAME.c -> $(B)/unit/test_NAME   (Check; linked with $(B)/libgrruntime.a)
#   (their dependency files go to $(B)/obj/tests/unit/, so $(B)/unit/ holds only the tests)
#   make unit     build them all (run each binary: it prints Check's summary, exits 1 on failure)
#   UNIT_LDFLAGS_test_NAME: extra link flags of one test, such as -Wl,--wrap=SYMBOL, which sends
#   the runtime's own calls of SYMBOL to the test's __wrap_SYMBOL (__real_SYMBOL is the original)
# The runtime objects are the library's own ($(B)/obj/runtime/..., the top Makefile's rules and
# LIB_CFLAGS); the tests run as plain pthread programs, not under the shim.
UNIT_DIR := tests/unit
UNIT_OUT := $(B)/unit
UNIT_LIB := $(B)/libgrruntime.a
UNIT_BIN := $(patsubst $(UNIT_DIR)/%.c,$(UNIT_OUT)/%,$(wildcard $(UNIT_DIR)/test_*.c))
UNIT_DEP := $(B)/obj/$(UNIT_DIR)

# the test hands chosen events to the pds through the poller's look, and closes a pd at the
# moment a waiter prepares to park (test_netpoll.c)
UNIT_LDFLAGS_test_netpoll := -Wl,--wrap=gr_netpoll_backend_poll -Wl,--wrap=gr_wait_prepare

# Fixed flags, like the fixtures': the tests build the same whatever CFLAGS the library gets.
UNIT_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -g -iquote runtime $(SAN_FLAGS)
# recursive (=), so pkg-config only runs when a unit test is built
UNIT_CHECK_CFLAGS = $(shell pkg-config --cflags check)
UNIT_CHECK_LIBS   = $(shell pkg-config --libs check)

.PHONY: unit
unit: $(UNIT_BIN)

$(UNIT_LIB): $(RT_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(UNIT_OUT)/%: $(UNIT_DIR)/%.c $(UNIT_LIB)
	@mkdir -p $(dir $@) $(UNIT_DEP)
	$(CC) $(UNIT_CFLAGS) $(UNIT_CHECK_CFLAGS) -pthread -MMD -MP -MF $(UNIT_DEP)/$*.d -MT $@ $< -o $@ \
		$(UNIT_LDFLAGS_$*) $(UNIT_LIB) $(UNIT_CHECK_LIBS) -pthread -ldl $(UNWIND_LIBS)

-include $(patsubst $(UNIT_OUT)/%,$(UNIT_DEP)/%.d,$(UNIT_BIN))
