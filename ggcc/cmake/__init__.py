"""CMake integration (compiler and linker launchers, a toolchain snippet).

Arrives with the CMake/Ninja/Make issue.
"""
