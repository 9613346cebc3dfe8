"""The function's zip, built from the installed ggcc: the package, never a copy.

The zip holds the parts of the ``ggcc`` package the function imports, as
installed (their .py files), and the pure-Python libraries it needs beyond
the Lambda runtime's own boto3: ``redis`` (for redis:// storage). The
parts are an allow-list of folders: a module added elsewhere stays out
unless it is named here, and tests/test_lambda_package.py checks that every
import of every module in the zip resolves inside the zip. It is deterministic (sorted
entries, fixed timestamps and modes), so the same ggcc gives the same
bytes, and ``ggcc lambda deploy`` can tell whether the deployed code is
current by comparing hashes instead of uploading again.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
import zipfile

HANDLER = "ggcc.aws.function.handler"
_EPOCH = (1980, 1, 1, 0, 0, 0)
# Packages the function imports that the Lambda runtime does not provide.
_BUNDLED = ("ggcc", "redis")
# The parts of ggcc the function runs on: the handler and its protocol,
# running a thunk, the stores, and what those stand on.
_GGCC_PARTS = ("ggcc/__init__.py", "ggcc/aws/", "ggcc/base/", "ggcc/execution/", "ggcc/formats/", "ggcc/storage/")


def _package_dir(name: str) -> str | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def build_zip() -> bytes:
    """The zip's bytes."""
    entries: list[tuple[str, str]] = []  # (name in the zip, path on disk)
    for pkg in _BUNDLED:
        d = _package_dir(pkg)
        if d is None:
            if pkg == "ggcc":
                raise RuntimeError("the ggcc package cannot be found")
            continue  # redis is optional: s3:// storage does not need it
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames[:] = sorted(n for n in dirnames if n != "__pycache__")
            for fname in sorted(filenames):
                if not fname.endswith((".py", ".typed")):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, fname), os.path.dirname(d)).replace(os.sep, "/")
                if pkg != "ggcc" or rel.startswith(_GGCC_PARTS):
                    entries.append((rel, os.path.join(dirpath, fname)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, src in sorted(entries):
            info = zipfile.ZipInfo(name, _EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(src, "rb") as f:
                z.writestr(info, f.read())
    return buf.getvalue()


def code_sha256(data: bytes) -> str:
    """The hash Lambda reports as CodeSha256 (base64 of the zip's SHA-256)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
