"""Prometheus metrics at /metrics: the chain pipeline's progress, read from MongoDB at
each scrape (so every web process reports the same truth, and nothing is kept here)."""
from __future__ import annotations

import logging
from typing import Iterator

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.services import services
from store import chain_log, heartbeats, watcher_cursors

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)


class PipelineCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = services()
        db = s.mongo_probe_client[s.settings.mongo_db]
        try:
            last = chain_log.last_seq(db)
            cursors = watcher_cursors.read_all(db)
            follower = heartbeats.read(db, "follower")
        except Exception as error:  # MongoDB down: no figures, /ready says why
            log.warning("metrics unavailable: %s", type(error).__name__)
            up = GaugeMetricFamily("dhl_store_up", "1 when MongoDB answered this scrape")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("dhl_store_up", "1 when MongoDB answered this scrape")
        up.add_metric([], 1)
        yield up
        events = GaugeMetricFamily("dhl_chain_events", "number of the newest block-log event")
        events.add_metric([], last)
        yield events
        if follower is not None:
            for name, key, text in (("dhl_follower_slot", "slot", "slot the follower is at"),
                                    ("dhl_follower_tip_slot", "tip_slot", "the node's tip slot"),
                                    ("dhl_follower_lag_seconds", "lag_seconds",
                                     "follower lag behind the node's tip"),
                                    ("dhl_follower_blocks_per_second", "blocks_per_second",
                                     "blocks the follower took per second lately")):
                value = follower.details.get(key)
                if value is not None:
                    gauge = GaugeMetricFamily(name, text)
                    gauge.add_metric([], value)
                    yield gauge
        seq = GaugeMetricFamily("dhl_watcher_cursor_seq", "last block-log event applied",
                                labels=["watcher"])
        behind = GaugeMetricFamily("dhl_watcher_lag_events", "block-log events not yet applied",
                                   labels=["watcher"])
        poisoned = GaugeMetricFamily("dhl_watcher_poisoned", "1 when stopped at a poison block",
                                     labels=["watcher"])
        rate = GaugeMetricFamily("dhl_watcher_blocks_per_second",
                                 "blocks per second of the last batch", labels=["watcher"])
        for cursor in cursors:
            seq.add_metric([cursor.watcher], cursor.seq)
            behind.add_metric([cursor.watcher], last - cursor.seq)
            poisoned.add_metric([cursor.watcher], 0 if cursor.poisoned_seq is None else 1)
            if cursor.rate is not None:
                rate.add_metric([cursor.watcher], cursor.rate)
        yield from (seq, behind, poisoned, rate)


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector())
    return registry


@bp.route("/metrics")
def metrics() -> Response:
    return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)
