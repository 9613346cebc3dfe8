"""Ninja and Make integration (running the build tool with a fitting -j).

Arrives with the CMake/Ninja/Make issue.
"""
