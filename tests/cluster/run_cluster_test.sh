#!/usr/bin/env bash
# Cluster test (the future `make test-slurm`): run a workflow on a real single-node SLURM
# through profiles/slurm and prove that
#   1. every model rule ran in the GPU partition with a GPU allocated and every other
#      remote rule ran in the CPU partition without one (from SLURM's own records), and
#   2. the outputs are byte-identical to a local (non-SLURM) run of the same config.
# Needs root on Debian (slurm_up.sh installs and starts SLURM). Always tears SLURM down.
#
# Variables (environment):
#   WORKFLOW_DIR   directory holding the Snakefile; it is copied (git-tracked and untracked,
#                  non-ignored files) twice, for the local and the SLURM run
#                  [tests/cluster/standin]; the real pipeline: WORKFLOW_DIR=.
#   CONFIG         --configfile, relative to WORKFLOW_DIR or absolute   [Snakefile's own]
#   TARGETS        targets (space separated)                           [default rule]
#   REQUIRE_RULES  comma-separated rules that must have run on SLURM   [stand-in: both rules]
#   COMPARE_PATHS  space-separated paths (relative to the run dir) compared by sha256 [results]
#   COMPARE_EXCLUDE regex of relative paths not compared        [logs/benchmarks/.snakemake]
#   JOB_RECORDS    glob of JSON env records the rules write (optional cross-check)
#                  [stand-in: logs/*/*.env]
#   SNAKEMAKE_ARGS extra arguments for both runs (e.g. "--config n_eval=4")
#   LINK_PATHS     space-separated paths (relative to WORKFLOW_DIR) that git ignores but the
#                  runs read (a local model cache...): symlinked into both copies
#   SLURM_PROFILE  cluster profile under test                           [profiles/slurm]
#   LOCAL_CORES    cores of the local run                               [nproc]
#   SLURM_RUN_TIMEOUT seconds before the SLURM run is killed            [1800]
#   RUN_ROOT       where the two copies go        [fresh /tmp/teachable-cluster.XXXXXX]
#   KEEP_RUN=1     keep RUN_ROOT after a passing test (a failing one is always kept)
#   PYTHON         interpreter with snakemake and the plugin         [.venv/bin/python]
#   TEACHABLE_SLURM_ACCOUNT  account the jobs must carry                 [teachable]
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/tests/cluster
STANDIN=$HERE/standin
WORKFLOW_DIR=$(cd "${WORKFLOW_DIR:-$STANDIN}" && pwd)
CONFIG=${CONFIG:-}
TARGETS=${TARGETS:-}
if [[ $WORKFLOW_DIR == "$STANDIN" ]]; then
  REQUIRE_RULES=${REQUIRE_RULES:-prepare_shard,train_seed}
  JOB_RECORDS=${JOB_RECORDS-logs/*/*.env}
else
  REQUIRE_RULES=${REQUIRE_RULES:-}
  JOB_RECORDS=${JOB_RECORDS:-}
fi
SLURM_PROFILE=$(cd "${SLURM_PROFILE:-$REPO/profiles/slurm}" && pwd)
LINK_PATHS=${LINK_PATHS:-}
COMPARE_PATHS=${COMPARE_PATHS:-results}
COMPARE_EXCLUDE=${COMPARE_EXCLUDE-'(^|/)(logs?|benchmarks?|\.snakemake)(/|$)'}
SNAKEMAKE_ARGS=${SNAKEMAKE_ARGS:-}
LOCAL_CORES=${LOCAL_CORES:-$(nproc)}
SLURM_RUN_TIMEOUT=${SLURM_RUN_TIMEOUT:-1800}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
export TEACHABLE_SLURM_ACCOUNT=${TEACHABLE_SLURM_ACCOUNT:-teachable}
# the partitions of the test SLURM (slurm_up.sh), whatever a real cluster's shell has set
export TEACHABLE_SLURM_CPU_PARTITION=cpu TEACHABLE_SLURM_GPU_PARTITION=gpu
# rule shells call `python`/`snakemake`: the venv first, in both runs and inside SLURM jobs
# (sbatch exports the submitting environment)
PATH=$(dirname "$PYTHON"):$PATH
export PATH

[[ -x $PYTHON ]] || { echo "run_cluster_test: no python at $PYTHON (set PYTHON)" >&2; exit 1; }
[[ -f $WORKFLOW_DIR/Snakefile || -f $WORKFLOW_DIR/workflow/Snakefile ]] \
  || { echo "run_cluster_test: no Snakefile in WORKFLOW_DIR=$WORKFLOW_DIR" >&2; exit 1; }

RUN_ROOT=${RUN_ROOT:-$(mktemp -d /tmp/teachable-cluster.XXXXXX)}
mkdir -p "$RUN_ROOT"
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b - a}'; }
T_START=$(now)
PASSED=0
CHILD=""

# in_dir DIR LOG CMD...: run CMD in DIR (output to LOG) in its own process group, in the
# background, and wait for it: a signal to this script then runs the cleanup at once (bash
# defers traps until a foreground child exits), which stops the whole group
in_dir() {
  local dir=$1 logf=$2; shift 2
  (cd "$dir" && exec setsid "$@") >"$logf" 2>&1 &
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}

cleanup() {
  local rc=$?
  trap - INT TERM
  if [[ -n $CHILD ]] && kill -0 "$CHILD" 2>/dev/null; then
    echo "== stopping the running workflow (process group $CHILD)"
    kill -TERM -- "-$CHILD" 2>/dev/null
    for _ in $(seq 100); do kill -0 -- "-$CHILD" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$CHILD" 2>/dev/null || true
  fi
  echo "== teardown"
  "$HERE/slurm_down.sh" || true
  if [[ $PASSED -eq 1 && ${KEEP_RUN:-0} != 1 ]]; then rm -rf "$RUN_ROOT"
  else echo "run directories kept: $RUN_ROOT"; fi
  echo "total wall time: $(secs "$T_START" "$(now)") s"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# copy_workflow DST: the workflow's files without results or caches
copy_workflow() {
  mkdir -p "$1"
  if git -C "$WORKFLOW_DIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$WORKFLOW_DIR" ls-files -z --cached --others --exclude-standard \
      | tar -C "$WORKFLOW_DIR" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$1" -xf -
  else
    tar -C "$WORKFLOW_DIR" --exclude=./results --exclude=./.snakemake --exclude=./logs -cf - . \
      | tar -C "$1" -xf -
  fi
  local p
  for p in $LINK_PATHS; do
    [[ -e $WORKFLOW_DIR/$p ]] || { echo "run_cluster_test: LINK_PATHS entry $WORKFLOW_DIR/$p does not exist" >&2; exit 1; }
    mkdir -p "$(dirname "$1/$p")"; rm -rf "${1:?}/$p"; ln -s "$WORKFLOW_DIR/$p" "$1/$p"
  done
}

# targets go before the options: --configfile takes several values
args=()
[[ -n $CONFIG ]] && args+=(--configfile "$CONFIG")
# shellcheck disable=SC2206
args+=($SNAKEMAKE_ARGS)
# shellcheck disable=SC2206
targets=($TARGETS)

echo "== workflow $WORKFLOW_DIR  config=${CONFIG:-<Snakefile default>}  targets=${TARGETS:-<default>}"
echo "   runs in $RUN_ROOT/{local,slurm}"
rm -rf "${RUN_ROOT:?}/local" "${RUN_ROOT:?}/slurm"
copy_workflow "$RUN_ROOT/local"
copy_workflow "$RUN_ROOT/slurm"

echo "== local run (no SLURM)"
T0=$(now)
in_dir "$RUN_ROOT/local" "$RUN_ROOT/local.log" \
  "$PYTHON" -m snakemake --cores "$LOCAL_CORES" "${targets[@]}" "${args[@]}" \
  || { tail -30 "$RUN_ROOT/local.log"; echo "FAIL: the local run failed ($RUN_ROOT/local.log)" >&2; exit 1; }
T_LOCAL=$(secs "$T0" "$(now)")
echo "   done in $T_LOCAL s"

echo "== SLURM up"
T0=$(now)
"$HERE/slurm_up.sh"
T_UP=$(secs "$T0" "$(now)")

echo "== SLURM run: --profile ${SLURM_PROFILE#"$REPO"/} --profile tests/cluster/profile"
T0=$(now)
rc=0
in_dir "$RUN_ROOT/slurm" "$RUN_ROOT/slurm.log" \
  timeout -k 30 "$SLURM_RUN_TIMEOUT" "$PYTHON" -m snakemake \
  --profile "$SLURM_PROFILE" --profile "$HERE/profile" "${targets[@]}" "${args[@]}" || rc=$?
T_SLURM=$(secs "$T0" "$(now)")
if [[ $rc -ne 0 ]]; then
  tail -40 "$RUN_ROOT/slurm.log"
  echo "FAIL: the SLURM run failed (rc $rc; $RUN_ROOT/slurm.log; job logs in" \
       "$RUN_ROOT/slurm/.snakemake/slurm_logs)" >&2
  exit 1
fi
echo "   done in $T_SLURM s"

echo "== routing (SLURM's records)"
check=("$PYTHON" "$HERE/check_routing.py")
routing=(routing --workdir "$RUN_ROOT/slurm" --profile "$SLURM_PROFILE/config.yaml"
         --require-rules "$REQUIRE_RULES" --expect-account "$TEACHABLE_SLURM_ACCOUNT")
[[ -n $JOB_RECORDS ]] && routing+=(--job-records "$JOB_RECORDS")
"${check[@]}" "${routing[@]}"

echo "== outputs: local vs SLURM (sha256)"
cmp_args=(compare "$RUN_ROOT/local" "$RUN_ROOT/slurm" --exclude "$COMPARE_EXCLUDE")
for p in $COMPARE_PATHS; do cmp_args+=(--path "$p"); done
"${check[@]}" "${cmp_args[@]}"

echo "== wall time: SLURM up ${T_UP} s, local run ${T_LOCAL} s, SLURM run ${T_SLURM} s"
PASSED=1
echo "PASS"
