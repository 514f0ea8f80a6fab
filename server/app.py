"""Assembles the server from a config: model manager, data plane, gRPC server, health,
reflection, metrics and the optional HTTP API. ``start()`` returns a running :class:`App`.

Health follows the servables: the overall status ("" and the service's name) is SERVING while at
least one colour can be answered and NOT_SERVING when none can; ``<service>/<colour>`` (e.g.
``captcha.v1.CaptchaService/red``) is SERVING while that colour's own model serves it directly."""
from __future__ import annotations

import logging
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from captcha.v1 import captcha_pb2, captcha_pb2_grpc
from captcha_core.preprocess import ImageLimits

from . import http_api, reflection
from .auth import BearerTokenInterceptor
from .config import ServerConfig
from .feedback import Feedback
from .manager import ModelManager
from .metrics import Metrics
from .plane import DataPlane
from .routing import Router
from .service import CaptchaService
from .versions import VersionPolicy, describe
from .wire import DecodeGuard

log = logging.getLogger("captcha.server")
SERVICE_NAME = captcha_pb2.DESCRIPTOR.services_by_name["CaptchaService"].full_name
MAX_MESSAGE = 8 * 1024 * 1024  # transport limit; pictures are held to --max-image-bytes


@dataclass
class App:
    config: ServerConfig
    server: grpc.Server
    port: int
    repository: ModelManager
    health: health.HealthServicer
    metrics: Metrics
    service: CaptchaService
    plane: DataPlane
    http: object = None
    http_port: int = 0
    metrics_port: int = 0
    metrics_http: object = None
    health_server: grpc.Server | None = None
    health_port: int = 0

    def stop(self, grace: float | None = None) -> None:
        """Refuses new calls, lets in-flight ones finish within ``grace`` seconds, then stops."""
        grace = self.config.grace if grace is None else grace
        self.health.enter_graceful_shutdown()
        if self.http:
            self.http.shutdown()
            self.http.server_close()
        if self.metrics_http:
            self.metrics_http.shutdown()
            self.metrics_http.server_close()
        if self.health_server:
            self.health_server.stop(0)
        self.server.stop(grace).wait()
        self.service.pool.shutdown(wait=False, cancel_futures=True)
        self.repository.close()
        if self.plane.feedback:  # last: calls still in flight may be storing reports
            self.plane.feedback.close()


class StartupError(Exception):
    """The server cannot start as configured (a port in use, a TLS file missing); the message
    names the setting."""


