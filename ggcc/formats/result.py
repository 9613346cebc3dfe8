"""What running a thunk produced: exit code, outputs, stdout and stderr.

Stdout and stderr are kept for every run, successful or not: compilers print
warnings on success, and a cache hit must replay them byte for byte.
Only successful results (exit code 0, every output present) are cached;
a failure is reported to its caller and never stored as a result.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OutputValue:
    tag: str
    ref: str  # a value id, or a thunk id when the output is itself a thunk
    executable: bool = False


@dataclass(frozen=True)
class Result:
    thunk_id: str
    exit_code: int
    outputs: tuple[OutputValue, ...] = ()
    stdout: bytes = b""
    stderr: bytes = b""
    error: str = ""  # why ggcc considers the run failed, beyond the exit code
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.error

    def output(self, tag: str = "") -> OutputValue:
        """The output named ``tag``; the first output when ``tag`` is empty."""
        if not tag:
            if not self.outputs:
                raise KeyError(f"thunk {self.thunk_id} has no outputs")
            return self.outputs[0]
        for o in self.outputs:
            if o.tag == tag:
                return o
        raise KeyError(f"thunk {self.thunk_id} has no output tagged {tag!r}")

    def to_json(self) -> bytes:
        obj = {
            "thunk": self.thunk_id,
            "exit_code": self.exit_code,
            "outputs": [[o.tag, o.ref, o.executable] for o in self.outputs],
            "stdout": base64.b64encode(self.stdout).decode("ascii"),
            "stderr": base64.b64encode(self.stderr).decode("ascii"),
            "error": self.error,
            "timings_ms": self.timings_ms,
        }
        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("ascii")

    @staticmethod
    def from_json(data: bytes) -> Result:
        """Parse a stored result; ValueError if it is corrupt."""
        try:
            obj = json.loads(data)
            return Result(
                thunk_id=str(obj["thunk"]),
                exit_code=int(obj["exit_code"]),
                outputs=tuple(OutputValue(str(t), str(r), bool(x)) for t, r, x in obj["outputs"]),
                stdout=base64.b64decode(obj["stdout"], validate=True),
                stderr=base64.b64decode(obj["stderr"], validate=True),
                error=str(obj.get("error", "")),
                timings_ms={str(k): float(v) for k, v in obj.get("timings_ms", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"corrupt result record ({e.__class__.__name__}: {e})") from None
