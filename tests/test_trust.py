"""Never a wrong output, never a broken build, never silently off: each
fault a hostile user can cause, on small real compiles (the same faults on
a whole zlib build are in test_faults.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import flip_in_place as _flip_in_place
from helpers import ggcc_stats, synced, unusable_ggcc_dir

GGCC = [sys.executable, "-m", "ggcc"]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    (d / "h.h").write_text("#define K 12345\nstatic inline int h(int x) { return x * K; }\n")
    (d / "a.c").write_text('#include "h.h"\nint a(int x) { return h(x) + 1; }\n')
    (d / "b.c").write_text('#include "h.h"\nint b(int x) { return h(x) + 2; }\n')
    old = time.time() - 10  # outside the hash cache's racy window
    for f in d.iterdir():
        os.utime(f, (old, old))
    return d


def ggcc(args: list[str], cwd: Path, store: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    e = dict(os.environ, GGCC_DIR=str(store), **env)
    return subprocess.run(GGCC + args, cwd=cwd, capture_output=True, env=e, timeout=300)


def plain(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, cwd=cwd, capture_output=True, timeout=300)


def object_blob(store: Path) -> Path:
    """The stored blob of the one object compiled so far."""
    synced(store)
    (result,) = [r for shard in (store / "results").iterdir() for r in shard.iterdir()]
    oid = json.loads(result.read_text())["outputs"][0][1]
    return store / "blobs" / oid[1:3] / oid[1:]


def test_an_object_damaged_in_the_store_is_never_served(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    cmd = ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]
    assert plain(cmd, src).returncode == 0
    want = (src / "a.o").read_bytes()
    assert ggcc(cmd, src, store).returncode == 0
    _flip_in_place(str(object_blob(store)))
    (src / "a.o").unlink()
    p = ggcc(cmd, src, store)  # the daemon that stored it, warm: it must look again
    assert p.returncode == 0 and (src / "a.o").read_bytes() == want
    s = ggcc_stats(store)
    assert (s["corrupt_blobs"], s["executed"], s["cache_hits"], s["local_fallbacks"]) == (1, 2, 0, {}), s
    (src / "a.o").unlink()
    assert ggcc(cmd, src, store).returncode == 0 and (src / "a.o").read_bytes() == want
    assert ggcc_stats(store)["direct_hits"] == 1  # the step's new run is cached


def test_a_header_damaged_in_the_store_is_never_compiled(src: Path, tmp_path: Path) -> None:
    """The header's blob sits, hard-linked, in the warm daemon's pooled
    sandbox; its bytes changed there (mtime kept) must not reach b.o.
    (The sandbox's case: a compile run in place reads the tree's header.)"""
    store = tmp_path / "s"
    assert plain(["gcc", "-O2", "-c", "b.c", "-o", "b.o"], src).returncode == 0
    want = (src / "b.o").read_bytes()
    assert ggcc(["gcc", "-O2", "-c", "a.c", "-o", "a.o"], src, store, GGCC_LOCAL_RUN="sandbox").returncode == 0
    import hashlib

    hid = hashlib.sha256((src / "h.h").read_bytes()).hexdigest()
    (blob,) = (store / "blobs" / hid[:2]).glob(hid + "*")
    _flip_in_place(str(blob))
    (src / "b.o").unlink()
    assert ggcc(["gcc", "-O2", "-c", "b.c", "-o", "b.o"], src, store, GGCC_LOCAL_RUN="sandbox").returncode == 0
    assert (src / "b.o").read_bytes() == want
    s = ggcc_stats(store)
    assert s["corrupt_blobs"] == 1 and s["executed"] == 2 and s["local_fallbacks"] == {}, s


# -- outputs that are not regular files ----------------------------------------
# Each scene is made in a plain directory and in a ggcc one; the tool runs in
# each and the two directories must then look the same: every entry's type,
# symlink target, device number and content.
SCENES = {
    "object is a device": (["mknod a.o c 1 3"], ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]),
    "depfile is a device": (["mknod a.d c 1 3"], ["gcc", "-O2", "-c", "a.c", "-o", "a.o", "-MD", "-MF", "a.d"]),
    "object is a dangling symlink": (["mkdir real", "ln -s real/t.o a.o"], ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]),
    "object is a symlink to a file": (["mkdir real", "echo old > real/t.o", "ln -s real/t.o a.o"],
                                      ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]),
    "object is a symlink to an empty file": (["mkdir real", ": > real/t.o", "ln -s real/t.o a.o"],
                                             ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]),
    "depfile is a symlink": (["mkdir real", "echo old > real/t.d", "ln -s real/t.d a.d"],
                             ["gcc", "-O2", "-c", "a.c", "-o", "a.o", "-MD", "-MF", "a.d"]),
    "depfile has two names": (["echo old > a.d", "ln a.d other.d"],
                              ["gcc", "-O2", "-c", "a.c", "-o", "a.o", "-MD", "-MF", "a.d"]),
    "program is a dangling symlink": (["gcc -c a.c -o a.o", "mkdir real", "ln -s real/prog prog"],
                                      ["gcc", "a.o", "-o", "prog"]),
    "program is a symlink to a file": (["gcc -c a.c -o a.o", "mkdir real", "echo old > real/prog", "ln -s real/prog prog"],
                                       ["gcc", "a.o", "-o", "prog"]),
    "archive is a symlink": (["gcc -c a.c -o a.o", "gcc -c -DX=2 a.c -o b.o", "mkdir real", "ar rc real/lib.a b.o",
                              "ln -s real/lib.a lib.a"], ["ar", "rc", "lib.a", "a.o"]),
    "object is a directory": (["mkdir a.o"], ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]),
}


def _scene(d: Path, steps: list[str]) -> None:
    d.mkdir()
    (d / "a.c").write_text("#ifndef X\n#define X 1\n#endif\nint main(void) { return X - 1; }\n")
    for step in steps:
        subprocess.run(step, shell=True, cwd=d, check=True)


def _look(d: Path) -> dict[str, object]:
    import stat

    out: dict[str, object] = {}
    for p in sorted(d.rglob("*")):
        st = p.lstat()
        rel = str(p.relative_to(d))
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("symlink", os.readlink(p))
        elif stat.S_ISREG(st.st_mode):
            out[rel] = ("file", p.read_bytes(), st.st_nlink)
        elif stat.S_ISCHR(st.st_mode):
            out[rel] = ("char device", st.st_rdev)
        else:
            out[rel] = (stat.S_IFMT(st.st_mode),)
    return out


@pytest.mark.parametrize("scene", list(SCENES))
def test_outputs_that_are_not_regular_files_are_written_as_the_tool_writes_them(tmp_path: Path, scene: str) -> None:
    if os.geteuid() != 0:
        pytest.fail("mknod needs root (CI runs as root)")
    steps, cmd = SCENES[scene]
    store = tmp_path / "s"
    for round_ in range(2):  # the step run, then answered from the cache
        want, got = tmp_path / f"plain{round_}", tmp_path / f"ggcc{round_}"
        _scene(want, steps)
        _scene(got, steps)
        p = plain(cmd, want)
        q = ggcc(cmd, got, store, GGCC_SANDBOX="strict")
        assert (q.returncode, q.stdout, q.stderr) == (p.returncode, p.stdout, p.stderr)
        assert _look(got) == _look(want)


@pytest.mark.parametrize("local_run", ["sandbox", "in-place"])  # in place: the sandbox's way (as cannot seek a FIFO)
def test_an_object_written_into_a_fifo_reaches_its_reader(tmp_path: Path, src: Path, local_run: str) -> None:
    import threading

    store = tmp_path / "s"
    cmd = ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]
    assert plain(cmd, src).returncode == 0
    want = (src / "a.o").read_bytes()
    for _ in range(2):  # run, then a hit
        (src / "a.o").unlink()
        os.mkfifo(src / "a.o")
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append((src / "a.o").read_bytes()))
        reader.start()
        assert ggcc(cmd, src, store, GGCC_LOCAL_RUN=local_run).returncode == 0
        reader.join(30)
        assert got == [want] and (src / "a.o").is_fifo()


# -- wrong settings -------------------------------------------------------------
BAD_SETTINGS = {
    "GGCC_STORAGE=redsi://cache:6379/0": "GGCC_STORAGE: storage URI scheme 'redsi' is not supported",
    "GGCC_STORAGE=s3://": "GGCC_STORAGE: s3:// storage URI needs a bucket",
    "GGCC_STORAGE=redis://cache:99999/0": "GGCC_STORAGE: storage URI: the port is not a number from 1 to 65535",
    "GGCC_STORAGE=redis://:hunter2@cache:6379/0": "GGCC_STORAGE: redis:// storage URI: credentials do not belong",
    "GGCC_ENGINE=bogus": "GGCC_ENGINE='bogus': write one of",
    "GGCC_JOBS=abc": "GGCC_JOBS='abc': not a whole number",
    "GGCC_DAEMON_IDLE=xyz": "GGCC_DAEMON_IDLE='xyz': not a number",
    "GGCC_MAX_SIZE=lots": "GGCC_MAX_SIZE='lots': size 'lots' is not a size",
}


def _five_files(d: Path) -> None:
    d.mkdir()
    for i in range(5):
        (d / f"f{i}.c").write_text(f"int f{i}(void) {{ return {i}; }}\n")
    (d / "Makefile").write_text("all: f0.o f1.o f2.o f3.o f4.o\n%.o: %.c\n\t$(CC) -c $< -o $@\n")


@pytest.mark.parametrize("setting", list(BAD_SETTINGS))
def test_a_wrong_setting_is_said_once_per_build_and_the_build_completes(tmp_path: Path, setting: str) -> None:
    name, _, value = setting.partition("=")
    store = tmp_path / "s"
    _five_files(tmp_path / "p")
    assert plain(["make", "-s", "-j4"], tmp_path / "p").returncode == 0
    want = {f.name: f.read_bytes() for f in (tmp_path / "p").glob("*.o")}
    env = dict(os.environ, GGCC_DIR=str(store), **{name: value})
    for build in (1, 2):
        d = tmp_path / f"b{build}"
        _five_files(d)
        p = subprocess.run(["make", "-s", "-j4", f"CC={sys.executable} -m ggcc gcc"], cwd=d, env=env,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0 and {f.name: f.read_bytes() for f in d.glob("*.o")} == want
        lines = p.stderr.splitlines()
        said = [line for line in lines if BAD_SETTINGS[setting] in line]
        assert len(said) == (1 if build == 1 else 0) and len(lines) == len(said), p.stderr
        assert "hunter2" not in p.stderr
    s = ggcc_stats(store)
    assert s["local_fallbacks"] == {"bad-setting": 10} and s["executed"] == 0, s
    # The build commands refuse to start, with the same line.
    for cmd in (["make", "-s"], ["ninja"], ["cmake", "."], ["infer", "make"]):
        q = subprocess.run(GGCC + cmd, cwd=tmp_path / "b1", env=env, capture_output=True, text=True, timeout=60)
        assert q.returncode == 2 and q.stderr.startswith("ggcc: error: ") and BAD_SETTINGS[setting] in q.stderr, q.stderr
        assert "hunter2" not in q.stderr


def test_said_again_for_the_next_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ggcc.base import notice

    assert notice.first_in_build(str(tmp_path), "x") and not notice.first_in_build(str(tmp_path), "x")
    assert notice.first_in_build(str(tmp_path), "y")
    monkeypatch.setattr(notice, "QUIET_S", 0.0)
    time.sleep(0.02)
    assert notice.first_in_build(str(tmp_path), "x")


def test_a_daemon_started_with_a_wrong_setting_still_serves_right_ones(tmp_path: Path, src: Path) -> None:
    store = tmp_path / "s"
    p = ggcc(["gcc", "-c", "a.c", "-o", "a.o"], src, store, GGCC_JOBS="abc", GGCC_DAEMON_IDLE="xyz")
    assert p.returncode == 0 and b"GGCC_JOBS='abc'" in p.stderr
    assert ggcc(["gcc", "-c", "b.c", "-o", "b.o"], src, store).returncode == 0
    s = ggcc_stats(store)
    assert (s["executed"], s["local_fallbacks"]) == (1, {"bad-setting": 1}), s


# -- secrets and tracebacks -------------------------------------------------------
@pytest.mark.parametrize("args, env", [
    (["lambda", "policy"], {"GGCC_STORAGE": "s3://AKIAEXAMPLE:SECRETKEY@bucket/x"}),
    (["lambda", "policy", "--storage", "s3://AKIAEXAMPLE:SECRETKEY@bucket/x"], {}),
    (["lambda", "deploy", "--storage", "s3://AKIAEXAMPLE:SECRETKEY@bucket/x", "--region", "us-east-1"], {}),
    (["workers", "--storage", "redis://:SECRETKEY@[::1:bad/0"], {}),
    (["workers", "--storage", "redis://:SECRETKEY@cache:6379/0"], {}),
    (["worker", "--storage", "redis://cache:99999/0"], {}),
    (["lambda", "status"], {"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_CONFIG_FILE": "/nonexistent"}),
    (["lambda", "remove"], {"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_CONFIG_FILE": "/nonexistent"}),
    (["force", "Tnotanid"], {}),
])
def test_bad_input_is_one_line_without_secrets_or_traceback(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    e = dict(os.environ, GGCC_DIR=str(tmp_path / "s"), **env)
    p = subprocess.run(GGCC + args, env=e, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stderr.startswith("ggcc: error: ") and p.stderr.count("\n") == 1, p.stderr
    assert "SECRETKEY" not in p.stdout + p.stderr and "Traceback" not in p.stderr


# -- an unusable GGCC_DIR -----------------------------------------------------------
@pytest.mark.parametrize("daemon", ["1", "0"])
@pytest.mark.parametrize("kind", ["under a file", "read-only", "full"])
def test_an_unusable_ggcc_dir_never_breaks_a_compile(tmp_path: Path, src: Path, kind: str, daemon: str) -> None:
    with unusable_ggcc_dir(tmp_path, kind) as store:
        for i, (cmd, out) in enumerate([(["gcc", "-O2", "-c", "a.c", "-o", "a.o"], "a.o"),
                                        (["gcc", "-O2", "-c", "b.c", "-o", "b.o"], "b.o"),
                                        (["gcc", "-c", "missing.c", "-o", "m.o"], "m.o")]):
            want = plain(cmd, src)
            wanted = (src / out).read_bytes() if (src / out).exists() else None
            if (src / out).exists():
                (src / out).unlink()
            got = ggcc(cmd, src, store, GGCC_DAEMON=daemon)
            assert (src / out).read_bytes() == wanted if wanted is not None else not (src / out).exists()
            assert (got.returncode, got.stdout) == (want.returncode, want.stdout)
            extra = got.stderr.replace(want.stderr, b"", 1).decode()
            if i == 0:  # said once, naming the directory and what to do
                assert extra.startswith(f"ggcc: GGCC_DIR={store} cannot be used (") and extra.count("\n") == 1, extra
                assert "Traceback" not in extra
            else:
                assert extra == "", extra


# -- managing the store while the daemon runs -------------------------------------
def _make(d: Path, store: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GGCC_DIR=str(store))
    return subprocess.run(["make", "-s", "-j4", f"CC={sys.executable} -m ggcc gcc"], cwd=d, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("action", [["cache", "clear"], ["cache", "trim", "--max-size", "1"], ["cache", "verify"]])
def test_the_store_managed_under_a_running_daemon_stays_correct_and_caching(tmp_path: Path, action: list[str]) -> None:
    store = tmp_path / "s"
    _five_files(tmp_path / "p")
    assert plain(["make", "-s"], tmp_path / "p").returncode == 0
    want = {f.name: f.read_bytes() for f in (tmp_path / "p").glob("*.o")}
    d = tmp_path / "b"
    _five_files(d)
    for build in range(3):  # built, store managed, built again, then answered from the cache
        for o in d.glob("*.o"):
            o.unlink()
        p = _make(d, store)
        assert p.returncode == 0 and p.stderr == "" and {f.name: f.read_bytes() for f in d.glob("*.o")} == want
        if build == 0:
            subprocess.run(GGCC + action, env=dict(os.environ, GGCC_DIR=str(store)), check=True, capture_output=True)
    s = ggcc_stats(store)
    again = 0 if action[1] == "verify" else 5
    assert (s["executed"], s["cache_hits"], s["local_fallbacks"], s["errors"]) == (5 + again, 10 - again, {}, 0), s
    assert s["direct_hits"] == s["cache_hits"]


def test_a_clear_in_the_middle_of_a_build(tmp_path: Path) -> None:
    import threading

    store = tmp_path / "s"
    _five_files(tmp_path / "p")
    for i in range(5, 40):
        (tmp_path / "p" / f"g{i}.c").write_text(f"int g{i}(int x) {{ return x * {i}; }}\n")
    mk = "all: $(patsubst %.c,%.o,$(wildcard *.c))\n%.o: %.c\n\t$(CC) -O2 -c $< -o $@\n"
    (tmp_path / "p" / "Makefile").write_text(mk)
    import shutil

    d = tmp_path / "b"
    shutil.copytree(tmp_path / "p", d)
    assert plain(["make", "-s", "-j4"], tmp_path / "p").returncode == 0
    want = {f.name: f.read_bytes() for f in (tmp_path / "p").glob("*.o")}
    stop = threading.Event()

    def clear_again_and_again() -> None:
        while not stop.wait(0.3):
            subprocess.run(GGCC + ["cache", "clear"], env=dict(os.environ, GGCC_DIR=str(store)), capture_output=True)

    t = threading.Thread(target=clear_again_and_again)
    t.start()
    try:
        p = _make(d, store)
    finally:
        stop.set()
        t.join()
    assert p.returncode == 0 and p.stderr == "" and {f.name: f.read_bytes() for f in d.glob("*.o")} == want
    s = ggcc_stats(store)
    # A step whose files were removed as it used them runs again; if the
    # next clear catches it too, it runs without ggcc, counted as such.
    assert s["invocations"] == len(want) and s["errors"] == 0, (s["error_kinds"], s["local_fallbacks"])
    assert set(s["local_fallbacks"]) <= {"store-changed"}, s["local_fallbacks"]
    # Once the clearing stops, the same daemon caches again.
    for o in d.glob("*.o"):
        o.unlink()
    subprocess.run(GGCC + ["stats", "--zero"], env=dict(os.environ, GGCC_DIR=str(store)), check=True)
    assert _make(d, store).returncode == 0 and {f.name: f.read_bytes() for f in d.glob("*.o")} == want
    s = ggcc_stats(store)
    assert (s["executed"] + s["cache_hits"], s["local_fallbacks"], s["errors"]) == (len(want), {}, 0), s


# -- a launcher that sees other files than the daemon -------------------------------
def test_a_launcher_in_another_mount_namespace_compiles_its_own_files(tmp_path: Path) -> None:
    import shutil

    bwrap = shutil.which("bwrap")
    assert bwrap, "bubblewrap is installed by run-tests"
    store, orig, alt, ro = tmp_path / "s", tmp_path / "orig", tmp_path / "alt", tmp_path / "ro"
    for d, name in ((orig, "host"), (alt, "alt")):
        d.mkdir()
        (d / "src.c").write_text(f"int {name}(void) {{ return 1; }}\n")
    ro.mkdir()
    cmd = ["gcc", "-O2", "-c", "src.c", "-o", "out.o"]
    assert ggcc(cmd, orig, store).returncode == 0  # the daemon starts here, on the host
    assert plain(["gcc", "-O2", "-c", "src.c", "-o", "want.o"], alt).returncode == 0
    (orig / "out.o").unlink()
    # The launcher's /orig is the host's /alt: it must compile alt's source, into alt.
    p = subprocess.run([bwrap, "--dev-bind", "/", "/", "--bind", str(alt), str(orig), "--chdir", str(orig),
                        *GGCC, *cmd], env=dict(os.environ, GGCC_DIR=str(store)), capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert (alt / "out.o").read_bytes() == (alt / "want.o").read_bytes() and not (orig / "out.o").exists()
    # A directory read-only in the launcher's view: gcc's error, gcc's exit code.
    want = plain(["gcc", "-O2", "-c", str(orig / "src.c"), "-o", str(ro / "x.o")], orig)
    (ro / "x.o").unlink()
    p = subprocess.run([bwrap, "--dev-bind", "/", "/", "--ro-bind", str(ro), str(ro), "--chdir", str(orig),
                        *GGCC, "gcc", "-O2", "-c", "src.c", "-o", str(ro / "x.o")],
                       env=dict(os.environ, GGCC_DIR=str(store)), capture_output=True, timeout=120)
    assert want.returncode == 0 and p.returncode == 1 and b"Read-only file system" in p.stderr
    assert not (ro / "x.o").exists()
    assert ggcc_stats(store)["local_fallbacks"] == {"other-mount-namespace": 2}


# -- the strict sandbox under ggcc force --------------------------------------------
def test_the_strict_sandbox_holds_for_generic_thunks(tmp_path: Path) -> None:
    """A static program (no libraries to miss) that reads a host file it
    was not given: in the strict sandbox the host's files are not there."""
    (tmp_path / "peek.c").write_text(
        '#include <stdio.h>\nint main(void) { FILE *f = fopen("/etc/hostname", "r"); FILE *o = fopen("out", "w");\n'
        '  if (!f || !o) return 3; int c; while ((c = fgetc(f)) != EOF) fputc(c, o); return 0; }\n')
    assert plain(["gcc", "-static", "-O2", "peek.c", "-o", "peek"], tmp_path).returncode == 0
    env = {"GGCC_DIR": str(tmp_path / "s")}
    for strict, code in (("strict", 1), ("", 0)):
        if (tmp_path / "out").exists():
            (tmp_path / "out").unlink()
        assert ggcc(["thunk", "-o", "out", "--", "./peek"], tmp_path, tmp_path / "s").returncode == 0
        p = subprocess.run(GGCC + ["force", "out"], cwd=tmp_path, capture_output=True, timeout=120,
                           env=dict(os.environ, **env, GGCC_SANDBOX=strict))
        assert p.returncode == code, p.stderr
    assert (tmp_path / "out").read_bytes() == Path("/etc/hostname").read_bytes()


