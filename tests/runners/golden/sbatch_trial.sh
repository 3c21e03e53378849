#!/bin/bash
#SBATCH --job-name=tunegym-train-1
#SBATCH --nodes=2
#SBATCH --partition=gpu
#SBATCH --account=proj
#SBATCH --time=00:03:00
#SBATCH --gpus-per-node=8
#SBATCH --exclusive
#SBATCH --chdir="{TRIAL_DIR}"
#SBATCH --output="{TRIAL_DIR}/stdout.txt"
#SBATCH --error="{TRIAL_DIR}/stderr.txt"

cd {TRIAL_DIR} || exit 1
export B='$(danger)'
export TUNEGYM_PARAM_LR=0.1
trap 'tunegym_stop=1' TERM INT HUP
export TUNEGYM_TRIAL_TAG="slurm.${SLURM_JOB_ID:-$$}"
tunegym_tagged() {  # the tagged processes (these helpers run untagged)
  env -u TUNEGYM_TRIAL_TAG grep -lzsx "TUNEGYM_TRIAL_TAG=$TUNEGYM_TRIAL_TAG" /proc/[0-9]*/environ | env -u TUNEGYM_TRIAL_TAG cut -d/ -f3
}
tunegym_alive() { kill -0 -- -$tunegym_pg 2>/dev/null || [ -n "$(tunegym_tagged)" ]; }
tunegym_sweep() {  # SIGTERM the trial's group and tagged ones, SIGKILL $1 tenths later
  tunegym_alive || return 0
  kill -TERM -- -$tunegym_pg $(tunegym_tagged) 2>/dev/null
  for _ in $(seq "$1"); do
    tunegym_alive || return 0
    sleep 0.1
  done
  kill -KILL -- -$tunegym_pg $(tunegym_tagged) 2>/dev/null
}
tunegym_start=$(date +%s.%N)
if [ -n "${tunegym_stop:-}" ]; then echo "143 cancelled $tunegym_start $(date +%s.%N)" > {TRIAL_DIR}/exitcode; exit 143; fi
tunegym_t0=$(date +%s%N)
set -m
timeout --kill-after=5s 90s srun --mpi=pmix --container-image=nvcr.io/nvidia/pytorch:24.01 --container-mounts=/data:/data python3 train.py --lr=0.1 'name with space; rm -rf /' &
tunegym_pg=$!
set +m
if [ -z "${tunegym_stop:-}" ]; then wait $tunegym_pg; fi
code=$?
if [ -z "${tunegym_stop:-}" ] && [ $code -eq 143 ]; then sleep 0.5; fi
if [ -n "${tunegym_stop:-}" ]; then  # cancelled: Slurm's state tells the rest
  tunegym_sweep 10; echo "143 cancelled $tunegym_start $(date +%s.%N)" > {TRIAL_DIR}/exitcode; exit 143
fi
outcome=exit
if { [ $code -eq 124 ] || [ $code -eq 137 ]; } && [ $(( $(date +%s%N) - tunegym_t0 )) -ge 90000000000 ]; then
  outcome=timeout
fi
tunegym_sweep 50  # what the command left behind
echo "$code $outcome $tunegym_start $(date +%s.%N)" > {TRIAL_DIR}/exitcode
exit $code
