"""``GymServer``: the protocol of an in-process live environment, and its loader.

The protocol lives with the envs that step it (:mod:`tunegym.env.server`); this module
keeps its public name at the gym boundary.
"""

from tunegym.env.server import (
    PROTOCOL_METHODS,
    SERVER_PATH,
    GymServer,
    ServerArgsWarning,
    ServerError,
    build_server,
    import_server_class,
    load_server,
    read_action_space,
    read_observation_space,
)

__all__ = [
    "PROTOCOL_METHODS",
    "SERVER_PATH",
    "GymServer",
    "ServerArgsWarning",
    "ServerError",
    "build_server",
    "import_server_class",
    "load_server",
    "read_action_space",
    "read_observation_space",
]
