"""Prometheus metrics of the service (served by prometheus_client on --metrics-port)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.advice = Counter("captcha_advice", "Answers by colour asked and advice (submit: calibrated confidence "
                              "at or above the threshold; refresh: below)", ["color", "advice"], registry=r)
        self.batch_size = Histogram("captcha_batch_size", "Pictures per model call", ["model"], registry=r,
                                    buckets=(1, 2, 4, 8, 16, 32, 64))

        self.reports = Counter("captcha_reports", "Verdicts reported, by colour asked, the model that answered and its "
                               "version, verdict and whose text was submitted (ours: the server's answer)",
                               ["color", "model", "version", "verdict", "text"], registry=r)
        self.live_accuracy = Gauge("captcha_live_accuracy", "Of the server's answers submitted to the platform, the "
                                   "share accepted, by colour asked, the model that answered (the colour's own, or "
                                   "red through the transform) and its version", ["color", "model", "version"],
                                   registry=r)
        self.feedback_dropped = Counter("captcha_feedback_dropped", "Answered pictures dropped unreported from the "
                                        "feedback cache, by reason (expired, full)", ["reason"], registry=r)

    def observe_batch(self, model: str, size: int) -> None:
        self.batch_size.labels(model).observe(size)
