"""The compiler launcher: compiler and linker command lines into thunks.

Parsing gcc/g++/clang command lines and deciding what becomes a thunk and
what runs locally (with a recorded reason) lands here with the launcher
issue; the generic ``ggcc thunk`` front end lives in ggcc/commands/create.py.
"""
