#!/bin/bash
# Instruction counts (valgrind callgrind, total Ir) and page faults (perf stat) of one run of each
# credd client front, against an agent of its own in a temp home; /bin/true and git's
# `credential-cache get` (against its own daemon) beside them. Deterministic, unlike timings:
# used in docs/BENCHMARKS.md where the machine has no hardware counters.
#
#     benches/instructions.sh AGENT_BINARY CLIENT_BINARY...
set -eu
agent=$(realpath "$1"); shift
home=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$home"' EXIT
mkdir -m700 -p "$home"/run "$home"/data "$home"/config "$home"/home "$home"/git
export HOME=$home/home XDG_RUNTIME_DIR=$home/run XDG_DATA_HOME=$home/data XDG_CONFIG_HOME=$home/config
socket=$home/run/credd/credd.sock
"$agent" daemon --socket "$socket" </dev/null >/dev/null 2>"$home"/agent.log &
for _ in $(seq 100); do [ -S "$socket" ] && break; sleep 0.05; done
echo "bench passphrase" | "$agent" init --passphrase-stdin --kdf-memory 64 --kdf-passes 1 >/dev/null
echo "bench-token" | "$agent" add bench-reg --url sparse+https://reg.example.com/index/ --secret-stdin >/dev/null
git credential-cache--daemon "$home"/git/socket </dev/null >/dev/null 2>&1 &
sleep 0.3
printf 'protocol=https\nhost=reg.example.com\nusername=u\npassword=p\n\n' |
    git credential-cache --socket "$home"/git/socket store
cargo_request='{"v":1,"registry":{"index-url":"sparse+https://reg.example.com/index/","name":"bench-reg"},"kind":"get","operation":"read"}\n'
git_request='protocol=https\nhost=reg.example.com\n\n'

# measure LABEL INPUT COMMAND...: prints the instructions and the page faults of one run.
measure() {
    local label=$1 input=$2
    shift 2
    local instructions faults
    instructions=$(printf "$input" | valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
        grep -o 'Collected : [0-9]*' | grep -o '[0-9]*')
    faults=$(printf "$input" | perf stat -x, -e page-faults "$@" 2>&1 >/dev/null | grep page-faults | cut -d, -f1)
    printf "  %-28s %10s instructions %5s page faults\n" "$label" "$instructions" "$faults"
}

measure /bin/true "" /bin/true
measure "git credential-cache get" "$git_request" git credential-cache --socket "$home"/git/socket get
for client in "$@"; do
    # The fronts are links in the temp home: they must name the binary by its absolute path.
    client=$(realpath "$client")
    for front in git-credential-credd docker-credential-credd keyring; do
        ln -sf "$client" "$home/$front"
    done
    echo "$client ($(stat -c %s "$client") bytes, $(readelf -r "$client" | grep -c R_X86_64 || true) relocations)"
    measure "--version" "" "$client" --version
    measure "get NAME" "" "$client" get bench-reg
    measure "--cargo-plugin get" "$cargo_request" "$client" --cargo-plugin
    measure "token URL" "" "$client" token sparse+https://reg.example.com/index/
    measure "keyring get" "" "$home"/keyring get https://reg.example.com/index/ ""
    measure "git-credential-credd get" "$git_request" "$home"/git-credential-credd get
    measure "docker-credential-credd get" "reg.example.com" "$home"/docker-credential-credd get
done