def _credentials(cfg: ServerConfig):
    def read(flag: str, path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise StartupError(f"{flag} {path}: {exc.strerror or exc}") from None
    key, cert = read("--tls-key", cfg.tls_key), read("--tls-cert", cfg.tls_cert)
    ca = read("--tls-client-ca", cfg.tls_client_ca) if cfg.tls_client_ca else None
    check = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # gRPC reads the PEM only when it binds, and says "bind failed"
    try:
        check.load_cert_chain(cfg.tls_cert, cfg.tls_key, password=lambda: b"")  # never a passphrase prompt
    except ssl.SSLError as exc:
        raise StartupError(f"--tls-cert {cfg.tls_cert} and --tls-key {cfg.tls_key}: {exc.reason or exc} "
                           "(a PEM certificate and its unencrypted private key)") from None
    if ca:
        try:
            check.load_verify_locations(cadata=ca.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as exc:
            raise StartupError(f"--tls-client-ca {cfg.tls_client_ca}: {exc.reason or exc}") from None
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)


def _bind(flag: str, port: int, listen):
    """``listen()``, with a failure to bind told as a StartupError naming ``flag``."""
    try:
        return listen()
    except (OSError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or "cannot bind there (in use, or not an address of this host)"
        raise StartupError(f"{flag} {port}: {reason}") from None


def color_health_name(color) -> str:
    return f"{SERVICE_NAME}/{color.label}"


def start(cfg: ServerConfig, loader=None) -> App:
    """Checks the settings and binds every port before the models load (a port in use fails at
    once), loads them, then starts serving. Whatever was set up is stopped if any of it fails."""
    credentials = _credentials(cfg) if cfg.tls_cert else None
    if loader is None:
        from .models import loader as runtime_loader
        loader = runtime_loader(cfg.runtime, cfg.precision, cfg.openvino_threads)
    metrics = Metrics()
    version_policy = VersionPolicy.parse(cfg.version_policy)
    manager = ModelManager(cfg.model_dir, loader, cfg.batch_policy(),
                           on_batch=metrics.observe_batch, version_policy=version_policy)
    router = Router(manager, cfg.confidence_threshold, views=cfg.second_look_views)
    feedback = None
    if cfg.feedback_store:
        from captcha_core.feedback import open_store
        feedback = Feedback(open_store(cfg.feedback_store), cfg.feedback_ttl, int(cfg.feedback_max_mb * 2**20), metrics)
    plane = DataPlane(manager, router, metrics, ImageLimits(max_bytes=cfg.max_image_bytes), feedback)
    service = CaptchaService(plane, ThreadPoolExecutor(cfg.workers, thread_name_prefix="stream"))
    server, health_servicer = _grpc_server(cfg, service, plane)
    app = App(cfg, server, 0, manager, health_servicer, metrics, service, plane)
    try:
        address = f"{cfg.host}:{cfg.port}"
        app.port = _bind("--port", cfg.port, lambda: server.add_secure_port(address, credentials) if credentials
                         else server.add_insecure_port(address))
        set_health(health_servicer, plane)  # NOT_SERVING until a model loads
        _side_ports(app, cfg)
        manager.refresh()
        if not manager.loaded():
            log.warning("no model loaded from %s: every request will get UNAVAILABLE until one appears", cfg.model_dir)
        set_health(health_servicer, plane)
        manager.on_change(lambda: set_health(health_servicer, plane))
        server.start()
        manager.watch(cfg.poll_interval)
    except BaseException:
        app.stop(0)
        raise
    log.info("serving on port %d (models: %s; versions: %s)", app.port,
             ", ".join(f"{s.color.label} v{s.version} on {getattr(s.model, 'runtime', '?')}"
                       for s in manager.loaded()) or "none", describe(version_policy))
    return app


def _grpc_server(cfg: ServerConfig, service: CaptchaService, plane: DataPlane):
    """The gRPC server (not bound, not started) with the service, health and reflection."""
    refused = lambda code_name: plane.count_error(code_name, "grpc")  # noqa: E731
    interceptors = ([BearerTokenInterceptor(cfg.auth_token, refused)] if cfg.auth_token else []) + [DecodeGuard(refused)]
    options = [("grpc.max_receive_message_length", max(MAX_MESSAGE, cfg.max_image_bytes + 65536)),
               ("grpc.max_send_message_length", MAX_MESSAGE),
               ("grpc.max_concurrent_streams", 256)]
    server = grpc.server(ThreadPoolExecutor(cfg.workers, thread_name_prefix="grpc"), interceptors=interceptors,
                         options=options, maximum_concurrent_rpcs=cfg.max_concurrent_rpcs)
    captcha_pb2_grpc.add_CaptchaServiceServicer_to_server(service, server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable([SERVICE_NAME, health.SERVICE_NAME, "grpc.reflection.v1alpha.ServerReflection"], server)
    return server, health_servicer


def _side_ports(app: App, cfg: ServerConfig) -> None:
    """The metrics, plain health and HTTP listeners that ``cfg`` asks for."""
    if cfg.metrics_port:
        from prometheus_client import start_http_server
        app.metrics_http = _bind("--metrics-port", cfg.metrics_port,
                                 lambda: start_http_server(cfg.metrics_port, registry=app.metrics.registry))[0]
        app.metrics_port = cfg.metrics_port
    if cfg.health_port >= 0:
        app.health_server = grpc.server(ThreadPoolExecutor(2, thread_name_prefix="health"))
        health_pb2_grpc.add_HealthServicer_to_server(app.health, app.health_server)
        app.health_port = _bind("--health-port", cfg.health_port, lambda: app.health_server.add_insecure_port(
            f"{cfg.host}:{cfg.health_port}"))
        app.health_server.start()
    if cfg.http_port >= 0:
        app.http = _bind("--http-port", cfg.http_port,
                         lambda: http_api.start(cfg.host, cfg.http_port, app.plane, cfg.auth_token or ""))
        app.http_port = app.http.server_address[1]


def set_health(servicer: health.HealthServicer, plane: DataPlane) -> None:
    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    overall = serving if plane.serving() else not_serving
    for name in ("", SERVICE_NAME):
        servicer.set(name, overall)
    for status in plane.colors():
        servicer.set(color_health_name(status.color), serving if status.loaded else not_serving)
