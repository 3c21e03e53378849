#!/bin/bash
#SBATCH --job-name=tunegym-train-1
#SBATCH --nodes=2
#SBATCH --partition=gpu
#SBATCH --account=proj
#SBATCH --time=00:03:00
#SBATCH --gpus-per-node=8
#SBATCH --exclusive
#SBATCH --chdir={TRIAL_DIR}
#SBATCH --output={TRIAL_DIR}/stdout.txt
#SBATCH --error={TRIAL_DIR}/stderr.txt

cd {TRIAL_DIR} || exit 1
export B='$(danger)'
export TUNEGYM_PARAM_LR=0.1
tunegym_start=$(date +%s.%N)
tunegym_t0=$(date +%s%N)
set -m
timeout --kill-after=5s 90s srun --mpi=pmix --container-image=nvcr.io/nvidia/pytorch:24.01 --container-mounts=/data:/data python3 train.py --lr=0.1 'name with space; rm -rf /' &
tunegym_pg=$!
wait $tunegym_pg
code=$?
set +m
outcome=exit
if { [ $code -eq 124 ] || [ $code -eq 137 ]; } && [ $(( $(date +%s%N) - tunegym_t0 )) -ge 90000000000 ]; then
  outcome=timeout
fi
if kill -0 -- -$tunegym_pg 2>/dev/null; then  # leftovers: SIGTERM, then SIGKILL
  kill -TERM -- -$tunegym_pg 2>/dev/null
  for _ in $(seq 50); do
    kill -0 -- -$tunegym_pg 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- -$tunegym_pg 2>/dev/null
fi
echo "$code $outcome $tunegym_start $(date +%s.%N)" > {TRIAL_DIR}/exitcode
exit $code
