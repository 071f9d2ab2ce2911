import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from assets.ingestion import SignalIngestor
from assets.pipeline_health import HealthPolicy, pipeline_health
from orchestration.ops_sensors import (
    ops_resources,
    run_failure_alert_sensor,
    run_success_resolve_sensor,
)
from orchestration.settings import Settings
from resources.alerts import AlertSink
from resources.landing import LandingStore


class Receiver:
    """A webhook on 127.0.0.1 that keeps every JSON body and answers with the next queued status."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.bodies.append(json.loads(body))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def delivery_state(postgres):
    with postgres.connection() as conn:
        return conn.execute("SELECT alert_key, delivered_at IS NOT NULL, delivery_error FROM alerts ORDER BY alert_id").fetchall()


def test_a_new_alert_is_stored_and_posted_once_as_a_slack_style_message(postgres, receiver):
    alerts = AlertSink(postgres=postgres, webhook_url=receiver.url, ui_url="http://127.0.0.1:3000/")
    alert_id = alerts.raise_alert(
        "run_failure:retention_job:2026-11-20", "run_failure", "error", "run of retention_job failed: disk full",
        {"job": "retention_job", "failed_steps": 1}, run_id="0123456789abcdef",
    )
    assert alert_id is not None
    assert alerts.raise_alert("run_failure:retention_job:2026-11-20", "run_failure", "error", "again") is None

    assert len(receiver.bodies) == 1
    message = receiver.bodies[0]
    assert message["text"].startswith(":red_circle: Distillery error: run of retention_job failed: disk full")
    assert "<http://127.0.0.1:3000/runs/0123456789abcdef|run 01234567>" in message["text"]
    attachment = message["attachments"][0]
    assert attachment["footer"] == "run_failure:retention_job:2026-11-20" and attachment["color"] == "#cf222e"
    assert {"title": "job", "value": "retention_job", "short": True} in attachment["fields"]
    assert delivery_state(postgres) == [("run_failure:retention_job:2026-11-20", True, None)]

    resolved = alerts.resolve(["run_failure:retention_job:2026-11-20", "health:nothing_open:warning"])
    assert [alert.alert_id for alert in resolved] == [alert_id]
    assert receiver.bodies[1]["text"].startswith(":white_check_mark: Distillery resolved:")
    assert alerts.open_alerts() == []
    # Resolved, the condition may open a new alert.
    assert alerts.raise_alert("run_failure:retention_job:2026-11-20", "run_failure", "error", "failed again") is not None


def test_an_alert_the_webhook_refused_is_kept_and_posted_on_the_next_pass(postgres, receiver):
    alerts = AlertSink(postgres=postgres, webhook_url=receiver.url)
    receiver.statuses = [500]
    alerts.raise_alert("health:landing_backlog_draining:warning", "health_check", "warning", "landing backlog: 3 files")
    assert receiver.bodies == []
    assert delivery_state(postgres) == [("health:landing_backlog_draining:warning", False, "HTTP 500 from the webhook")]

    delivery = alerts.deliver_pending()
    assert delivery.delivered == 1 and delivery.failed == 0
    assert receiver.bodies[0]["text"].startswith(":warning: Distillery warning: landing backlog: 3 files")
    assert delivery_state(postgres)[0][1:] == (True, None)
    assert alerts.deliver_pending().delivered == 0


def test_each_health_pass_posts_the_alerts_the_webhook_missed(postgres, receiver, tmp_path):
    alerts = AlertSink(postgres=postgres, webhook_url=receiver.url)
    receiver.statuses = [503]
    alerts.raise_alert("run_failure:ingest_job:2026-11-20", "run_failure", "error", "run of ingest_job failed")
    assert receiver.bodies == []
    result = dg.materialize([pipeline_health], resources={
        "postgres": postgres, "landing": LandingStore(root=str(tmp_path / "landing")),
        "ingestor": SignalIngestor(postgres=postgres), "health_policy": HealthPolicy(), "alerts": alerts,
    })
    assert result.asset_materializations_for_node("pipeline_health")[0].metadata["alerts_delivered_late"].value == 1
    assert [body["text"] for body in receiver.bodies] == [":red_circle: Distillery error: run of ingest_job failed"]


def test_an_unreachable_webhook_never_stops_alerting(postgres):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    alerts = AlertSink(postgres=postgres, webhook_url=f"http://127.0.0.1:{closed_port}/", timeout_seconds=1)
    assert alerts.raise_alert("health:a:error", "health_check", "error", "a") is not None
    assert alerts.raise_alert("health:b:error", "health_check", "error", "b") is not None
    state = delivery_state(postgres)
    assert [row[1] for row in state] == [False, False] and "unreachable" in state[0][2]
    assert [alert.summary for alert in alerts.open_alerts()] == ["a", "b"]


def test_without_a_webhook_alerts_are_only_stored(postgres):
    alerts = AlertSink(postgres=postgres)
    alerts.raise_alert("health:a:warning", "health_check", "warning", "a")
    alerts.raise_alert("health:b:error", "health_check", "error", "b")
    assert [alert.alert_key for alert in alerts.open_alerts()] == ["health:b:error", "health:a:warning"]
    assert delivery_state(postgres)[0][1:] == (False, None)


class FlakyConfig(dg.Config):
    fail: bool = True


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2026-11-01"))
def nightly_step(config: FlakyConfig) -> None:
    if config.fail:
        raise RuntimeError("disk full while writing the archive")


nightly_job = dg.define_asset_job("nightly_job", selection=[nightly_step])


def run_nightly(instance, fail: bool):
    job = dg.Definitions(assets=[nightly_step], jobs=[nightly_job]).resolve_job_def("nightly_job")
    return job.execute_in_process(
        instance=instance, partition_key="2026-11-20", raise_on_error=False,
        run_config={"ops": {"nightly_step": {"config": {"fail": fail}}}},
    )


def test_a_failed_run_raises_an_error_alert_and_its_successful_rerun_resolves_it(postgres, receiver):
    alerts = AlertSink(postgres=postgres, webhook_url=receiver.url)
    with dg.instance_for_test() as instance:
        failed = run_nightly(instance, fail=True)
        assert not failed.success
        with dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor", dagster_event=failed.get_run_failure_event(),
            dagster_instance=instance, dagster_run=failed.dagster_run, resources={"alerts": alerts},
        ).for_run_failure() as context:
            run_failure_alert_sensor(context)

        [alert] = alerts.open_alerts()
        assert alert.alert_key == "run_failure:nightly_job:2026-11-20" and alert.severity == "error"
        assert alert.run_id == failed.run_id
        assert "nightly_step: RuntimeError: disk full while writing the archive" in alert.summary
        assert alert.details["failed_steps"] == 1
        assert "run of nightly_job for 2026-11-20 failed" in receiver.bodies[0]["text"]

        rerun = run_nightly(instance, fail=False)
        assert rerun.success
        success_event = next(e for e in rerun.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS)
        with dg.build_run_status_sensor_context(
            sensor_name="run_success_resolve_sensor", dagster_event=success_event,
            dagster_instance=instance, dagster_run=rerun.dagster_run, resources={"alerts": alerts},
        ) as context:
            run_success_resolve_sensor(context)
    assert alerts.open_alerts() == []
    assert receiver.bodies[-1]["text"].startswith(":white_check_mark:")


def test_operations_resources_come_from_the_environment_only_when_asked(postgres, tmp_path):
    settings = Settings.from_env({"DISTILLERY_HOME": str(tmp_path)})
    resources = ops_resources(settings, postgres, {
        "DISTILLERY_DATABASE_CAPACITY": "500MB",
        "DISTILLERY_LAG_WARN_MINUTES": "90",
        "DISTILLERY_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        "DISTILLERY_UI_URL": "http://dagster.internal:3000",
    })
    assert resources["health_policy"].capacity_bytes == 500 * 1024**2
    assert resources["health_policy"].lag_warn_minutes == 90
    assert resources["alerts"].webhook_url == "http://127.0.0.1:9/hook"
    assert resources["alerts"].ui_url == "http://dagster.internal:3000"
    defaults = ops_resources(settings, postgres, {})
    assert defaults["health_policy"].capacity_bytes == 8 * 1024**3 and defaults["alerts"].webhook_url is None