# -- counts that add up ---------------------------------------------------------------
def _many_files(d: Path, n: int, size: int = 1) -> None:
    d.mkdir()
    for i in range(n):
        body = "".join(f"int f{i}_{k}(int x) {{ return x * {k} + {i}; }}\n" for k in range(size))
        (d / f"f{i}.c").write_text(body)
    (d / "Makefile").write_text("all: $(patsubst %.c,%.o,$(wildcard *.c))\n%.o: %.c\n\t$(CC) -O2 -c $< -o $@\n")


def test_two_builds_at_once_each_count_their_own_steps(tmp_path: Path) -> None:
    store = tmp_path / "s"
    sizes = {"a": 12, "b": 7}
    for name, n in sizes.items():
        _many_files(tmp_path / name, n)
    env = dict(os.environ, GGCC_DIR=str(store))
    subprocess.run(GGCC + ["daemon", "start"], env=env, check=True, capture_output=True)
    procs = {name: subprocess.Popen(GGCC + ["make", "-s", f"CC={sys.executable} -m ggcc gcc"], cwd=tmp_path / name,
                                    env=env, stderr=subprocess.PIPE, text=True) for name in sizes}
    for name, p in procs.items():
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        # The same sources in both: one may take the other's result (another root, see test_travel.py).
        m = re.search(rf"ggcc: {sizes[name]} steps: (\d+) cache hits(?: \(\d+ from another build root\))?, (\d+) run, 0 run without ggcc", err)
        assert m and int(m.group(1)) + int(m.group(2)) == sizes[name], err
    assert ggcc_stats(store)["invocations"] == sum(sizes.values())


