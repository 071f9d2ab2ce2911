"""Alerts: one Postgres table of raised conditions, and an optional Slack-style webhook told about each."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import dagster as dg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from pydantic import Field

from resources.postgres import PostgresResource
from resources.sql import load

Severity = Literal["warning", "error"]
COLORS = {"warning": "#d4a72c", "error": "#cf222e", "resolved": "#1a7f37"}
ICONS = {"warning": ":warning:", "error": ":red_circle:", "resolved": ":white_check_mark:"}


@dataclass(frozen=True)
class Alert:
    alert_id: int
    alert_key: str
    source: str
    severity: str
    summary: str
    details: dict[str, Any]
    run_id: str | None
    raised_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class Delivery:
    delivered: int = 0
    failed: int = 0
    error: str | None = None


class AlertSink(dg.ConfigurableResource):
    """Raises and resolves alerts; each new alert is posted to the webhook, if one is configured.

    One alert stays open per condition (`alert_key`), so a check failing every 15 minutes posts once.
    An alert the webhook did not take stays undelivered and is posted again on the next pass.
    """

    postgres: dg.ResourceDependency[PostgresResource]
    webhook_url: str | None = Field(default=None, description="Slack-style incoming webhook; empty posts nothing.")
    ui_url: str | None = Field(default=None, description="The Dagster UI's address, for links to failed runs.")
    timeout_seconds: float = Field(default=5.0, gt=0)
    redeliver_hours: int = Field(default=24, ge=1, description="Undelivered alerts older than this are no longer posted.")

    def raise_alert(
        self,
        alert_key: str,
        source: Literal["health_check", "run_failure"],
        severity: Severity,
        summary: str,
        details: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> int | None:
        """Opens the alert and posts it; None when the same condition already had an open alert."""
        with self.postgres.connection() as conn:
            row = conn.execute(
                load("alerts/raise_alert"),
                {
                    "alert_key": alert_key, "source": source, "severity": severity, "summary": summary,
                    "details": Jsonb(details or {}), "run_id": run_id,
                },
            ).fetchone()
        if row is None:
            return None
        self.deliver_pending()
        return row[0]

    def resolve(self, alert_keys: Iterable[str]) -> list[Alert]:
        """Closes the open alerts of these conditions and tells the webhook, once, best effort."""
        with self.postgres.connection() as conn:
            resolved = (
                conn.cursor(row_factory=class_row(Alert))
                .execute(load("alerts/resolve_alerts"), {"alert_keys": list(alert_keys)})
                .fetchall()
            )
        if self.webhook_url:
            for alert in resolved:
                self.post(self.message(alert))
        return resolved

    def open_alerts(self) -> list[Alert]:
        with self.postgres.connection() as conn:
            return conn.cursor(row_factory=class_row(Alert)).execute(load("alerts/open_alerts")).fetchall()

    def deliver_pending(self) -> Delivery:
        """Posts undelivered recent alerts, oldest first; stops at the first failure (the webhook is down)."""
        if not self.webhook_url:
            return Delivery()
        delivered, tried = 0, []
        while True:
            with self.postgres.connection() as conn:
                # The row stays locked while it is posted, so a concurrent sender skips it.
                alert = (
                    conn.cursor(row_factory=class_row(Alert))
                    .execute(load("alerts/claim_undelivered"), {"max_age_hours": self.redeliver_hours, "tried": tried})
                    .fetchone()
                )
                if alert is None:
                    return Delivery(delivered=delivered)
                tried.append(alert.alert_id)
                error = self.post(self.message(alert))
                conn.execute(load("alerts/record_delivery"), {"alert_id": alert.alert_id, "error": error})
            if error:
                return Delivery(delivered=delivered, failed=1, error=error)
            delivered += 1

    def message(self, alert: Alert) -> dict[str, Any]:
        """A Slack-style message: one line of text, the details as attachment fields."""
        state = "resolved" if alert.resolved_at else alert.severity
        text = f"{ICONS[state]} Distillery {state}: {alert.summary}"
        if alert.run_id and self.ui_url:
            text += f" <{self.ui_url.rstrip('/')}/runs/{alert.run_id}|run {alert.run_id[:8]}>"
        fields = [{"title": name, "value": _field_text(value), "short": True} for name, value in alert.details.items()]
        moment = alert.resolved_at or alert.raised_at
        return {
            "text": text,
            "attachments": [
                {"color": COLORS[state], "fields": fields, "footer": alert.alert_key, "ts": int(moment.timestamp())}
            ],
        }

    def post(self, payload: dict[str, Any]) -> str | None:
        """POSTs the JSON payload; the error as text, or None when the webhook took it."""
        request = urllib.request.Request(
            self.webhook_url,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                response.read()
        except urllib.error.HTTPError as error:
            return f"HTTP {error.code} from the webhook"
        except (urllib.error.URLError, OSError) as error:
            return f"webhook unreachable: {getattr(error, 'reason', error)}"
        return None


def _field_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)
