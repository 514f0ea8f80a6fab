"""Prometheus metrics of the service (served by prometheus_client on --metrics-port)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("captcha_requests", "Pictures answered", ["model", "route"], registry=r)
        self.errors = Counter("captcha_errors", "Requests refused, by gRPC status code name and protocol (grpc, http)",
                              ["code", "protocol"], registry=r)
        self.latency = Histogram("captcha_request_seconds", "Server time per picture", ["model"], registry=r,
                                 buckets=(.0005, .001, .002, .003, .005, .0075, .01, .02, .05, .1, .25, 1))
        self.second_looks = Counter("captcha_second_looks", "Answers that took a second look (read more than once)",
                                    ["color"], registry=r)
        self.batch_size = Histogram("captcha_batch_size", "Pictures per model call", ["model"], registry=r,
                                    buckets=(1, 2, 4, 8, 16, 32, 64))

    def observe_batch(self, model: str, size: int) -> None:
        self.batch_size.labels(model).observe(size)
