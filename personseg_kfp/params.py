"""``--param key=value`` pairs checked and typed against the pipeline's own inputs."""

from typing import Any

from personseg.errors import UserError

_CASTS = {"String": str, "Integer": int, "Float": float}


def pipeline_inputs(pipeline: Any) -> dict[str, tuple[str, Any]]:
    """``{name: (KFP type, default)}`` of a compiled ``@dsl.pipeline`` function."""
    return {name: (spec.type, spec.default) for name, spec in pipeline.component_spec.inputs.items()}


def parse_params(pairs: list[str], pipeline: Any) -> dict[str, Any]:
    """Typed arguments from ``key=value`` strings; unknown keys and bad values name themselves."""
    known = pipeline_inputs(pipeline)
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--param {pair!r}: expected key=value")
        if key not in known:
            raise UserError(f"--param {key}: not a pipeline parameter (known: {', '.join(sorted(known))})")
        kind = known[key][0]
        if kind == "Boolean":
            if raw.lower() not in ("true", "false"):
                raise UserError(f"--param {key}={raw!r}: expected true or false")
            out[key] = raw.lower() == "true"
            continue
        cast = _CASTS.get(kind, str)
        try:
            out[key] = cast(raw)
        except ValueError:
            raise UserError(f"--param {key}={raw!r}: expected {cast.__name__}") from None
    return out
