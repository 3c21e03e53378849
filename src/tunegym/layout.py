"""Names of the files a run folder holds that more than one room needs to know."""

RUN_DB_NAME = "trials.sqlite"
"""The trial store's file in a run folder."""
