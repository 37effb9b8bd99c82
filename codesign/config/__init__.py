"""Configuration input shared by every layer: bounded YAML reading (:mod:`codesign.config.yaml`)
and the one validation engine for hardware and sweep YAML (:mod:`codesign.config.schema`).
Imports nothing of ours except :mod:`codesign.errors`."""
