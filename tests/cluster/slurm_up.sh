#!/usr/bin/env bash
# Start a throwaway single-node SLURM for the cluster test (Debian, as root, no systemd).
#
#   tests/cluster/slurm_up.sh        # install if needed, configure, start; idempotent
#   tests/cluster/slurm_down.sh      # stop only the daemons this script started, remove
#                                    # the config it wrote (--purge: also the packages)
#
# The node has two partitions on the same machine, `cpu` (default) and `gpu`, and fake
# GPUs (GRES gpu, File=/dev/null and /dev/zero: no device behind them) so that
# `sbatch --gpus=1` schedules, lands in partition gpu and gets CUDA_VISIBLE_DEVICES=0 or 1.
# No accounting database: job status comes from squeue (slurmctld keeps finished jobs for
# MinJobAge seconds); SLURM's own durable records are the job-completion log
# (jobcomp/filetxt) and one epilog file per job with the job's SLURM_*/CUDA_* environment
# as slurmd saw it (see docs/cluster.md).
#
# Environment (all optional):
#   SLURM_TEST_STATE_DIR   pid files and logs of the daemons    [/run/teachable-slurm]
#   SLURM_TEST_RECORD_DIR  jobcomp log + per-job epilog records [/var/log/slurm/teachable]
#   SLURM_TEST_NODE_CPUS   CPUs the node advertises             [nproc]
#   SLURM_TEST_NODE_MEM_MB memory the node advertises, MB       [half of MemTotal]
#                          (SlurmdParameters=config_overrides: may exceed the hardware,
#                          for rules that ask more threads/mem than this machine has)
#   SLURM_TEST_NODE_GPUS   fake GPUs (1 or 2)                   [2]
set -euo pipefail

STATE_DIR=${SLURM_TEST_STATE_DIR:-/run/teachable-slurm}
RECORD_DIR=${SLURM_TEST_RECORD_DIR:-/var/log/slurm/teachable}
NODE_CPUS=${SLURM_TEST_NODE_CPUS:-$(nproc)}
NODE_MEM_MB=${SLURM_TEST_NODE_MEM_MB:-$(awk '/^MemTotal:/ {print int($2 / 1024 / 2)}' /proc/meminfo)}
NODE_GPUS=${SLURM_TEST_NODE_GPUS:-2}
CONF_DIR=/etc/slurm
PKG_RECORD=/var/lib/teachable-slurm/installed-packages
MARKER="# written by teachable tests/cluster/slurm_up.sh"
T0=$(date +%s.%N)

die() { echo "slurm_up: error: $*" >&2; exit 1; }
log() { echo "slurm_up: $*"; }

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts daemons)"
case $NODE_GPUS in 1) GRES_FILES=/dev/null ;; 2) GRES_FILES=/dev/null,/dev/zero ;;
  *) die "SLURM_TEST_NODE_GPUS must be 1 or 2 (fake GPU device files), got '$NODE_GPUS'" ;; esac

# --- 1. packages ------------------------------------------------------------------------
# Packages this script installs are listed in $PKG_RECORD (`slurm_down.sh --purge` removes
# exactly those).
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || die "slurm is not installed and apt-get is missing (Debian/Ubuntu only)"
  log "installing slurmctld slurmd slurm-client munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  before=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" {print $2}' | sort)
  apt-get update -qq >"/tmp/teachable-slurm-apt.log" 2>&1 \
    || { tail -20 /tmp/teachable-slurm-apt.log >&2; die "apt-get update failed"; }
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge \
    >>"/tmp/teachable-slurm-apt.log" 2>&1 \
    || { tail -20 /tmp/teachable-slurm-apt.log >&2; die "apt-get install failed"; }
  after=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" {print $2}' | sort)
  mkdir -p "$(dirname "$PKG_RECORD")"
  { comm -13 <(echo "$before") <(echo "$after"); cat "$PKG_RECORD" 2>/dev/null || true; } | sort -u >"$PKG_RECORD.tmp"
  mv "$PKG_RECORD.tmp" "$PKG_RECORD"
fi

# --- 2. configuration -------------------------------------------------------------------
HOST=$(hostname -s)
mkdir -p "$STATE_DIR" "$RECORD_DIR" "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
if [[ -e $CONF_DIR/slurm.conf ]] && ! grep -qxF "$MARKER" "$CONF_DIR/slurm.conf"; then
  die "$CONF_DIR/slurm.conf exists and was not written by this script; refusing to overwrite it"
fi

