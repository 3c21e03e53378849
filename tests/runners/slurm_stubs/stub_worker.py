"""Walks a stub job through PENDING, RUNNING and a final state, running it locally."""
import os, pathlib, re, subprocess, sys, time

state_dir = pathlib.Path(os.environ["STUB_SLURM_DIR"])
job_id, script, tasks = sys.argv[1], sys.argv[2], sys.argv[3:]
(state_dir / f"{job_id}.pgid").write_text(str(os.getpgid(0)))
text = open(script).read()


def option(name):
    """An #SBATCH option as sbatch reads it: its quotes removed; in --output and --error
    a doubled % is one %."""
    found = re.search(rf"^#SBATCH --{name}=(.*)$", text, re.M)
    if not found:
        return None
    value = found.group(1).strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value.replace("%%", "%") if name in ("output", "error") else value


def observed(task, state):
    """Move on only once the runner has polled this state (or after 20 s)."""
    deadline = time.time() + 20
    while not (state_dir / f"{task}.seen-{state}").exists() and time.time() < deadline:
        time.sleep(0.01)


for task in tasks:
    observed(task, "PENDING")
    (state_dir / f"{task}.state").write_text("RUNNING|0:0")
for index, task in enumerate(tasks):
    out = option("output") or os.devnull
    err = option("error") or out
    env = {**os.environ, "SLURM_JOB_ID": job_id}
    if len(tasks) > 1 or "--array" in text:
        env["SLURM_ARRAY_TASK_ID"] = str(index)
        out = out.replace("%a", str(index))
        err = out if option("error") is None else err
    with open(out, "a") as fo, open(err, "a") as fe:
        code = subprocess.run(["bash", script], stdout=fo, stderr=fe, env=env).returncode
    observed(task, "RUNNING")
    final = os.environ.get("STUB_FINAL_STATE") or ("COMPLETED" if code == 0 else "FAILED")
    (state_dir / f"{task}.state").write_text(f"{final}|{code}:0")
