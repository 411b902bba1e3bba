#!/usr/bin/env bash
# deps.sh — installs the Debian 12 packages that README's commands need, if any are missing.
#   scripts/deps.sh          build and test: compiler, make, Check, libunwind, libdw (the
#                            greenpoll command's file:line in dumps), procps, liburing,
#                            python3 (tests/fixtures/sig_multiprocessing.py), groff-base (the
#                            man page's check), bsdutils and util-linux (script, setpriv: the
#                            command's tests)
#   scripts/deps.sh bench    the same plus what `make bench` needs: Go, wrk, gnuplot
#   scripts/deps.sh compat   the same plus the real programs `make compat` runs: MariaDB,
#                            PostgreSQL 15
# Silent when nothing is missing. Installs with apt-get as root, or through `sudo -n` when that
# works without a password; otherwise prints the command to run and exits 1.
set -euo pipefail

packages=(gcc make libc6-dev pkg-config check libunwind-dev libdw-dev g++ procps liburing-dev python3
	groff-base bsdutils util-linux)
case ${1-} in
'') ;;
bench) packages+=(golang-go wrk gnuplot-nox) ;;
compat) packages+=(mariadb-server mariadb-client postgresql-15 postgresql-client-15) ;;
*)
	printf 'usage: scripts/deps.sh [bench|compat]\n' >&2
	exit 2
	;;
esac

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${db:Status-Abbrev}\n' "$p" 2>/dev/null | grep -q '^ii'; then
		missing+=("$p")
	fi
done
((${#missing[@]} > 0)) || exit 0

install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}")
if ((EUID == 0)); then
	sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
	sudo=(sudo -n)
else
	printf 'deps.sh: missing Debian packages: %s\n' "${missing[*]}" >&2
	printf 'deps.sh: install them with:\n  sudo apt-get update && sudo %s\n' "${install[*]}" >&2
	exit 1
fi

printf 'deps.sh: installing %s\n' "${missing[*]}" >&2
# a fresh image has no package lists: update only when the install fails without them
if ! "${sudo[@]}" "${install[@]}"; then
	"${sudo[@]}" apt-get update
	"${sudo[@]}" "${install[@]}"
fi
