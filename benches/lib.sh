# Shared by the benchmark scripts (sourced, not run): a temporary work directory removed at exit,
# a local registry on 127.0.0.1, and timing helpers (median of BENCH_RUNS runs, ratios).
# Sets: work, REG. Needs: RUNS.

work=$(mktemp -d /tmp/imagebuild-bench.XXXXXX)
reg_pid=
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# Debian's docker-registry on a free port, its storage in the work directory.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $work/storage }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$port }
YML
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
REG=127.0.0.1:$port

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# time_runs NAME COMMAND...: the median wall time of RUNS runs (RUN is the run's number).
time_runs() {
  local name=$1; shift
  local times=()
  for i in $(seq 1 "$RUNS"); do
    RUN=$i
    local t0; t0=$(now)
    "$@" > "$work/$name.out" 2>&1 || { echo "$name failed:" >&2; cat "$work/$name.out" >&2; exit 1; }
    times+=("$(echo "$(now) - $t0" | bc)")
  done
  printf '%s\n' "${times[@]}" | median | xargs printf "%.${DIGITS:-2}f\n"
}
ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }
