# shellcheck shell=bash
# compat-lib.sh — what the scripts/compat-*.sh drivers share, sourced as
# `. scripts/compat-lib.sh BUILD` from the repository's top: sets $lib (BUILD's library), the
# counts $passed and $failed, $tmp (a new scratch directory, the driver's trap removes it) and
# $server (empty: none running), and takes LD_PRELOAD and GREENPOLL_* out of the environment;
# three_runs makes the driver's three runs of its program, natively and under greenpoll with
# two and one carriers, and the summary line. The driver defines run LABEL ENV...: one run of
# its program with ENV in its environment, which prints its PASS or FAIL line and counts it.

# shellcheck disable=SC2034 # the driver uses them
lib=$(readlink -f -- "$1")/libgreenpoll.so
passed=0
failed=0
tmp=$(mktemp -d)
server=''
unset LD_PRELOAD "${!GREENPOLL_@}"

# three_runs NAME [RUN]: the native run, then the two under greenpoll (one FAIL if $lib is
# missing), each by the driver's function RUN (default run), then "compat-NAME: N passed, N
# failed"; returns non-zero if any failed
three_runs() {
	local run=${2:-run}
	"$run" native
	if [ -f "$lib" ]; then
		"$run" "greenpoll GREENPOLL_PROCS=2" LD_PRELOAD="$lib" GREENPOLL_PROCS=2
		"$run" "greenpoll GREENPOLL_PROCS=1" LD_PRELOAD="$lib" GREENPOLL_PROCS=1
	else
		echo "FAIL: greenpoll: $lib does not exist (make)"
		failed=$((failed + 1))
	fi
	echo "compat-$1: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
