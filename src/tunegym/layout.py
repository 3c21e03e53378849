"""Names of the files a run folder holds that more than one room needs to know."""

RUN_DB_NAME = "trials.sqlite"
"""The trial store's file in a run folder."""

TRAJECTORY_NAME = "trajectory.csv"
"""A job folder's trial table (every trial, in step order)."""
ENV_PARAMS_NAME = "env.csv"
"""A job folder's env params per trial (written when the job has env params)."""
BEST_CONFIG_NAME = "best_config.toml"
"""A job folder's best configuration."""
JOB_FILE_NAMES = frozenset({TRAJECTORY_NAME, ENV_PARAMS_NAME, BEST_CONFIG_NAME})
"""What tunegym writes in a job folder beside its numbered trial folders."""
