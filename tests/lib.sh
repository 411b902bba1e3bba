# shellcheck shell=bash
# lib.sh — what the integration runners share (sourced): counting results, running a program
# under a time limit, saying why a run failed, the build under test (use_build), running a
# fixture natively or under the shim with its verdict (run_fixture), and the summary line. The
# runner sets $tmp (a scratch directory) before using run, and calls use_build before using
# run_fixture.
# shellcheck disable=SC2154 # $tmp is the runner's

passed=0
failed=0
run_limit=60

pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1: $2"; failed=$((failed + 1)); }

# run [--limit SECONDS] ENV_ASSIGNMENT... -- CMD ARG...: runs CMD under timeout (never shimmed
# itself: LD_PRELOAD comes only from the assignments) with the given environment; stdout and
# stderr go to $tmp/out and $tmp/err, the status to $status. (The outer 2>/dev/null only
# silences bash's own "Aborted"-style job reports.)
run() {
	local env=()
	run_limit=60
	if [ "$1" = --limit ]; then
		run_limit=$2
		shift 2
	fi
	while [ "$1" != -- ]; do env+=("$1"); shift; done
	shift
	{ timeout -k 5 "$run_limit" env -u LD_PRELOAD "${env[@]}" "$@" >"$tmp/out" 2>"$tmp/err"; } 2>/dev/null
	status=$?
}

# reason: why a run whose status is not 0 failed: exit status or signal, and the last line of
# its stderr; reason_in FILE takes the last line from FILE.
reason() { reason_in "$tmp/err"; }

reason_in() {
	local why last file=$1
	if [ "$status" -eq 124 ]; then
		why="timed out after $run_limit s"
	elif [ "$status" -eq 137 ] && grep -q '^FAIL: watchdog' "$file"; then
		why="killed by its watchdog process (SIGKILL)"
	elif [ "$status" -eq 137 ]; then
		why="killed by SIGKILL (a hang past timeout's grace, or the OOM killer)"
	elif [ "$status" -gt 128 ]; then
		why="killed by SIG$(kill -l $((status - 128)) 2>/dev/null || echo $((status - 128)))"
	else
		why="exit status $status"
	fi
	last=$(grep -v '^[[:space:]]*$' "$file" | tail -n 1)
	echo "$why${last:+; stderr: $last}"
}

