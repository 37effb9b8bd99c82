"""The command line: the only layer that parses arguments or prints. ``codesign`` = :func:`main`."""

from codesign.cli.main import main

__all__ = ["main"]
