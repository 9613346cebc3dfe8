"""ggcc's one build step beyond pure Python: ggcc-client, the launcher's
native client (ggcc/client/native.c), compiled at install with the
machine's own C compiler. It is installed as bin/ggcc itself (and as
bin/ggcc-client, the name launchers and ggcc infer's links use), and the
script bin/ggcc becomes bin/ggcc-python, which the client execs for
anything that is not a compile: a build that names `ggcc` then starts no
shell per compile. Without a working compiler the install still succeeds,
bin/ggcc stays the script and ggcc uses its Python launcher (`ggcc doctor`
says so). Everything else is in pyproject.toml."""

import os
import shlex
import shutil
import subprocess
import sys

from setuptools import Distribution, setup

try:  # setuptools >= 69 has its own; before, its copy of distutils' (imported through setuptools)
    from setuptools.command.build_scripts import build_scripts
except ImportError:
    from distutils.command.build_scripts import build_scripts

SOURCE = os.path.join("ggcc", "client", "native.c")
NAME = "ggcc-client"


SCRIPT, SCRIPT_AS = "ggcc", "ggcc-python"


class build_scripts_and_client(build_scripts):
    def run(self) -> None:
        # A build directory's ggcc from before may be the client: gone, the
        # script is copied again.
        for name in (SCRIPT, SCRIPT_AS, NAME):
            stale = os.path.join(self.build_dir, name)
            if os.path.lexists(stale):
                os.unlink(stale)
        super().run()
        os.makedirs(self.build_dir, exist_ok=True)
        out = os.path.join(self.build_dir, NAME)
        why = build_client(out)
        if why:
            sys.stderr.write(f"ggcc: {NAME} not built ({why}); ggcc will use its Python launcher\n")
            return
        script = os.path.join(self.build_dir, SCRIPT)
        os.replace(script, os.path.join(self.build_dir, SCRIPT_AS))
        shutil.copy2(out, script)


def build_client(out: str) -> str:
    """Compile the client to ``out``; why not, or ""."""
    cc = shlex.split(os.environ.get("CC", "")) or [shutil.which("cc") or shutil.which("gcc") or "cc"]
    tmp = f"{out}.{os.getpid()}.tmp"
    # Not the user's CFLAGS: the client is built one way everywhere.
    cmd = [*cc, "-std=c99", "-O2", "-Wall", "-o", tmp, SOURCE]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        return f"{cc[0]}: {e}"
    if p.returncode != 0:
        if os.path.exists(tmp):
            os.unlink(tmp)
        return f"{cc[0]} failed: {(p.stderr.strip().splitlines() or ['?'])[-1]}"
    os.replace(tmp, out)
    return ""


class NativeDistribution(Distribution):
    """A wheel holding ggcc-client is for this platform only (a pure wheel's
    tag would let pip install it on another architecture)."""

    def has_ext_modules(self) -> bool:
        return True


setup(cmdclass={"build_scripts": build_scripts_and_client}, distclass=NativeDistribution)
