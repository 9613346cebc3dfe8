"""The real-project suite: Debian source packages built plain and through
ggcc, compared byte for byte, tested. Run it as `integration/run-suite
[PROJECT...]` (that script installs ggcc and the test extras first).

Every build of a project happens at the same path (WORK/PROJECT/tree) and
is moved aside when done, so paths recorded in debug info and RUNPATHs
match without any prefix mapping. The modes:
  plain   the real tools, nothing else
  wait    CC="ggcc gcc" ..., local engine, GGCC_SCAN_VERIFY=1 (the own
          header scanner checked against the compiler's -M on every TU);
          the project's tests run on this build
  infer   the same configuration, built by `ggcc infer make|ninja`
  lambda  wait mode with GGCC_ENGINE=lambda against the local Lambda
          harness (integration/lambda_harness.py), thunks run in the strict
          sandbox inside the function
Each ggcc mode starts from empty caches; configure runs with its own ggcc
directory, so the figures are the build's alone. Every ELF file and archive
the build made is compared with the plain build's (same set of paths, same
bytes). Exit status: 0 when every project built, matched and passed its
tests, with no header missed by the scanner and extras at most 10%.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent / "tests"))

from debian_sources import fetch  # noqa: E402
from projects import PROJECTS, Project  # noqa: E402

MODES = ("wait", "infer", "lambda")
BUCKET = "ggcc-suite"
EXTRAS_LIMIT = 0.10  # the scanner's extra headers, as a share of the compiler's list


@dataclass
class ModeResult:
    mode: str
    seconds: float = 0.0
    error: str = ""
    binaries: dict[str, str] = field(default_factory=dict)  # path -> sha256
    stats: dict[str, object] = field(default_factory=dict)
    identical: int = 0
    different: list[str] = field(default_factory=list)
    tests: str = "-"


def ggcc_command() -> str:
    beside = Path(sys.executable).parent / "ggcc"
    return str(beside) if beside.exists() else shutil.which("ggcc") or "ggcc"


def sh(script: str, cwd: Path, env: dict[str, str], log: Path, timeout: float = 3600) -> None:
    """Run a step, its output appended to ``log``; a failure raises
    RuntimeError naming the step, with the log's tail."""
    with open(log, "ab") as f:
        f.write(f"\n$ {script}\n".encode())
        f.flush()
        p = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT,
                           timeout=timeout)
    if p.returncode != 0:
        tail = log.read_bytes()[-3000:].decode(errors="replace")
        raise RuntimeError(f"`{script[:120]}` exited {p.returncode}; the end of {log}:\n{tail}")


def binaries(tree: Path, pristine: set[str]) -> dict[str, str]:
    """Every ELF file and archive under ``tree`` the build made: path ->
    SHA-256 (four builds of a project are held at once)."""
    out = {}
    for p in tree.rglob("*"):
        if p.is_symlink() or not p.is_file():
            continue
        rel = str(p.relative_to(tree))
        if rel in pristine:
            continue
        with open(p, "rb") as f:
            head = f.read(8)
        if head[:4] == b"\x7fELF" or head in (b"!<arch>\n", b"!<thin>\n"):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def mode_env(mode: str, ggcc: str, store: Path, jobs: int, aws: dict[str, str], project: str) -> dict[str, str]:
    env = dict(os.environ, GGCC_DIR=str(store), JOBS=str(jobs), LC_ALL="C.UTF-8")
    if mode == "plain":
        env.update(CC="gcc", CXX="g++", AR="ar", RANLIB="ranlib", CMAKE="cmake", CMAKE_TOOLS="")
    else:
        env.update(CC=f"{ggcc} gcc", CXX=f"{ggcc} g++", AR=f"{ggcc} ar", RANLIB=f"{ggcc} ranlib",
                   CMAKE=f"{ggcc} cmake", CMAKE_TOOLS="")
    if mode == "infer":
        masq = subprocess.run([ggcc, "masquerade"], env=env, capture_output=True, text=True, check=True).stdout.strip()
        env["CMAKE_TOOLS"] = f"-DCMAKE_AR={masq}/ar -DCMAKE_RANLIB={masq}/ranlib"
    if mode == "wait":
        env["GGCC_SCAN_VERIFY"] = "1"
    if mode == "lambda":
        env.update(aws, GGCC_ENGINE="lambda", GGCC_STORAGE=f"s3://{BUCKET}/{project}-{uuid.uuid4().hex[:8]}",
                   GGCC_LAMBDA_CONCURRENCY=str(jobs))
    return env


