"""Prometheus metrics, one registry per app so several hubs can live in one test process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.webhooks = Counter(
            "crmhub_webhooks_total",
            "Provider webhooks by channel and outcome",
            ["channel", "outcome"],
            registry=r,
        )
        self.interactions = Counter(
            "crmhub_interactions_received_total",
            "New interactions by channel",
            ["channel"],
            registry=r,
        )
        self.offers = Counter("crmhub_offers_total", "Offers by outcome", ["outcome"], registry=r)
        self.routing_pass = Histogram(
            "crmhub_routing_pass_seconds",
            "Duration of one routing pass",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self.bus_backlog = Gauge(
            "crmhub_bus_backlog",
            "Events a bus consumer group has not acknowledged yet (after its last batch)",
            ["group"],
            registry=r,
        )
        self.receive_batch = Histogram(
            "crmhub_receive_batch_size",
            "Inbound contacts stored per transaction (group commit)",
            registry=r,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
        )
        self.sends = Counter(
            "crmhub_outbound_total",
            "Outbound sends by channel and outcome",
            ["channel", "outcome"],
            registry=r,
        )
        self.rejected = Counter(
            "crmhub_overload_rejections_total",
            "Requests answered 503 because too many were in flight",
            registry=r,
        )
        self.queued = Gauge("crmhub_queued_interactions", "Interactions waiting", registry=r)
        self.sockets = Gauge(
            "crmhub_socket_connections",
            "Socket.IO connections by namespace",
            ["namespace"],
            registry=r,
        )
        self.statements = Counter(
            "crmhub_db_statements_total",
            "SQL statements sent to the database (an executemany counts once)",
            registry=r,
        )
        self.gc_pause = Histogram(
            "crmhub_gc_pause_seconds",
            "Cyclic garbage collections by generation: each one stalls the event loop",
            ["generation"],
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self.http = Histogram(
            "crmhub_http_request_seconds",
            "HTTP request duration",
            ["route", "status"],
            registry=r,
        )

    def count_statements(self, engine: AsyncEngine) -> None:
        """Count every statement `engine` sends: the cost per message the benchmarks track."""
        inc = self.statements.inc
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *_: inc())
