#!/usr/bin/env bash
# Stop the test SLURM started by tests/cluster/slurm_up.sh: cancel its jobs, then stop ONLY
# the daemons whose pids slurm_up.sh recorded (slurmd, slurmctld, munged), by pid, and remove
# stale pid files. A munged that was already running before slurm_up.sh is left alone.
# Then it removes the config files slurm_up.sh wrote (/etc/slurm/slurm.conf...): with a
# slurm.conf naming a controller that is gone, every later `snakemake` start (local runs
# too) waits ~10 s, because the slurm executor plugin runs `scontrol show config` on import;
# without a slurm.conf that call fails in milliseconds. Packages stay (next start ~0.3 s)
# unless --purge. Idempotent: safe to run when nothing is running.
#
#   tests/cluster/slurm_down.sh [--purge] [--keep-munge]
#     --purge       also apt-get purge the packages slurm_up.sh installed (listed in
#                   /var/lib/teachable-slurm/installed-packages); others are left alone
#     --keep-munge  leave munged and the config (slurm_up.sh uses it to restart on a
#                   config change)
set -uo pipefail

STATE_DIR=${SLURM_TEST_STATE_DIR:-/run/teachable-slurm}
PKG_RECORD=/var/lib/teachable-slurm/installed-packages
MARKER="# written by teachable tests/cluster/slurm_up.sh"
KEEP_MUNGE=0
PURGE=0
for arg in "$@"; do
  case $arg in
    --keep-munge) KEEP_MUNGE=1 ;;
    --purge) PURGE=1 ;;
    *) echo "slurm_down: unknown argument $arg" >&2; exit 2 ;;
  esac
done
log() { echo "slurm_down: $*"; }

# pid_of NAME: the recorded pid if it is a live process called NAME (else empty)
pid_of() {
  local pidf=$STATE_DIR/$1.pid pid
  [[ -s $pidf ]] || return 0
  pid=$(<"$pidf")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/comm && $(</proc/$pid/comm) == "$1" ]] && echo "$pid"
  return 0
}

# stop NAME...: SIGTERM the recorded live pids together, wait up to 10 s, then SIGKILL
stop() {
  local name pid pids=() names=()
  for name in "$@"; do
    pid=$(pid_of "$name")
    if [[ -n $pid ]]; then kill -TERM "$pid" 2>/dev/null; pids+=("$pid"); names+=("$name"); fi
  done
  for i in "${!pids[@]}"; do
    pid=${pids[$i]}
    for _ in $(seq 200); do [[ -d /proc/$pid ]] || break; sleep 0.05; done
    if [[ -d /proc/$pid ]]; then
      log "${names[$i]} (pid $pid) ignored SIGTERM for 10 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null
    fi
    log "stopped ${names[$i]} (pid $pid)"
  done
  for name in "$@"; do rm -f "$STATE_DIR/$name.pid"; done
}

# cancel whatever is still queued or running on our controller, so no job step outlives it
if [[ -n $(pid_of slurmctld) ]]; then
  jobs=$(squeue -h -t PD,R,CG,CF,S -o %i 2>/dev/null | tr '\n' ' ')
  if [[ -n ${jobs// /} ]]; then
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null
    for _ in $(seq 100); do
      [[ -z $(squeue -h -t PD,R,CG,CF,S -o %i 2>/dev/null) ]] && break; sleep 0.1
    done
  fi
fi

stop slurmd slurmctld
[[ $KEEP_MUNGE -eq 1 ]] || stop munged

# stale pid files of the Debian defaults make the package scripts call scancel and fail
for f in /run/slurmctld.pid /run/slurmd.pid; do
  if [[ -e $f ]]; then
    pid=$(<"$f"); [[ -n $pid && -d /proc/$pid ]] || { rm -f "$f"; log "removed stale $f"; }
  fi
done

# nothing of ours may be left running before config or packages go
if [[ $KEEP_MUNGE -eq 0 && -z $(pid_of slurmd)$(pid_of slurmctld)$(pid_of munged) ]]; then
  for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf /etc/slurm/teachable-epilog.sh; do
    if [[ -e $f ]] && grep -qxF "$MARKER" "$f"; then rm -f "$f"; fi
  done
  if [[ $PURGE -eq 1 && -s $PKG_RECORD ]]; then
    mapfile -t pkgs < "$PKG_RECORD"
    log "purging the packages slurm_up.sh installed: ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${pkgs[@]}" >/tmp/teachable-slurm-purge.log 2>&1 \
      || { tail -20 /tmp/teachable-slurm-purge.log >&2; log "apt-get purge failed"; exit 1; }
    rm -f "$PKG_RECORD"
  fi
fi
exit 0