def build_once(project: Project, mode: str, src: Path, work: Path, ggcc: str, jobs: int, aws: dict[str, str],
               pristine: set[str], run_tests: bool) -> ModeResult:
    res = ModeResult(mode)
    tree = work / "tree"
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(src, tree, symlinks=True)
    log = work / f"{mode}.log"
    conf_store, store = work / f"{mode}-configure-ggcc", work / f"{mode}-ggcc"
    for old in (conf_store, store, log):  # from an earlier run in the same --work
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    env = mode_env(mode, ggcc, store, jobs, aws, project.package)
    conf_env = dict(env, GGCC_DIR=str(conf_store), GGCC_ENGINE="local")
    conf_env.pop("GGCC_SCAN_VERIFY", None)
    build_tool = f"{project.tool} -j{jobs}"
    env["BUILD"] = f"{ggcc} infer {build_tool}" if mode == "infer" else build_tool
    try:
        sh(project.configure, tree, conf_env, log)
        if mode != "plain":
            subprocess.run([ggcc, "daemon", "stop"], env=conf_env, capture_output=True)
            # The daemon of the build starts with the build's environment.
            subprocess.run([ggcc, "daemon", "start"], env=env, capture_output=True, check=True)
        t0 = time.monotonic()
        sh(project.build, tree, env, log)
        res.seconds = time.monotonic() - t0
        res.binaries = binaries(tree, pristine)
        if mode != "plain":
            res.stats = json.loads(subprocess.run([ggcc, "stats", "--json"], env=env, capture_output=True, text=True,
                                                  check=True).stdout)
        if run_tests and mode == "wait":
            try:
                sh(project.test, tree, env, log)
                res.tests = "passed"
            except RuntimeError as e:
                res.tests = "FAILED"
                res.error = str(e)
                return res
    except (RuntimeError, subprocess.SubprocessError) as e:
        res.error = str(e)
    finally:
        if mode != "plain":
            subprocess.run([ggcc, "daemon", "stop"], env=env, capture_output=True)
        done = work / mode
        if done.exists():
            shutil.rmtree(done)
        tree.rename(done)
    return res


def compare(plain: ModeResult, ours: ModeResult) -> None:
    for name in sorted(set(plain.binaries) | set(ours.binaries)):
        a, b = plain.binaries.get(name), ours.binaries.get(name)
        if a is None:
            ours.different.append(f"{name}: only in the ggcc build")
        elif b is None:
            ours.different.append(f"{name}: missing from the ggcc build")
        elif a != b:
            ours.different.append(f"{name}: differs")
        else:
            ours.identical += 1


def problems(results: list[ModeResult]) -> list[str]:
    out = []
    for r in results:
        if r.error:
            out.append(f"{r.mode}: {r.error}")
        out.extend(f"{r.mode}: {d}" for d in r.different)
        verify = r.stats.get("scan_verify")
        if isinstance(verify, dict) and verify["checked"]:
            if verify["missing"]:
                out.append(f"{r.mode}: the header scanner missed headers in {verify['missing']} compiles "
                           "(see scan-verify.jsonl in the ggcc directory)")
            if verify["compiler_files"] and verify["extra_files"] / verify["compiler_files"] > EXTRAS_LIMIT:
                out.append(f"{r.mode}: the header scanner listed {verify['extra_files']} extra files for "
                           f"{verify['compiler_files']} real ones (over {EXTRAS_LIMIT:.0%})")
    return out


def _cell(r: ModeResult, what: str) -> str:
    s = r.stats
    if what == "build s":
        return f"{r.seconds:.1f}" if r.seconds else "-"
    if what == "binaries":
        return str(len(r.binaries))
    if what == "identical":
        return "-" if r.mode == "plain" else (f"{r.identical}" if not r.different else f"{r.identical} ({len(r.different)} DIFFER)")
    if r.mode == "plain" or not s:
        return "-"
    if what == "compiles+links":
        return str(s["invocations"])
    if what == "thunks run":
        by = s["executed_by_engine"]
        assert isinstance(by, dict)
        return str(s["executed"]) + (f" ({by['lambda']} on lambda)" if by["lambda"] else "")
    if what == "cache hits":
        return str(s["cache_hits"])
    if what == "local runs":
        local = s["local_fallbacks"]
        assert isinstance(local, dict)
        return ", ".join(f"{k} {v}" for k, v in local.items()) or "0"
    if what == "scan verify":
        v = s["scan_verify"]
        assert isinstance(v, dict)
        if not v["checked"]:
            return "-"
        share = v["extra_files"] / v["compiler_files"] if v["compiler_files"] else 0.0
        return f"{v['checked']} TUs, {v['missing']} missing, {share:.1%} extra"
    if what == "tests":
        return r.tests
    raise KeyError(what)


