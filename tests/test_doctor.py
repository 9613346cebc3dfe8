"""`ggcc doctor`: a healthy set-up passes; each broken part fails with the
line that names it and what to do."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from helpers import GGCC
from servers import free_port, redis_server


def _doctor(env: dict[str, str]) -> tuple[int, dict[str, dict[str, Any]]]:
    """The exit code, and the checks by what they check (each setting's
    problem under "setting: NAME...")."""
    p = subprocess.run(GGCC + ["doctor", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert not p.stderr, p.stderr  # one report, no traceback
    checks = json.loads(p.stdout)
    return p.returncode, {c["what"] + (f": {c['detail']}" if c["what"] == "setting" else ""): c for c in checks}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GGCC_", "GG_"))}
    env.update(GGCC_DIR=str(tmp_path / "store"), GGCC_CONFIG=os.devnull)
    return dict(env, **extra)


def test_a_healthy_set_up_passes_with_a_real_compile_per_compiler(tmp_path: Path) -> None:
    with redis_server(tmp_path) as r:
        rc, checks = _doctor(_env(tmp_path, GGCC_STORAGE=r.uri))
    assert rc == 0, checks
    assert all(c["mark"] in ("ok", "--") for c in checks.values()), checks
    assert "ran as a thunk" in checks["gcc"]["detail"] and "identical" in checks["gcc"]["detail"]
    assert "ran as a thunk" in checks["g++"]["detail"]
    assert checks["shared store"]["mark"] == "ok" and "read back and removed" in checks["shared store"]["detail"]
    assert checks["GGCC_DIR"]["mark"] == "ok"


def test_read_only_credentials_are_said_not_failed(tmp_path: Path) -> None:
    import redis

    with redis_server(tmp_path) as r:
        redis.Redis(port=r.port).execute_command("ACL", "SETUSER", "dev", "on", ">dev-secret", "~*", "+@all", "-@write")
        rc, checks = _doctor(_env(tmp_path, GGCC_STORAGE=r.uri, GGCC_REDIS_USERNAME="dev",
                                  GGCC_REDIS_PASSWORD="dev-secret"))
    c = checks["shared store"]
    assert c["mark"] == "--" and "read-only for these credentials" in c["detail"] and "dev-secret" not in c["detail"]
    assert rc == 0, checks


def test_each_broken_part_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "config.toml").write_text('engine = "bogus"\n')
    env = _env(tmp_path, GGCC_JOBS="abc", GGCC_DIR=str(tmp_path / "file" / "store"),
               GGCC_STORAGE=f"redis://127.0.0.1:{free_port()}/0", GGCC_CONFIG=str(tmp_path / "config.toml"))
    rc, checks = _doctor(env)
    assert rc == 1
    assert checks["setting: GGCC_JOBS='abc': not a whole number; write e.g. 8"]["mark"] == "FAIL"
    assert checks[f"setting: config file {tmp_path}/config.toml: engine='bogus': write one of 'local', 'workers', "
                  "'lambda', 'reapi'"]["mark"] == "FAIL"
    assert checks["GGCC_DIR"]["mark"] == "FAIL" and "set GGCC_DIR to a writable directory" in checks["GGCC_DIR"]["fix"]
    assert checks["shared store"]["mark"] == "FAIL" and "Connection refused" in checks["shared store"]["detail"]
    assert checks["gcc"]["mark"] == "ok"  # the compiler itself is fine: checked apart from the user's settings
    assert [c["what"] for c in checks.values() if c["mark"] == "FAIL"] == ["setting", "setting", "GGCC_DIR",
                                                                          "shared store"], checks


def test_strict_sandbox_without_bubblewrap_fails(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # gcc's own programs, and no bwrap
    bin_dir.mkdir()
    for tool in ("gcc", "cc", "as", "ld"):
        (bin_dir / tool).symlink_to(f"/usr/bin/{tool}")
    rc, checks = _doctor(_env(tmp_path, PATH=str(bin_dir), GGCC_SANDBOX="strict"))
    assert rc == 1
    assert checks["bubblewrap"]["mark"] == "FAIL" and "install the 'bubblewrap' package" in checks["bubblewrap"]["fix"]
    assert checks["gcc"]["mark"] == "ok", checks["gcc"]


def test_a_ggcc_that_is_still_the_script_is_said(tmp_path: Path, monkeypatch: Any) -> None:
    """bin/ggcc is the native client where setup.py built it; a `ggcc`
    that is the sh script beside a client (an install from before) costs
    sh on every compile named ggcc: doctor says so, and not otherwise."""
    import shutil
    import sys

    from ggcc.client import native
    from ggcc.commands import doctor

    client = Path(sys.executable).parent / native.NAME
    shutil.copy(client, tmp_path / native.NAME)
    monkeypatch.setattr(native, "find", lambda: str(tmp_path / native.NAME))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GGCC_")}
    env["GGCC_CONFIG"] = str(tmp_path / "no-config.toml")
    for ggcc, said in ((client, False), (Path(__file__).parent.parent / "bin" / "ggcc", True)):
        shutil.copy(ggcc, tmp_path / "ggcc")
        check = doctor._native(env)
        assert check.mark == "ok" and ("starts sh" in check.detail) == said, check
