"""Runs one API function call inside a thunk's sandbox.

    python -m ggcc.api_runner MODULE QUALNAME ARGS_JSON

Reads Lazy arguments from their files (JSON), calls the function, and
writes ``out``: the JSON result, or a serialized thunk if the function
returned a Lazy. Thunks made during the call go to .ggcc/thunks so ggcc
stores them next to the output that refers to them.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

from ggcc import api
from ggcc.formats.thunk import NEW_THUNKS_DIR


def main(argv: list[str]) -> int:
    module_name, qualname, spec_json = argv
    root = os.getcwd()
    fn: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        fn = getattr(fn, part)
    if isinstance(fn, api.ThunkFunction):
        fn = fn.fn
    args = []
    for item in json.loads(spec_json):
        if "v" in item:
            args.append(item["v"])
        elif "t" in item:
            with open(os.path.join(root, item["t"]), "rb") as f:
                args.append(json.loads(f.read()))
        else:
            args.append(os.path.join(root, item["f"]))
    result = fn(*args)  # type: ignore[operator]
    if isinstance(result, api.Lazy):
        os.makedirs(NEW_THUNKS_DIR, exist_ok=True)
        for tid, thunk in api._created.items():
            with open(os.path.join(NEW_THUNKS_DIR, tid), "wb") as f:
                f.write(thunk.serialize())
        data = result.thunk.serialize()
    else:
        data = json.dumps(result, sort_keys=True).encode()
    with open(api.OUT, "wb") as f:
        f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
