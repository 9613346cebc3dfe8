"""ggcc: a compiler launcher that turns every build step into a cacheable thunk.

This package's ``__init__`` imports nothing on purpose: the launcher runs once
per compile, and every import here would be paid by every compile.
"""

__version__ = "0.1.0"


def ensure_site() -> None:
    """Set up site's paths (ggcc's dependencies, .pth files) if bin/ggcc
    started Python without them: only the launcher's hot path goes without.
    Here, below every module that needs it, so none imports the entry point."""
    import sys

    if sys.flags.no_site and "site" not in sys.modules:
        import site

        site.main()