# use_build BUILD_DIR: the runner's build (BUILD_DIR, default build/, made absolute), its
# $fixtures and its $lib
use_build() {
	build=${1:-build}
	case $build in /*) ;; *) build=$PWD/$build ;; esac
	fixtures=$build/fixtures
	lib=$build/libgreenpoll.so
}

# ---- a fixture run natively or under the shim ----
# run_fixture NAME MODE CASE [ARG...]: runs fixture CASE with ARGs natively (MODE "native") or
# under the shim with GREENPOLL_PROCS=MODE (after the ARGs come the ones fixture_shim_args
# gives), then prints its PASS or FAIL line, labelled as label_of NAME MODE says. It passes if
# it exits 0 and fixture_check finds nothing wrong. A native run's stdout is kept for
# same_stdout_as_native.
#
# What differs between runners are these hooks, which a runner redefines after sourcing this:
#   fixture_command CASE          sets cmd (an array) to the command that runs CASE, or missing
#                                 to why it cannot run (default: fixture_built CASE)
#   fixture_limit CASE            seconds a run may take (default 60)
#   fixture_shim_args CASE PROCS  arguments of a shim run, one a line (default none)
#   fixture_check CASE MODE NAME  after a run that exited 0: prints why its output is wrong and
#                                 returns 1, or prints a note for the PASS line (default: none)
# and shim_procs: the carriers of a run labelled just "(shim)" (empty: every shim run's label
# names its GREENPOLL_PROCS).
shim_procs=2

# fixture_built CASE: cmd runs $fixtures/CASE, missing if it is not built
fixture_built() {
	cmd=("$fixtures/$1")
	missing=
	[ -x "$fixtures/$1" ] || missing="$fixtures/$1 not built (make fixtures)"
}
fixture_command() { fixture_built "$1"; }
fixture_limit() { echo 60; }
fixture_shim_args() { :; }
fixture_check() { :; }

# label_of NAME MODE: "NAME (native)", "NAME (shim)" or "NAME (shim GREENPOLL_PROCS=MODE)"
label_of() {
	case $2 in
	native) echo "$1 (native)" ;;
	"$shim_procs") echo "$1 (shim)" ;;
	*) echo "$1 (shim GREENPOLL_PROCS=$2)" ;;
	esac
}

run_fixture() {
	local name=$1 mode=$2 case=$3 label why cmd missing extra=() native_out
	shift 3
	label=$(label_of "$name" "$mode")
	native_out=$tmp/native.${name//\//_}
	fixture_command "$case"
	if [ -n "$missing" ]; then
		fail "$label" "$missing"
		return
	fi
	if [ "$mode" = native ]; then
		rm -f "$native_out"
		run --limit "$(fixture_limit "$case")" -- "${cmd[@]}" "$@"
		[ "$status" -ne 0 ] || cp "$tmp/out" "$native_out"
	elif [ ! -f "$lib" ]; then
		fail "$label" "$lib does not exist"
		return
	else
		mapfile -t extra < <(fixture_shim_args "$case" "$mode")
		run --limit "$(fixture_limit "$case")" LD_PRELOAD="$lib" GREENPOLL_PROCS="$mode" -- \
			"${cmd[@]}" "$@" "${extra[@]}"
	fi
	if [ "$status" -ne 0 ]; then
		fail "$label" "$(reason)"
	elif ! why=$(fixture_check "$case" "$mode" "$name"); then
		fail "$label" "$why"
	else
		pass "$label${why:+ $why}"
	fi
}

# same_stdout_as_native NAME: whether $tmp/out is the stdout of NAME's last native run; if
# not, prints why
same_stdout_as_native() {
	local native_out=$tmp/native.${1//\//_}
	if [ ! -f "$native_out" ]; then
		echo "the native run failed: no stdout to compare with"
	elif ! cmp -s "$native_out" "$tmp/out"; then
		echo "stdout differs from the native run's: $(diff "$native_out" "$tmp/out" |
			grep '^[<>]' | head -n 4 | tr '\n' ' ')"
	else
		return 0
	fi
	return 1
}

# ASAN_OPTIONS / TSAN_OPTIONS for the unit tests built with a sanitizer: by default the
# sanitizer gives every thread an alternate signal stack of its own, which test_sigstate would
# take for the thread's.
ASAN_UNIT_OPTIONS=use_sigaltstack=0
TSAN_UNIT_OPTIONS=use_sigaltstack=0

# run_units DIR: runs every Check unit test binary DIR/unit/test_* (with the caller's
# environment) under a time limit, printing its output; each check counts as a pass or a
# failure (Check's summary "100%: Checks: 7, Failures: 0, Errors: 0"), and a binary that gives
# no summary, or exits non-zero with none failed, counts as one failure. No binaries is one.
run_units() {
	local dir=$1 t out st summary checks bad units=("$1"/unit/test_*)
	if [ ! -e "${units[0]}" ]; then
		fail "unit tests" "no unit test binaries in $dir/unit"
		return
	fi
	for t in "${units[@]}"; do
		out=$(timeout -k 5 300 "$t" 2>&1)
		st=$?
		printf '%s\n' "$out"
		summary=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: [0-9]+' | tail -n 1)
		if [ -z "$summary" ]; then
			fail "$t" "no Check summary (exit status $st)"
			continue
		fi
		checks=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$summary")
		bad=$(sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1+\2/' <<<"$summary")
		bad=$((bad))
		passed=$((passed + checks - bad))
		failed=$((failed + bad))
		if [ "$st" -ne 0 ] && [ "$bad" -eq 0 ]; then
			fail "$t" "exit status $st"
		fi
	done
}

# report NAME: the summary line; appends "passed=N failed=N" to $GP_RESULTS if it is set;
# returns non-zero if anything failed.
report() {
	echo "$1: $passed passed, $failed failed"
	if [ -n "${GP_RESULTS:-}" ]; then
		echo "passed=$passed failed=$failed" >>"$GP_RESULTS"
	fi
	[ "$failed" -eq 0 ]
}
