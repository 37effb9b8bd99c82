"""Configuration input shared by every layer: bounded YAML reading (:mod:`codesign.config.yaml`).
Imports nothing of ours except :mod:`codesign.errors`."""
