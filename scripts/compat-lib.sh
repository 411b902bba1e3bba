# shellcheck shell=bash
# shellcheck disable=SC2154 # $lib, $passed and $failed are the driver's
# compat-lib.sh — what the scripts/compat-NAME.sh drivers share (sourced). The driver defines
# run LABEL ENV... (one run of its program(s) with ENV, counting into $passed and $failed) and
# sets $lib, the library under test.

# compat_runs NAME: the runs, natively and under greenpoll with two carriers and with one, then
# "compat-NAME: N passed, N failed"; its status is 0 only if none failed
compat_runs() {
	run native
	if [ -f "$lib" ]; then
		run "greenpoll GREENPOLL_PROCS=2" LD_PRELOAD="$lib" GREENPOLL_PROCS=2
		run "greenpoll GREENPOLL_PROCS=1" LD_PRELOAD="$lib" GREENPOLL_PROCS=1
	else
		echo "FAIL: greenpoll: $lib does not exist (make)"
		failed=$((failed + 1))
	fi
	echo "compat-$1: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
