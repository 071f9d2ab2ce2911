"""`distillery health`: the pipeline_health picture in a terminal, with an exit code cron and CI can use."""

import argparse
import json
import os
import sys
from dataclasses import asdict

from assets.pipeline_health import HealthReport, human_bytes, measure_health
from orchestration.ops_sensors import ops_resources
from orchestration.settings import Settings
from orchestration.wiring import build_resources
from resources.alerts import Alert

EXIT_RED = 1
MARKS = {"ok": "✔", "warning": "▲", "error": "✖", "not_built": "·"}
COLORS = {"ok": "32", "warning": "33", "error": "31", "not_built": "2"}


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    health = subparsers.add_parser(
        "health", help="print the pipeline's health and open alerts; exit code 1 when something is red"
    )
    health.add_argument("--json", action="store_true", help="print the report as JSON")
    health.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    health.set_defaults(handler=run_health)


def run_health(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    resources = build_resources(settings)
    ops = ops_resources(settings, resources["postgres"])
    report = measure_health(resources["postgres"], resources["landing"], resources["ingestor"], ops["health_policy"])
    alerts = ops["alerts"].open_alerts()
    status = overall_status(report, alerts)
    if args.json:
        print(json.dumps(as_json(report, alerts, status), default=str, indent=2))
    else:
        print(picture(report, alerts, status, color=sys.stdout.isatty() and "NO_COLOR" not in os.environ))
    red = status == "error" or (args.strict and status == "warning")
    return EXIT_RED if red else 0


def overall_status(report: HealthReport, alerts: list[Alert]) -> str:
    """Red when a check errs or an error alert (a failed run, say) is still open."""
    severities = {alert.severity for alert in alerts}
    if report.status == "error" or "error" in severities:
        return "error"
    if report.status == "warning" or "warning" in severities:
        return "warning"
    return "ok"


def picture(report: HealthReport, alerts: list[Alert], status: str, color: bool = False) -> str:
    def paint(state: str, text: str) -> str:
        return f"\033[{COLORS[state]}m{text}\033[0m" if color else text

    width = max(len(finding.label) for finding in report.findings)
    lines = [f"Distillery health at {report.measured_at:%Y-%m-%d %H:%M} UTC", ""]
    lines += [
        f"  {paint(finding.status, MARKS[finding.status])} {finding.label:<{width}}  {finding.summary}"
        for finding in report.findings
    ]
    lines += ["", f"  {'largest tables':<24} {'data':>10} {'indexes':>10} {'rows (est.)':>14}"]
    lines += [
        f"  {table.table_name:<24} {human_bytes(table.table_bytes):>10} {human_bytes(table.index_bytes):>10} "
        f"{table.rows_estimate:>14,}"
        for table in report.tables
    ]
    lines += ["", f"  open alerts: {len(alerts)}" if alerts else "  no open alerts"]
    lines += [
        f"  {paint(alert.severity, MARKS[alert.severity])} since {alert.raised_at:%Y-%m-%d %H:%M} UTC  {alert.summary}"
        for alert in alerts
    ]
    counts = {state: sum(f.status == state for f in report.findings) for state in ("error", "warning")}
    verdict = {"error": "RED", "warning": "YELLOW", "ok": "GREEN"}[status]
    lines += ["", paint(status, f"{verdict}: {counts['error']} in error, {counts['warning']} warning, {len(alerts)} open alerts")]
    return "\n".join(lines)


def as_json(report: HealthReport, alerts: list[Alert], status: str) -> dict:
    return {
        "status": status,
        "measured_at": report.measured_at,
        "checks": [asdict(finding) for finding in report.findings],
        "tables": [asdict(table) for table in report.tables],
        "open_alerts": [asdict(alert) for alert in alerts],
    }
