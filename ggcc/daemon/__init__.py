"""The forcer daemon: one per GGCC_DIR, serving launchers and compiling on save."""
