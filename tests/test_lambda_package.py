"""The Lambda function's zip holds an allow-list of ggcc's folders: every
import of every module in it must resolve inside it, or the function fails
on AWS where no test runs it."""

from __future__ import annotations

import ast
import io
import subprocess
import sys
import zipfile
from pathlib import Path

from ggcc.aws import package


def _ggcc_imports(source: str, module: str) -> set[str]:
    """The ggcc modules ``module``'s source imports, at top level or inside
    functions (lazy imports too): each a module, or a package and a name
    that may be a module of it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "ggcc")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "ggcc":
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_every_import_in_the_zip_resolves_inside_it() -> None:
    z = zipfile.ZipFile(io.BytesIO(package.build_zip()))
    names = set(z.namelist())
    modules = {n[:-3].replace("/", ".").removesuffix(".__init__") for n in names if n.endswith(".py")}
    assert "ggcc.aws.function" in modules and "ggcc.execution.executor" in modules
    assert not any(n.startswith(("ggcc/launcher/", "ggcc/dependency_scan/", "ggcc/commands/")) for n in names)
    missing = []
    for n in sorted(names):
        if not (n.startswith("ggcc/") and n.endswith(".py")):
            continue
        mod = n[:-3].replace("/", ".").removesuffix(".__init__")
        for imp in _ggcc_imports(z.read(n).decode(), mod):
            parent = imp.rpartition(".")[0]
            # `from ggcc.x import name`: name is a module of the zip, or a
            # name defined in ggcc.x (then ggcc.x itself must be there).
            if imp not in modules and parent not in modules:
                missing.append(f"{n} imports {imp}")
    assert not missing, missing


def test_the_handler_imports_from_the_zip_alone(tmp_path: Path) -> None:
    zipfile.ZipFile(io.BytesIO(package.build_zip())).extractall(tmp_path)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import ggcc.aws.function, ggcc.storage.tiered, ggcc.storage.uri, ggcc.execution.remote_exec;"
        "bad = [m for m, v in sys.modules.items() if m.startswith('ggcc') and not"
        " (getattr(v, '__file__', '') or '').startswith(sys.argv[1])];"
        "assert not bad, bad; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
