"""The Dagster UI as a person sees it: a headless browser on a materialized demo, one run through GraphQL.

The demo runs on its own embedded server (a temporary DISTILLERY_HOME under /tmp: the server runs
as its own OS user) and keeps Dagster's runs and events in Postgres through deploy/dagster.yaml,
as a production instance does; dagster-webserver and dagster-daemon serve it as two services.
"""

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
from dagster_graphql import DagsterGraphQLClient
from psycopg import sql

from orchestration.commands import INSTANCE_CONFIG, dagster_storage_url
from orchestration.definitions import build_definitions
from orchestration.settings import Settings

pytestmark = [pytest.mark.ui, pytest.mark.timeout(900)]

BIN = Path(sys.executable).parent
DOCS = Path(__file__).resolve().parent.parent / "docs"
BROWSER_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--window-size=2400,1500",
    # Virtual time runs until the page's requests (GraphQL included) have settled, up to this budget.
    "--virtual-time-budget=60000",
]
DEMO = ["demo", "--users", "60", "--signals-per-day", "400", "--days", "2"]


def chromium() -> str:
    """Debian's chromium, installed on first use."""
    found = shutil.which("chromium")
    if found:
        return found
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt_env, timeout=900)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=apt_env, timeout=900)
    return shutil.which("chromium") or pytest.fail("apt-get installed chromium, but it is not on PATH")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_service(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # Its own process group, so SIGTERM reaches the service and every code server it started.
    return subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_services(services: list[subprocess.Popen], timeout: float = 60) -> bool:
    """SIGTERM to each group at once; True when all stopped by themselves, else the rest are killed."""
    for service in services:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    # poll() reaps an exited leader: a zombie would still count as a member of its group.
    while any(service.poll() is None or group_alive(service.pid) for service in services) and time.monotonic() < deadline:
        time.sleep(0.2)
    clean = True
    for service in services:
        if group_alive(service.pid):
            os.killpg(service.pid, signal.SIGKILL)
            clean = False
        service.wait()
    return clean


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Processes whose command line or environment holds `text` (a test's temporary folder, say)."""
    needle, found = text.encode(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline, environ = (entry / "cmdline").read_bytes(), (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if needle in cmdline or needle in environ:
            found.append((int(entry.name), cmdline.replace(b"\0", b" ").decode(errors="replace").strip()))
    return found


def wait_for_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@dataclass
class DemoUI:
    root: Path
    home: Path
    port: int
    env: dict[str, str]
    dagster_database: str
    stopped_cleanly: bool = False
    leftovers: list[tuple[int, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def visit(self, path: str, screenshot: Path | None = None) -> str:
        """What a person reads on the page (the rendered DOM without scripts, styles and tags); optionally a screenshot."""
        profile = tempfile.mkdtemp(prefix="dst-chromium-")
        flags = [f"--user-data-dir={profile}", "--dump-dom"] + ([f"--screenshot={screenshot}"] if screenshot else [])
        try:
            done = subprocess.run(
                [chromium(), *BROWSER_FLAGS, *flags, self.url + path], check=False, capture_output=True, text=True, timeout=120
            )
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        assert done.returncode == 0, done.stderr[-2000:]
        if screenshot:
            assert screenshot.stat().st_size > 10_000
        dom = re.sub(r"<(script|style)\b.*?</\1>", " ", done.stdout, flags=re.DOTALL)
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())


@contextmanager
def demo_ui(pg_server) -> Iterator[DemoUI]:
    """The demo materialized, then dagster-webserver and dagster-daemon on it; everything stopped after."""
    root = Path(tempfile.mkdtemp(prefix="dst-ui-"))
    home = root / "home"
    (home / "dagster").mkdir(parents=True)
    shutil.copyfile(INSTANCE_CONFIG, home / "dagster" / "dagster.yaml")
    database = f"dagster_ui_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "DISTILLERY_LANDING_DIR"}}
    env.update(
        DISTILLERY_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        DAGSTER_PG_URL=dagster_storage_url(pg_server.get_uri(), database),
    )
    ui = DemoUI(root, home, free_port(), env, database)
    definitions = ["-m", "orchestration.definitions"]
    services = [
        # The webserver starts while the demo runs; the daemon only after, so its sensors find nothing half-done.
        start_service([str(BIN / "dagster-webserver"), *definitions, "-h", "127.0.0.1", "-p", str(ui.port)], env, root / "webserver.log")
    ]
    try:
        demo = subprocess.run([str(BIN / "distillery"), *DEMO], check=False, env=env, capture_output=True, text=True, timeout=600)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        services.append(start_service([str(BIN / "dagster-daemon"), "run", *definitions], env, root / "daemon.log"))
        wait_for_http(f"{ui.url}/server_info")
        yield ui
    finally:
        ui.stopped_cleanly = stop_services(services)
        # A run worker may have started the embedded server; it stops with its last user, or here.
        if processes_mentioning(str(home / "pg")):
            subprocess.run([str(BIN / "distillery"), "db", "stop"], check=False, env=env, capture_output=True, timeout=120)
        with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        ui.leftovers = processes_mentioning(str(root))
        shutil.rmtree(root, ignore_errors=True)


def test_the_ui_shows_the_materialized_lifecycle_and_runs_a_job_through_graphql(pg_server):
    started = time.monotonic()
    with demo_ui(pg_server) as ui:
        defs = build_definitions(Settings.from_env({"DISTILLERY_HOME": str(ui.home)}))
        specs = defs.resolve_all_asset_specs()
        names = sorted(spec.key.to_user_string() for spec in specs)
        checks = sorted(
            key.name for key in defs.resolve_asset_graph().asset_check_keys if key.asset_key.to_user_string() == "raw_signals"
        )
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()

        # With several groups the lineage opens collapsed; the UI keeps expanded groups in the URL.
        expanded = ",".join(sorted({f"global@global:{spec.group_name}" for spec in specs}))
        graph = ui.visit(f"/asset-groups?{urlencode({'expanded': expanded})}", screenshot=DOCS / "ui-asset-graph.png")
        assert "raw_signals" in graph and f"Asset checks {len(checks)} / {len(checks)} Passed" in graph, graph
        # The lineage draws only the nodes in view; the catalog lists every asset.
        catalog = ui.visit("/assets")
        assert all(name in catalog for name in names), catalog
        assert re.search(r"\d+ partitions", graph)

        page = ui.visit("/assets/raw_signals", screenshot=DOCS / "ui-raw-signals.png")
        assert "Latest materialization" in page and yesterday in page
        for figure in ("rows_stored", "rows_rejected", "duplicates_skipped", "circuit_breaker"):
            assert figure in page

        partitions = ui.visit("/assets/raw_signals?view=partitions")
        assert "Materialized (2)" in partitions and "Failed (0)" in partitions

        check_page = ui.visit("/assets/raw_signals?view=checks")
        assert f"Checks ({len(checks)})" in check_page
        assert all(f"{name} {name} Succeeded" in check_page for name in checks), check_page

        profiles = ui.visit("/assets/user_profiles", screenshot=DOCS / "ui-user-profiles.png")
        assert "Latest materialization" in profiles and yesterday in profiles
        for figure in ("signals_in", "profiles_updated", "signals_per_profile_update"):
            assert figure in profiles

        client = DagsterGraphQLClient("127.0.0.1", port_number=ui.port, timeout=60)
        # In process: one worker instead of a process per step, the same code and storage.
        run_id = client.submit_job_execution(
            "ingest_job", tags={"dagster/partition": yesterday}, run_config={"execution": {"config": {"in_process": {}}}}
        )
        deadline = time.monotonic() + 180
        while (status := client.get_run_status(run_id).value) not in ("SUCCESS", "FAILURE", "CANCELED"):
            assert time.monotonic() < deadline, f"run {run_id} still {status}"
            time.sleep(1)
        assert status == "SUCCESS", (ui.root / "daemon.log").read_text()[-3000:]
        # The run the UI launched is recorded in Postgres, where the webserver and the daemon both read it.
        with psycopg.connect(pg_server.get_uri(database=ui.dagster_database)) as conn:
            assert conn.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,)).fetchone() == ("SUCCESS",)

    assert ui.stopped_cleanly, "a service did not stop on SIGTERM within a minute"
    assert ui.leftovers == []
    print(f"UI test: {time.monotonic() - started:.0f}s")


def test_distillery_dev_serves_the_ui_from_postgres_and_stops_on_sigterm(pg_server, database_url):
    home = Path(tempfile.mkdtemp(prefix="dst-dev-"))
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"DAGSTER_HOME", "DAGSTER_PG_URL"}}
    env.update(DISTILLERY_HOME=str(home), DATABASE_URL=database_url)
    dev = subprocess.Popen(
        [str(BIN / "distillery"), "dev", "--port", str(port)], env=env,
        stdout=(home / "dev.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/server_info")
        started = processes_mentioning(str(home))
        assert any("daemon" in args for _, args in started), started
        with psycopg.connect(pg_server.get_uri(database="dagster")) as conn:
            tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"runs", "event_logs", "jobs", "job_ticks"} <= tables

        dev.send_signal(signal.SIGTERM)
        assert dev.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while (left := processes_mentioning(str(home))) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == []
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGKILL)
        with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS dagster WITH (FORCE)")
        shutil.rmtree(home, ignore_errors=True)
