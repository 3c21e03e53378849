"""The ``sb3`` agent (src/tunegym/gym/sb3.py) with settings SB3 cannot use: refused by
``tunegym verify`` where they can be told from the file, and a clear ``agent.config``
error (exit 2) where only SB3's training finds them; the example's live load balancer
is the workload."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tunegym.cli.main import main
from tunegym.gym.sb3 import SB3Options

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "live-loadbalancer"
HERE = Path(__file__).resolve().parent


def _workload(tmp_path: Path, **replace: str) -> Path:
    """The live-loadbalancer example copied, with 200 steps, and in its workload.toml each
    line starting with a key of ``replace`` replaced by that key's value."""
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__", "*.zip"))
    path = folder / "workload.toml"
    lines = path.read_text().replace("max_steps = 8000", "max_steps = 200").splitlines()
    for key, line in replace.items():
        (at,) = [i for i, text in enumerate(lines) if text.startswith(f"{key} =")]
        lines[at] = line
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_the_devices_sb3_places_a_policy_on_are_accepted(device: str) -> None:
    assert SB3Options(device=device).device == device


def test_an_unknown_device_is_refused_by_verify_and_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It passed verify and was 'internal error: RuntimeError' (exit 1) once SB3 ran."""
    path = _workload(tmp_path, torch_threads='torch_threads = 1\ndevice = "bogus"')
    says = "agent.config.device: unknown device 'bogus'; use 'auto', 'cpu', 'cuda', 'cuda:N'"
    assert main(["verify", str(path)]) == 2
    assert says in capsys.readouterr().err
    assert main(["run", str(path), "--output", str(tmp_path / "runs"), "-q"]) == 2
    err = capsys.readouterr().err
    assert says in err and "internal error" not in err
    assert not (tmp_path / "runs").exists()


def test_settings_sb3_fails_to_train_with_are_an_agent_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DQN with train_freq = 0 was 'internal error: AssertionError' (exit 1); that one is
    now refused by verify (tests/cli/test_verify.py), and PPO's ``ent_coef = "auto"``
    (SAC's setting) is one that only SB3's training finds."""
    kwargs = 'kwargs = { n_steps = 64, batch_size = 32, ent_coef = "auto" }'
    path = _workload(tmp_path, kwargs=kwargs)
    assert main(["verify", str(path)]) == 0
    assert main(["run", str(path), "--output", str(tmp_path / "runs"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert (
        "tunegym: error: agent.config: PPO cannot train with kwargs {'n_steps': 64, "
        "'batch_size': 32, 'ent_coef': 'auto'} (TypeError: "
    ) in err
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "error" and summary["jobs"][0]["status"] == "error"


def test_dqn_trains_with_train_freq_written_as_a_toml_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SB3's ``train_freq = (n, unit)`` is a list in TOML, which SB3 refused when it built
    DQN ("must be an integer and not [4, 'step']", exit 2); the agent passes a tuple."""
    kwargs = 'kwargs = { train_freq = [4, "step"], learning_starts = 8, batch_size = 8 }'
    path = _workload(tmp_path, algorithm='algorithm = "DQN"', kwargs=kwargs)
    assert main(["verify", str(path)]) == 0
    assert main(["run", str(path), "--output", str(tmp_path / "runs"), "-q"]) == 0, (
        capsys.readouterr().err
    )
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "ok"
    assert (run_dir / "live-loadbalancer" / "0" / "model.zip").is_file()


def test_an_error_of_the_env_while_sb3_trains_is_not_taken_for_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(HERE))  # server = "live_servers:..."
    path = _workload(
        tmp_path,
        server='server = "live_servers:FailingRouteServer"',
        metrics='metrics = ["paid"]',
        reward='reward = "expr: paid"',
    )
    code = main(["run", str(path), "--output", str(tmp_path / "runs"), "-q"])
    err = capsys.readouterr().err
    assert code != 0 and "the service went away" in err
    assert "agent.config" not in err


@pytest.mark.parametrize(
    ("save", "message"),
    [
        (".", "save must be a file name in the job folder (such as 'model.zip')"),
        ("models/", "save must be a file name in the job folder"),
        ("../model.zip", "save must be a file name in the job folder"),
        ("/tmp/model.zip", "save must be a file name in the job folder"),
        ("trajectory.csv", "save 'trajectory.csv' would overwrite the job's own files"),
        ("1/model.zip", "save '1/model.zip' would overwrite the job's own files"),
    ],
)
def test_a_save_path_outside_the_job_folder_or_over_its_files_is_refused(
    tmp_path: Path,
    write_toml,
    objective_workload,
    capsys: pytest.CaptureFixture[str],
    save,
    message,
) -> None:
    """'.' saved the model beside the job folder (SB3 renames a folder it cannot write);
    'trajectory.csv' overwrote tunegym's own file with the model."""
    agent = {"type": "sb3", "config": {"save": save}}
    path = write_toml("w.toml", objective_workload(agent=agent))
    assert main(["verify", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"tunegym: error: {path}: agent.config.save: ")
    assert message in line


def test_a_save_name_without_a_suffix_is_the_zip_sb3_writes(
    tmp_path: Path, write_toml, objective_workload
) -> None:
    """SB3 writes 'mymodel.zip' for save = 'mymodel'; the agent's model_path said
    'mymodel'. A name with a suffix is kept."""
    assert SB3Options(save="models/mymodel").save == "models/mymodel.zip"
    assert SB3Options(save="model.pt").save == "model.pt"
    pytest.importorskip("stable_baselines3")
    config = {"save": "models/mymodel", "kwargs": {"n_steps": 4, "batch_size": 4, "n_epochs": 1}}
    agent = {"type": "sb3", "max_steps": 4, "config": config}
    path = write_toml("w.toml", objective_workload(agent=agent))
    assert main(["run", str(path), "--output", str(tmp_path / "runs"), "-q"]) == 0
    (saved,) = (tmp_path / "runs").glob("*/objective/0/models/*")
    assert saved.name == "mymodel.zip" and saved.stat().st_size > 0
