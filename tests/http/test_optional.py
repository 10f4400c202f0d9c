"""glue's core needs no web stack: ``import glue`` imports neither Starlette nor
glue.http, and the command line works without them (#11)."""

from __future__ import annotations

import subprocess
import sys


def test_import_glue_does_not_import_starlette() -> None:
    probe = (
        "import sys, glue, glue.cli.main; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('starlette', 'uvicorn', 'httpx') "
        "or m.startswith('glue.http')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
