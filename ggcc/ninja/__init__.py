"""Ninja and Make integration: `ggcc ninja` and `ggcc make` run the build
tool with a -j that fits the engine and the daemon already warm (run.py)."""
