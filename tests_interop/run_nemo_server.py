"""Run one NeMo Gym server class: ``run_nemo_server.py KIND IMPL CLASS`` (see nemo_stack.py).

Equivalent to NeMo Gym running ``KIND/IMPL/app.py`` (its ``__main__`` calls
``CLASS.run_webserver()``), except that a class leaving ``ray_enabled`` unset runs with
``ray_enabled = False`` rather than starting a Ray cluster it does not use.
"""

from __future__ import annotations

import importlib
import sys


def main() -> None:
    kind, impl, class_name = sys.argv[1:4]
    module = importlib.import_module(f"{kind}.{impl}.app")
    server_class = getattr(module, class_name)
    if getattr(server_class, "ray_enabled", False) is None:
        server_class = type(server_class.__name__, (server_class,), {"ray_enabled": False})
    server_class.run_webserver()


if __name__ == "__main__":
    main()
