"""k8s/monitoring: the dashboard and the alerts parse, and every metric they name is on
the metrics pages of an Ottoscaler that ran pipelines (a retry and a failure among them)."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from gateway.settings import Settings
from tests.gateway.test_execute_pipeline import request, stage
from tests.gateway.test_metrics import retried_once
from tests.gateway.test_temporal_metrics import exporting_ottoscaler

MONITORING = Path(__file__).resolve().parents[2] / "k8s" / "monitoring"
METRIC = re.compile(r"\b(?:ottoscaler|temporal)_[a-z_]+\b")
# What a series adds to its family's name.
SUFFIX = re.compile(r"_(?:bucket|count|sum|total)$")


def dashboard_exprs() -> list[str]:
    dashboard: dict[str, Any] = json.loads((MONITORING / "dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_exprs() -> dict[str, str]:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    return {r["alert"]: r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]}


def families(port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {family.name for family in text_string_to_metric_families(text)}


def test_every_alert_has_its_runbook_in_the_operations_guide() -> None:
    guide = (MONITORING.parents[1] / "docs" / "operations.md").read_text()
    for alert in alert_exprs():
        assert f"### {alert}\n" in guide, alert


async def test_every_metric_named_is_on_the_metrics_pages(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with exporting_ottoscaler(temporal_env, settings) as ottoscaler:
        flaky, broken = request(retried_once("flaky", "Error")), request(stage("b", exit_code="2"))
        for req in (flaky, broken):
            [e async for e in ottoscaler.stub.ExecutePipeline(req)]
        scraped = await asyncio.to_thread(families, ottoscaler.running.metrics_port)
        scraped |= await asyncio.to_thread(families, ottoscaler.sdk_port)
    named = {
        SUFFIX.sub("", name)
        for expr in [*dashboard_exprs(), *alert_exprs().values()]
        for name in METRIC.findall(expr)
    }
    assert named, "no metric found in the dashboard and the alerts"
    assert named - scraped == set()
