"""Typed errors. Every user mistake raises a subclass of :class:`CodesignError`; the CLI
turns it into one line on stderr and exit code 2 (style rule 12)."""

from __future__ import annotations


class CodesignError(Exception):
    """Base of every error a user can cause (bad input, bad spec, unsupported op in strict mode)."""


class SpecError(CodesignError):
    """A YAML spec (hardware or sweep) is malformed: names file, key path, value and what is allowed."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file, self.key = file, key
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")


class WorkloadError(CodesignError):
    """A workload spec cannot be resolved (missing file, factory not found, unknown knob)."""


class TraceError(CodesignError):
    """Tracing failed or met an unsupported op under --strict."""


class HardwareError(CodesignError):
    """Hardware preset not found or not usable for the request."""


class MeasureError(CodesignError):
    """A measured run cannot be made (unknown device, no GPU, the model fails at run time)."""


def did_you_mean(word: str, choices) -> str:
    """' (did you mean X?)' when a close match exists, else ''."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
