"""``connect(config)``: build a data-plane client from a dict or a TOML table.

```toml
[dataplane]
backend = "ray"            # "memory" (default) | "ray" | "transferqueue"
name = "rollouts"          # ray: the actor's name; attach to it when it exists
```

Unknown keys and bad values raise :class:`DataPlaneConfigError` naming the key.
Backends are imported only when chosen, so ``ray``/``torch``/``transferqueue`` are
never imported by ``import tunegym.dataplane``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tunegym.dataplane.errors import DataPlaneConfigError


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemoryConfig(_Config):
    """In-process store; nothing to configure."""

    backend: Literal["memory"] = "memory"


class RayConfig(_Config):
    """A store hosted in a named Ray actor.

    ``connect`` attaches to the actor ``name`` in ``namespace`` when it exists and
    otherwise creates it (unless ``create = false``). The client that created it owns
    it: its ``close()`` kills the actor. ``address``/``num_cpus`` are used only when
    Ray is not initialised yet in this process.
    """

    backend: Literal["ray"]
    name: str = Field("tunegym-dataplane", min_length=1)
    namespace: str = Field("tunegym", min_length=1)
    create: bool = True
    detached: bool = False
    address: str | None = None
    num_cpus: int | None = Field(None, ge=1)


class TransferQueueConfig(_Config):
    """An adapter over TransferQueue (extra ``tq``) on Ray.

    ``connect`` attaches to a running TransferQueue when there is one and otherwise
    starts it with ``num_storage_units`` SimpleStorage units (each, and the
    controller, takes one Ray CPU). The client that started it owns it: its
    ``close()`` shuts TransferQueue down.
    """

    backend: Literal["transferqueue"]
    num_storage_units: int = Field(2, ge=1)
    total_storage_size: int | None = Field(None, ge=1)
    poll_interval_s: float = Field(0.005, gt=0, le=5)
    address: str | None = None
    num_cpus: int | None = Field(None, ge=1)


DataPlaneConfig = Annotated[
    MemoryConfig | RayConfig | TransferQueueConfig, Field(discriminator="backend")
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(DataPlaneConfig)


def parse_config(
    config: Mapping[str, Any] | None = None,
) -> MemoryConfig | RayConfig | TransferQueueConfig:
    """Validate a config mapping (``None`` or no ``backend`` key means ``memory``)."""
    if isinstance(config, MemoryConfig | RayConfig | TransferQueueConfig):
        return config
    if config is not None and not isinstance(config, Mapping):
        raise DataPlaneConfigError(
            "invalid data-plane config: expected a mapping such as {'backend': 'memory'}, "
            f"got a {type(config).__name__}"
        )
    data = dict(config or {})
    data.setdefault("backend", "memory")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise DataPlaneConfigError(f"invalid data-plane config: {problems}") from None
