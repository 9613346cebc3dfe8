"""Finding every file a step reads: header closures and toolchain (ELF) closures.

Arrives with the launcher issue (toolchain capture, -M header lists) and the
header-scanner issue.
"""
