"""ggcc: a compiler launcher that turns every build step into a cacheable thunk.

This package's ``__init__`` imports nothing on purpose: the launcher runs once
per compile, and every import here would be paid by every compile.
"""

__version__ = "0.1.0"