def test_an_interrupted_infer_leaves_no_placeholder_and_says_how_many_it_removed(tmp_path: Path) -> None:
    import re
    import signal

    from ggcc.formats import placeholder

    # The interrupt must land while the build runs: on a loaded machine the
    # test's own process can be held back until the build has ended (its
    # exit status then says nothing of Ctrl-C), so that attempt is made again.
    for attempt in range(5):
        d = tmp_path / f"p{attempt}"
        _many_files(d, 40, size=400)
        env = dict(os.environ, GGCC_DIR=str(tmp_path / f"s{attempt}"))  # no hits from an attempt before
        p = subprocess.Popen(GGCC + ["infer", "make", "-j8", "CC=gcc"], cwd=d, env=env, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
        deadline = time.monotonic() + 120
        while not any(placeholder.is_placeholder(str(o)) for o in d.glob("*.o")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
            _, err = p.communicate(timeout=120)
            if p.returncode == 0 and "interrupted" not in err:
                continue  # it had ended its build as the signal came: no interrupt to look at
            break
        p.communicate()
    else:
        raise AssertionError("the build ended before every interrupt: the machine is too slow for this test")
    assert p.returncode == 130, err
    m = re.search(r"interrupted; removed the (\d+) outputs that were still placeholders", err)
    assert m and int(m.group(1)) > 0, err
    time.sleep(2)  # what the daemon finishes afterwards must not bring one back
    objects = list(d.glob("*.o"))
    assert [o.name for o in objects if placeholder.is_placeholder(str(o))] == []
    for o in objects:  # what is there is real
        assert o.read_bytes()[:4] == b"\x7fELF", o
