import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def demo_home():
    """A state folder under /tmp (not pytest's tmp_path: the server runs as its own OS user, which must
    reach it); whatever happens in the test, no server is left running in it."""
    root = Path(tempfile.mkdtemp(prefix="dst-demo-"))
    yield root / "home"
    if (root / "home" / "pg" / "postmaster.pid").exists():
        env = dict(os.environ, DISTILLERY_HOME=str(root / "home"))
        subprocess.run([str(Path(sys.executable).parent / "distillery"), "db", "stop"], env=env, capture_output=True, timeout=60)
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_demo_on_a_tiny_size_completes_and_reruns_safely(demo_home):
    """The newcomer's command, end to end, on its own embedded server (no DATABASE_URL)."""
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "DAGSTER_HOME"}}
    env["DISTILLERY_HOME"] = str(demo_home)
    command = [str(Path(sys.executable).parent / "distillery"), "demo", "--users", "60", "--signals-per-day", "400", "--days", "2"]

    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1/3 generating 2 days" in first.stdout
    assert first.stdout.count("ingest_job: ok in") == 2
    assert first.stdout.count("nightly_lifecycle_job: ok in") == 2
    assert "signals into" in first.stdout and "similar users:" in first.stdout
    assert first.stdout.count("      summary: ") == first.stdout.count("      interests: ") >= 1
    day_rows = [line for line in first.stdout.splitlines() if line.strip().startswith("20")]
    assert day_rows and all(int(line.split()[1].replace(",", "")) > 300 for line in day_rows if ": ok" not in line)
    assert "Open the UI with `make dev`" in first.stdout

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already generated" in again.stdout
    summary = lambda out: [line for line in out.splitlines() if line.strip().startswith("20") and ": ok" not in line]  # noqa: E731
    assert summary(again.stdout) == summary(first.stdout)
    assert not list((demo_home / "landing").glob("*.ndjson"))
