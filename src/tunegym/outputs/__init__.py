"""The files a run writes besides its trial store: ``summary.json`` and
``best_config.toml``, written atomically."""
