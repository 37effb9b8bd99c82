"""Configuration: the one validation engine for YAML (:mod:`codesign.config.schema`)."""
