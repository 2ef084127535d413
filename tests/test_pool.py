"""Bench worker processes stop with their parent: SIGTERM, and a parent killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PARENT = textwrap.dedent("""
    import os, sys, time
    from audiotokens.bench.pool import worker_pool

    def sleeper(path):
        open(path, "w").write(str(os.getpid()))
        time.sleep(120)

    if __name__ == "__main__":
        with worker_pool(2) as pool:
            futures = [pool.submit(sleeper, f"{sys.argv[1]}.{n}") for n in range(2)]
            for f in futures:
                f.result()
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _start(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "pid")], env=env)
    files = [tmp_path / f"pid.{n}" for n in range(2)]
    deadline = time.monotonic() + 60
    while not all(f.exists() and f.read_text() for f in files):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("workers did not start")
        time.sleep(0.1)
    return proc, [int(f.read_text()) for f in files]


def _gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_stop_when_the_parent_is_stopped(sig, tmp_path) -> None:
    proc, workers = _start(tmp_path)
    try:
        assert all(_alive(p) for p in workers)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        assert _gone_within(workers, 10), "a worker outlived its parent"
    finally:
        for p in workers:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