ROWS = ("build s", "binaries", "identical", "compiles+links", "thunks run", "cache hits", "local runs", "scan verify", "tests")


def table(package: str, results: list[ModeResult]) -> str:
    cols = [[r.mode for r in results]] + [[_cell(r, row) for r in results] for row in ROWS]
    heads = ["", *ROWS]
    width0 = max(len(h) for h in heads)
    widths = [max(len(c[i]) for c in cols) for i in range(len(results))]
    lines = [f"== {package}"]
    for head, cells in zip(heads, cols):
        lines.append("  " + head.ljust(width0) + "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
    return "\n".join(lines)


def ensure_apt(packages: set[str]) -> None:
    missing = [p for p in sorted(packages)
               if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if not missing:
        return
    print(f"run-suite: installing Debian packages: {' '.join(missing)}", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", *missing], check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)


def start_lambda(stack: ExitStack, ggcc: str, jobs: int) -> dict[str, str]:
    from servers import lambda_harness

    aws = stack.enter_context(lambda_harness(max_sandboxes=jobs, bucket=BUCKET))
    r = subprocess.run([ggcc, "lambda", "deploy", "--create-role", "--storage", f"s3://{BUCKET}/x", "--timeout", "300",
                        "--env", "GGCC_SANDBOX=strict"], env=dict(os.environ, **aws), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ggcc lambda deploy against the harness failed: {r.stderr.strip()}")
    return aws


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run-suite", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("projects", nargs="*", metavar="PROJECT", help=f"Debian source packages (default: all of {', '.join(PROJECTS)})")
    ap.add_argument("--modes", default=",".join(MODES), help=f"ggcc modes to run, of {','.join(MODES)} (default: all)")
    ap.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 2, help="build parallelism (default: the cores)")
    ap.add_argument("--work", help="where to build (default: a temporary directory); each project's trees are "
                    "removed when it is done, unless --keep")
    ap.add_argument("--keep", action="store_true", help="keep the build trees and logs")
    ap.add_argument("--no-tests", action="store_true", help="do not run the projects' tests")
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args(argv)
    unknown = [p for p in a.projects if p not in PROJECTS]
    if unknown:
        ap.error(f"unknown project {unknown[0]}: choose from {', '.join(PROJECTS)}")
    modes = [m for m in a.modes.split(",") if m]
    if any(m not in MODES for m in modes):
        ap.error(f"--modes: choose from {','.join(MODES)}")
    chosen = [PROJECTS[p] for p in (a.projects or PROJECTS)]
    ensure_apt({pkg for p in chosen for pkg in p.apt} | {"gcc", "g++", "make", "bubblewrap", "dpkg-dev"})
    ggcc = ggcc_command()
    failed: dict[str, list[str]] = {}
    report: dict[str, object] = {}
    with ExitStack() as stack:
        root = Path(a.work) if a.work else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ggcc-suite-")))
        aws = start_lambda(stack, ggcc, a.jobs) if "lambda" in modes else {}
        for project in chosen:
            src = fetch(project.package)
            pristine = {str(p.relative_to(src)) for p in src.rglob("*")}
            work = root / project.package
            work.mkdir(parents=True, exist_ok=True)
            print(f"run-suite: {project.package}: building plain, then {', '.join(modes)} (logs in {work})", flush=True)
            results = [build_once(project, "plain", src, work, ggcc, a.jobs, aws, pristine, False)]
            for mode in modes:
                r = build_once(project, mode, src, work, ggcc, a.jobs, aws, pristine, not a.no_tests)
                if results[0].binaries and r.seconds:  # both builds finished
                    compare(results[0], r)
                results.append(r)
            print(table(project.package, results), flush=True)
            bad = problems(results)
            if not results[0].binaries:
                bad.append("plain: the build made no ELF file or archive")
            for b in bad:
                print(f"  PROBLEM {b}", flush=True)
            if bad:
                failed[project.package] = bad
            report[project.package] = [{"mode": r.mode, "seconds": round(r.seconds, 2), "binaries": len(r.binaries),
                                        "identical": r.identical, "different": r.different, "tests": r.tests,
                                        "error": r.error, "stats": r.stats} for r in results]
            if a.keep:
                print(f"  kept: {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
    if failed:
        print(f"run-suite: FAILED: {', '.join(failed)}")
        return 1
    print(f"run-suite: all {len(chosen)} projects identical" + ("" if a.no_tests else " and their tests passed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