EPILOG=$CONF_DIR/teachable-epilog.sh
cat >"$EPILOG.new" <<EOF
#!/bin/sh
$MARKER
# Runs as root on the node when a job ends: keep SLURM's view of the job's allocation.
env | grep -E '^(SLURM_|CUDA_VISIBLE_DEVICES=|GPU_DEVICE_ORDINAL=)' | sort \\
  > "$RECORD_DIR/job_\${SLURM_JOB_ID}.env.tmp" \\
  && mv "$RECORD_DIR/job_\${SLURM_JOB_ID}.env.tmp" "$RECORD_DIR/job_\${SLURM_JOB_ID}.env"
exit 0
EOF
chmod 755 "$EPILOG.new"

cat >"$CONF_DIR/slurm.conf.new" <<EOF
$MARKER
ClusterName=teachable
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without DefMemPerCPU a job without --mem takes the whole node and jobs run one at a time
DefMemPerCPU=1000
# finished jobs stay visible to squeue (the test's job-status source) for 10 minutes
MinJobAge=600
ReturnToService=2
SlurmdParameters=config_overrides
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$RECORD_DIR/jobcomp.log
Epilog=$EPILOG
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd.log
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NODE_CPUS RealMemory=$NODE_MEM_MB Gres=gpu:$NODE_GPUS State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST Default=NO MaxTime=INFINITE State=UP
EOF
cat >"$CONF_DIR/gres.conf.new" <<EOF
$MARKER
# fake GPU(s): scheduling only, there is no device behind it
NodeName=$HOST Name=gpu File=$GRES_FILES
EOF

changed=0
for f in slurm.conf gres.conf teachable-epilog.sh; do
  if ! cmp -s "$CONF_DIR/$f.new" "$CONF_DIR/$f"; then changed=1; mv "$CONF_DIR/$f.new" "$CONF_DIR/$f";
  else rm -f "$CONF_DIR/$f.new"; fi
done

# --- 3. daemons -------------------------------------------------------------------------
# alive NAME: true if the pid in $STATE_DIR/NAME.pid is a live process called NAME
alive() {
  local pidf=$STATE_DIR/$1.pid pid
  [[ -s $pidf ]] || return 1
  pid=$(<"$pidf")
  [[ -r /proc/$pid/comm && $(</proc/$pid/comm) == "$1" ]]
}

if [[ $changed -eq 1 ]] && { alive slurmctld || alive slurmd; }; then
  log "configuration changed: restarting the daemons this script started"
  "$(dirname "$0")/slurm_down.sh" --keep-munge
fi

# munge: reuse a working one (ours or the system's), else start ours
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  [[ -s /etc/munge/munge.key ]] || die "/etc/munge/munge.key is missing (reinstall munge)"
  rm -f "$STATE_DIR/munged.pid" /run/munge/munged.pid
  runuser -u munge -- munged --force || die "munged did not start (see /var/log/munge/munged.log)"
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || die "munge does not work (see /var/log/munge/munged.log)"
  cp /run/munge/munged.pid "$STATE_DIR/munged.pid"   # munged writes it as user munge
  log "started munged (pid $(<"$STATE_DIR/munged.pid"))"
fi

if ! alive slurmctld; then
  rm -f "$STATE_DIR/slurmctld.pid"
  # -c: start from a clean state (no jobs left over from an earlier run); job ids may
  # repeat, so the records of earlier runs go too
  rm -f "$RECORD_DIR"/job_*.env "$RECORD_DIR/jobcomp.log"
  slurmctld -c || die "slurmctld did not start (see $STATE_DIR/slurmctld.log)"
  for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.1; done
  alive slurmctld || { tail -20 "$STATE_DIR/slurmctld.log" >&2; die "slurmctld died"; }
  log "started slurmctld (pid $(<"$STATE_DIR/slurmctld.pid"))"
fi
if ! alive slurmd; then
  rm -f "$STATE_DIR/slurmd.pid"
  slurmd || die "slurmd did not start (see $STATE_DIR/slurmd.log)"
  for _ in $(seq 50); do alive slurmd && break; sleep 0.1; done
  alive slurmd || { tail -20 "$STATE_DIR/slurmd.log" >&2; die "slurmd died"; }
  log "started slurmd (pid $(<"$STATE_DIR/slurmd.pid"))"
fi

# --- 4. wait for the node -------------------------------------------------------------
state=""
for _ in $(seq 150); do
  state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null | sort -u | head -1)
  case $state in idle|mixed|allocated) break ;;
    down*|drain*) scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;; esac
  sleep 0.2
done
case $state in idle|mixed|allocated) ;;
  *) tail -20 "$STATE_DIR/slurmd.log" >&2; die "node $HOST is '$state', not idle after 30 s" ;; esac

sinfo -o "%P %a %D %T %c %m %G"
log "ready in $(awk -v t0="$T0" -v t1="$(date +%s.%N)" 'BEGIN {printf "%.1f", t1 - t0}') s"
