"""CMake integration: `ggcc cmake` (configure with ggcc as the compiler and
linker launcher) and snippets for people who call cmake themselves
(configure.py)."""
