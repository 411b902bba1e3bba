#!/usr/bin/env bash
# bench-runtime.sh — the runtime benchmarks of `make bench`, native and under libgreenpoll.so
# side by side in one run. The machine is shared and noisy, so each program runs several times
# per side, the sides alternate, the median is kept, and the ratio between the sides is what to
# read. Prints one table (benchmark, native, shim, ratio, target, met?) and writes it, with
# notes, as markdown to BUILD/bench-runtime.md for README to quote. Not a timed test: a missed
# target fails nothing. When the library is missing or does not load, the native side still runs
# and the shim column says why.
#   scripts/bench-runtime.sh [BUILD]      (default build; the programs are in BUILD/bench/)
set -euo pipefail

cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.."
build=${1:-build}
bin=$build/bench
lib=$(readlink -f -- "$build")/libgreenpoll.so
md=$build/bench-runtime.md
reps=3
limit=60 # seconds one run may take before it counts as hung

# no preload and no runtime settings inherited from the caller; one locale for numbers and text
unset LD_PRELOAD "${!GREENPOLL_@}"
export LC_ALL=C.UTF-8

for p in yield create idle startup; do
	if [[ ! -x $bin/$p ]]; then
		printf 'bench-runtime.sh: %s missing; build it with make bench\n' "$bin/$p" >&2
		exit 2
	fi
done

declare -A lines=() fail=() nfail=()
notes=()
errfile=$(mktemp)
trap 'rm -f "$errfile"' EXIT

# shim_state: empty when the library loads into a plain program, else why the shim side is skipped
shim_state=''
if [[ ! -f $lib ]]; then
	shim_state='(library missing)'
elif ! maps=$(timeout -k 5 10 env LD_PRELOAD="$lib" /bin/cat /proc/self/maps 2>"$errfile") ||
	[[ $maps != *"$lib"* ]]; then
	shim_state='(library fails to load)'
	notes+=("LD_PRELOAD=$lib /bin/cat /proc/self/maps: $(head -n 1 "$errfile")")
fi

# attempt KEY CMD...: runs CMD once with the time limit; appends its output line to lines[KEY],
# or counts a failure in nfail[KEY] and keeps the latest reason in fail[KEY]. Does nothing once
# KEY has hung.
attempt() {
	local key=$1 out rc=0 why start=$SECONDS
	shift
	[[ ${fail[$key]-} != hung* ]] || return 0
	out=$(timeout -k 5 "$limit" "$@" 2>"$errfile") || rc=$?
	if ((rc == 0)) && [[ $key == *.shim && $out == *greenpoll=no* ]]; then
		why='ran without libgreenpoll.so mapped'
	elif ((rc == 0)); then
		lines[$key]+=$out$'\n'
		return 0
	elif ((SECONDS - start >= limit)); then
		why="hung (killed after $limit s)"
	elif ((rc > 128)); then
		why="killed by SIG$(kill -l $((rc - 128)))"
	else
		why="exit status $rc"
	fi
	[[ ! -s $errfile ]] || why+=": $(head -n 1 "$errfile")"
	fail[$key]=$why
	nfail[$key]=$((${nfail[$key]-0} + 1))
}

cpu=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)
procs=$(nproc)

# command_of NAME SIDE: sets cmd to the command line of benchmark NAME on SIDE
command_of() {
	case $1.$2 in
	yield.native) cmd=(taskset -c "$cpu" "$bin/yield") ;;
	yield.shim) cmd=(env LD_PRELOAD="$lib" GREENPOLL_PROCS=1 "$bin/yield") ;;
	create.native) cmd=(taskset -c "$cpu" "$bin/create") ;;
	create.native2) cmd=("$bin/create") ;;
	create.shim) cmd=(env LD_PRELOAD="$lib" "$bin/create") ;;
	idle.native) cmd=("$bin/idle") ;;
	idle.shim) cmd=(env LD_PRELOAD="$lib" "$bin/idle") ;;
	esac
}

# measure NAME SIDE...: runs benchmark NAME on each SIDE, reps times, the sides alternating; the
# shim side is skipped when the library is unusable
measure() {
	local name=$1 r side cmd
	shift
	for ((r = 0; r < reps; r++)); do
		for side in "$@"; do
			[[ $side != shim || -z $shim_state ]] || continue
			command_of "$name" "$side"
			attempt "$name.$side" "${cmd[@]}"
		done
	done
}

# values KEY FIELD: the FIELD values of KEY's runs, sorted, one line
values() {
	printf '%s' "${lines[$1]-}" | sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" | sort -g | paste -sd ' ' -
}

# median KEY FIELD: the median FIELD value of KEY's runs; empty when no run succeeded
median() {
	values "$1" "$2" | awk '{ if (NF) print $(int((NF + 1) / 2)) }'
}

# cell KEY VALUE: a table cell: the value (noting failed runs), or why there is none
cell() {
	local key=$1 value=$2
	if [[ $key == *.shim && -n $shim_state ]]; then
		printf '%s' "$shim_state"
	elif [[ -z $value ]]; then
		printf '%s' "${fail[$key]:-no result}"
	elif [[ -n ${nfail[$key]-} ]]; then
		printf '%s (%s of %s runs failed)' "$value" "${nfail[$key]}" "$reps"
	else
		printf '%s' "$value"
	fi
}

rows=()
# row NAME UNIT NATIVE_KEY:FIELD SHIM_KEY:FIELD TARGET TEST: one table row; TEST is an awk
# condition on n (native) and s (shim) saying whether the target is met
row() {
	local name=$1 unit=$2 nkey=${3%:*} skey=${4%:*} target=$5 test=$6 n s ratio='—' met='—'
	n=$(median "$nkey" "${3#*:}")
	s=$(median "$skey" "${4#*:}")
	if [[ -n $n && -n $s ]]; then
		ratio=$(awk -v n="$n" -v s="$s" 'BEGIN { if (s > 0) printf "%.1f×", n / s; else print "—" }')
	fi
	if [[ -n $s && $test != - ]]; then
		met=$(awk -v n="${n:-0}" -v s="$s" "BEGIN { print ($test) ? \"yes\" : \"NO\" }")
	fi
	rows+=("$name ($unit)"$'\t'"$(cell "$nkey" "$n")"$'\t'"$(cell "$skey" "$s")"$'\t'"$ratio"$'\t'"$target"$'\t'"$met")
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load=$(cut -d ' ' -f 1-3 /proc/loadavg)
printf 'bench-runtime: %s runs per side; shim: %s\n' "$reps" "${shim_state:-$lib}" >&2
printf 'bench-runtime: sched_yield round trip...\n' >&2
measure yield native shim
printf 'bench-runtime: pthread_create + pthread_join...\n' >&2
measure create native native2 shim
printf 'bench-runtime: idle threads...\n' >&2
measure idle native shim
printf 'bench-runtime: start-up of /bin/true...\n' >&2
# one program times both sides; without a usable shim side it times the native one alone
startup_native=startup.shim:native_us
[[ -n $shim_state ]] || attempt startup.shim "$bin/startup" "$lib"
if [[ -z ${lines[startup.shim]-} ]]; then
	attempt startup.native "$bin/startup"
	startup_native=startup.native:native_us
fi

row 'sched_yield round trip' ns yield.native:yield_rt_ns yield.shim:yield_rt_ns '≤ 50 ns' 's <= 50'
row 'pthread_create + join' µs create.native:create_join_us create.shim:create_join_us \
	'≥ 10× faster' 'n >= 10 * s'
row 'idle thread, VmRSS' KiB idle.native:rss_kib idle.shim:rss_kib '≤ 16 KiB' 's <= 16'
row 'idle thread, MemAvailable drop' KiB idle.native:avail_kib idle.shim:avail_kib '—' -
row 'start-up, /bin/true' µs "$startup_native" startup.shim:shim_us '≤ +1000 µs' 's - n <= 1000'

# field_note KEY FIELD: "v1 v2 v3" for a side's runs, or "—"
field_note() {
	local v
	v=$(values "$1" "$2")
	printf '%s' "${v:-—}"
}

notes+=(
	"ratio = native ÷ shim; every figure is a cost, so a ratio above 1 means the shim is cheaper."
	"Median of $reps runs per side, sides alternating. All runs, native | shim: yield $(field_note yield.native yield_rt_ns) | $(field_note yield.shim yield_rt_ns) ns; create+join $(field_note create.native create_join_us) | $(field_note create.shim create_join_us) µs; VmRSS $(field_note idle.native rss_kib) | $(field_note idle.shim rss_kib) KiB; MemAvailable $(field_note idle.native avail_kib) | $(field_note idle.shim avail_kib) KiB."
	"sched_yield: native pinned to CPU $cpu (taskset), shim GREENPOLL_PROCS=1. Fraction of yields that found the turn alternated: native $(field_note yield.native alternation), shim $(field_note yield.shim alternation). OS threads: native $(field_note yield.native os_threads), shim $(field_note yield.shim os_threads)."
	"pthread_create + join: native pinned to CPU $cpu; unpinned on $procs CPUs it takes $(field_note create.native2 create_join_us) µs (waking the other CPU). Shim at the default GREENPOLL_PROCS ($procs CPUs). OS threads while a created thread runs: native $(field_note create.native os_threads), shim $(field_note create.shim os_threads)."
	"Idle threads: 10,000 threads at the default stack size, each in nanosleep(60 s); MemAvailable includes kernel memory (kernel stacks, page tables) and anything else the machine did meanwhile. OS threads: native $(field_note idle.native os_threads), shim $(field_note idle.shim os_threads)."
	"Start-up: fork + execve + waitpid of /bin/true, 1,000 times per side in alternating batches; the target is on the difference."
)
for key in "${!fail[@]}"; do
	notes+=("$key: ${nfail[$key]} failed run(s), latest: ${fail[$key]}")
done

header=$'benchmark\tnative\tshim\tratio\ttarget\tmet?'
# the table aligned for the terminal (${#c} counts characters: LC_ALL is a UTF-8 locale)
widths=(0 0 0 0 0 0)
for r in "$header" "${rows[@]}"; do
	IFS=$'\t' read -ra cells <<<"$r"
	for i in "${!cells[@]}"; do
		((${#cells[i]} <= widths[i])) || widths[i]=${#cells[i]}
	done
done
for r in "$header" "${rows[@]}"; do
	IFS=$'\t' read -ra cells <<<"$r"
	line=''
	for i in "${!cells[@]}"; do
		line+=${cells[i]}$(printf '%*s' $((widths[i] - ${#cells[i]} + 2)) '')
	done
	printf '%s\n' "${line%"${line##*[! ]}"}"
done
printf '\n'
printf -- '- %s\n' "${notes[@]}"

{
	printf '## Runtime benchmarks\n\n'
	printf "\`make bench\`, %s; %s CPUs, Linux %s, load average %s at start.\n\n" \
		"$started" "$procs" "$(uname -r)" "$load"
	printf '| %s |\n' "${header//$'\t'/ | }"
	printf '|---|---:|---:|---:|---|---|\n'
	for r in "${rows[@]}"; do
		r=${r//|/\\|}
		printf '| %s |\n' "${r//$'\t'/ | }"
	done
	printf '\n'
	printf -- '- %s\n' "${notes[@]}"
} >"$md"
printf '\nwritten to %s\n' "$md" >&2
