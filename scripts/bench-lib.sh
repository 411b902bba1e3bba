# shellcheck shell=bash
# bench-lib.sh — the helpers scripts/bench-net.sh and scripts/bench-monitor.sh share; sourced
# (after the script's `set -euo pipefail` and its cd to the top of the tree), never run. It
# defines functions only:
#   bench_cpus      sets srv_cpu (the first allowed CPU) and gen_cpu (the second, else the first)
#   check_shim      sets shim_state: empty when $lib loads into a plain program, else why not
#   alive PID, stderr_of FILE, exit_reason RC LIMIT START
#   start_server KEY (sets srv_pid and port, or why), server_says, stop_server
#   field LINE NAME, runs KEY FIELD, all_runs KEY FIELD, pick KEY FIELD: results of the runs
#   ratio A B, aligned HEADER ROW..., markdown HEADER ALIGN ROW...: the tables
# What the sourcing script must provide:
#   tmp         a private directory (port, server.out, server.err and err are written there)
#   lib         the path of libgreenpoll.so (check_shim)
#   notes       an array (check_shim and stop_server append to it)
#   srv_pid     '' before the first start_server (its cleanup trap kills a server left running)
#   res         an associative array: KEY -> the output lines (NAME=value ...) of its good runs
#   server_cmd  a function: server_cmd KEY sets the array cmd to server KEY's command line
#   run_label   optional: what stop_server's note calls a server that ignored SIGTERM
# shellcheck disable=SC2154,SC2034 # tmp, lib and res are the sourcing script's; srv_cpu,
# gen_cpu, shim_state and port are set here for it

# bench_cpus: the server on the first allowed CPU, the load generator on the second
bench_cpus() {
	local -a cpus
	mapfile -t cpus < <(taskset -cp $$ | sed 's/.*: //' | tr ',' '\n' |
		awk -F- '{ for (i = $1; i <= ($2 == "" ? $1 : $2); i++) print i }')
	srv_cpu=${cpus[0]}
	gen_cpu=${cpus[1]:-${cpus[0]}}
}

# check_shim: shim_state empty when the library loads into a plain program, else why the shim
# runs are skipped
check_shim() {
	local maps
	shim_state=''
	if [[ ! -f $lib ]]; then
		shim_state='(library missing)'
	elif ! maps=$(timeout -k 5 10 env LD_PRELOAD="$lib" /bin/cat /proc/self/maps 2>"$tmp/err") ||
		[[ $maps != *"$lib"* ]]; then
		shim_state='(library fails to load)'
		notes+=("LD_PRELOAD=$lib /bin/cat /proc/self/maps: $(head -n 1 "$tmp/err")")
	fi
}

# alive PID: whether process PID exists and is not a zombie
alive() {
	local state
	state=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z ]]
}

# stderr_of FILE: its first non-empty lines (at most 3) on one line, for a failure reason
stderr_of() {
	grep -v '^[[:space:]]*$' "$1" 2>/dev/null | head -n 3 | paste -sd '|' - | sed 's/|/ | /g' || true
}

# exit_reason RC LIMIT START: why a command ended with status RC
exit_reason() {
	local rc=$1 limit=$2 start=$3
	if ((rc == 124 || (rc == 137 && SECONDS - start >= limit))); then
		printf 'hung (killed after %s s)' "$limit"
	elif ((rc > 128)); then
		printf 'killed by SIG%s' "$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
	else
		printf 'exit status %s' "$rc"
	fi
}

# start_server KEY: starts server KEY (server_cmd KEY) in the background and waits for its port;
# sets srv_pid and port, or sets why and returns 1
start_server() {
	local i rc=0 cmd
	server_cmd "$1"
	rm -f "$tmp/port"
	"${cmd[@]}" --port-file "$tmp/port" >"$tmp/server.out" 2>"$tmp/server.err" &
	srv_pid=$!
	for ((i = 0; i < 100; i++)); do
		[[ ! -s $tmp/port ]] || break
		alive "$srv_pid" || break
		sleep 0.1
	done
	if [[ -s $tmp/port ]]; then
		port=$(<"$tmp/port")
		return 0
	fi
	if alive "$srv_pid"; then
		why='server did not write its port within 10 s'
	else
		wait "$srv_pid" || rc=$?
		why="server $(exit_reason "$rc" 0 "$SECONDS") at start"
	fi
	stop_server
	why+=$(server_says)
	return 1
}

# server_says: "; server stderr: ..." when the server wrote anything on stderr
server_says() {
	local s
	s=$(stderr_of "$tmp/server.err")
	[[ -z $s ]] || printf '; server stderr: %s' "$s"
}

# stop_server: SIGTERM, then SIGKILL after 3 s (noted, as $run_label); reaps it
stop_server() {
	local i
	[[ -n $srv_pid ]] || return 0
	kill -TERM "$srv_pid" 2>/dev/null || true
	for ((i = 0; i < 30; i++)); do
		alive "$srv_pid" || break
		sleep 0.1
	done
	if alive "$srv_pid"; then
		kill -KILL "$srv_pid" 2>/dev/null || true
		notes+=("${run_label:-a server} ignored SIGTERM for 3 s and was killed")
	fi
	wait "$srv_pid" 2>/dev/null || true
	srv_pid=''
}

# field LINE NAME: the value of NAME=value in LINE
field() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"; }

# run_values KEY FIELD: FIELD of each of KEY's successful runs, one a line, in run order
run_values() { printf '%s' "${res[$1]-}" | sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p"; }

# runs KEY FIELD: the same on one line, "a / b / c"
runs() { run_values "$1" "$2" | paste -sd '/' - | sed 's|/| / |g'; }

# all_runs KEY FIELD: the same for the notes: "—" when none succeeded
all_runs() {
	local v
	v=$(runs "$1" "$2")
	printf '%s' "${v:-—}"
}

# pick KEY FIELD: the output line of KEY's median run by FIELD (empty when none succeeded)
pick() {
	local m
	m=$(run_values "$1" "$2" | sort -g |
		awk '{ v[NR] = $0 } END { if (NR) print v[int((NR + 1) / 2)] }')
	[[ -n $m ]] || return 0
	printf '%s' "${res[$1]}" |
		awk -v want="$2=$m" '{ for (i = 1; i <= NF; i++) if ($i == want) { print; exit } }'
}

# ratio A B: A ÷ B as "1.23×", or "—"
ratio() {
	if [[ -n $1 && -n $2 ]]; then
		awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "—" }'
	else
		printf '—'
	fi
}

# aligned HEADER ROW...: the table aligned for the terminal (${#c} counts characters)
aligned() {
	local r i out widths=() cells
	for r in "$@"; do
		IFS=$'\t' read -ra cells <<<"$r"
		for i in "${!cells[@]}"; do
			((${#cells[i]} <= ${widths[i]:-0})) || widths[i]=${#cells[i]}
		done
	done
	for r in "$@"; do
		IFS=$'\t' read -ra cells <<<"$r"
		out=''
		for i in "${!cells[@]}"; do
			out+=${cells[i]}$(printf '%*s' $((widths[i] - ${#cells[i]} + 2)) '')
		done
		printf '%s\n' "${out%"${out##*[! ]}"}"
	done
	printf '\n'
}

# markdown HEADER ALIGN ROW...: the table in markdown
markdown() {
	local header=$1 align=$2 r
	shift 2
	printf '| %s |\n' "${header//$'\t'/ | }"
	printf '%s\n' "$align"
	for r in "$@"; do
		r=${r//|/\\|}
		printf '| %s |\n' "${r//$'\t'/ | }"
	done
	printf '\n'
}
