"""Server configuration: one frozen value built from flags and CAPTCHA_* environment variables."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServerConfig:
    host: str = "[::]"
    port: int = 50051
    model_dir: Path = Path("saved_models")
    max_image_bytes: int = 256 * 1024
    confidence_threshold: float = 0.9
    second_look_views: int = 9
    max_batch: int = 8
    max_wait_ms: float = 0.0
    max_queue: int = 2048
    workers: int = 64
    max_concurrent_rpcs: int = 1024
    poll_interval: float = 2.0
    grace: float = 10.0
    metrics_port: int = 0
    http_port: int = -1
    health_port: int = -1
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    auth_token: str = ""
    tf_threads: int = 0
    runtime: str = "auto"
    precision: str = "f32"
    openvino_threads: int = 0
    version_policy: str = "latest"
    feedback_store: str = ""
    feedback_ttl: float = 600.0
    feedback_max_mb: float = 64.0
    log_level: str = "INFO"

    def batch_policy(self):
        """The batching these settings give each model (``server.batching.BatchPolicy``)."""
        from .batching import BatchPolicy
        return BatchPolicy(self.max_batch, self.max_wait_ms / 1000.0, self.max_queue)


# flag name -> (type, help); the environment variable is CAPTCHA_<NAME>
_FLAGS = {
    "host": (str, "address to bind"),
    "port": (int, "gRPC port; 0 picks a free one (logged)"),
    "model_dir": (Path, "folder of <colour>/<version>/ SavedModels"),
    "max_image_bytes": (int, "largest picture accepted, in bytes"),
    "confidence_threshold": (float, "direct answers below this get a second look: read by the transform route too "
                                    "and, in moved copies, again; the majority wins (0: off)"),
    "second_look_views": (int, "copies each model reads in a second look: the picture, then moved a pixel "
                               "each way (1..9; 1: the picture only, the more confident route wins)"),
    "max_batch": (int, "largest batch per model call"),
    "max_wait_ms": (float, "longest a request waits for others to batch with (0: a batch is whatever queued while the models were busy)"),
    "max_queue": (int, "pictures waiting per model before RESOURCE_EXHAUSTED"),
    "workers": (int, "request threads"),
    "max_concurrent_rpcs": (int, "calls in progress before RESOURCE_EXHAUSTED"),
    "poll_interval": (float, "seconds between scans for new model versions"),
    "grace": (float, "seconds in-flight calls get to finish on SIGTERM"),
    "metrics_port": (int, "Prometheus metrics port (0: off)"),
    "http_port": (int, "port of the seed article's HTTP API (-1: off, 0: any free port)"),
    "health_port": (int, "a plaintext gRPC port serving the health service alone, for probes that cannot speak "
                         "TLS (Kubernetes' gRPC probes) when the main port has --tls-cert (-1: off)"),
    "tls_cert": (str, "server certificate (PEM); with --tls-key enables TLS"),
    "tls_key": (str, "server private key (PEM)"),
    "tls_client_ca": (str, "CA bundle (PEM): when set, clients must present certificates it signed"),
    "auth_token": (str, "bearer token required on every gRPC and HTTP call but health checks (empty: none)"),
    "tf_threads": (int, "TensorFlow threads per op (0: TensorFlow decides, i.e. all cores for the one model whose turn it is; measured fastest with v22 on 2 cores)"),
    "runtime": (str, "auto, openvino or tensorflow: what executes the models (auto: OpenVINO where it is "
                     "installed and the version has a logits signature, else TensorFlow)"),
    "precision": (str, "OpenVINO's precision: f32 (the same answers as TensorFlow); where the CPU computes bf16 natively, "
                       "bf16 (fastest; 99.45%% of v24's answers the same) or mixed (the backbone in bf16, the classifier in f32; "
                       "99.5%% the same); auto (bf16 where native, else f32)"),
    "openvino_threads": (int, "OpenVINO threads per model call (0: OpenVINO decides, every core; 1 spends less CPU per picture under load)"),
    "version_policy": (str, "which version each colour serves: latest, or colour=N pairs, e.g. red=21,blue=latest"),
    "feedback_store": (str, "keep answered pictures for the platform's verdicts (ReportOutcome) and store the "
                            "reported ones in this SQLite file, or in the PostgreSQL database of a postgresql://user:password@host/db "
                            "URL shared by a fleet (empty: nothing is kept)"),
    "feedback_ttl": (float, "seconds an answered picture waits for its verdict"),
    "feedback_max_mb": (float, "memory for answered pictures waiting for their verdict (the oldest go first)"),
    "log_level": (str, "DEBUG, INFO, WARNING or ERROR"),
}


def parse(argv=None) -> ServerConfig:
    defaults = ServerConfig()
    p = argparse.ArgumentParser(prog="python -m server", description="Captcha reading gRPC server. "
                                "Every flag can also be set as CAPTCHA_<FLAG> in the environment.")
    for name, (kind, help_text) in _FLAGS.items():
        env = os.environ.get(f"CAPTCHA_{name.upper()}")
        default = kind(env) if env is not None else getattr(defaults, name)
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default,
                       help=f"{help_text} (default {default}; env CAPTCHA_{name.upper()})")
    args = p.parse_args(argv)
    if not 1 <= args.second_look_views <= 9:
        p.error("--second-look-views must be in 1..9")
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    from .models import RUNTIMES
    from .runtime_openvino import PRECISIONS
    from .versions import VersionPolicy
    if args.runtime not in RUNTIMES:
        p.error(f"--runtime must be one of {', '.join(RUNTIMES)}")
    if args.precision not in PRECISIONS:
        p.error(f"--precision must be one of {', '.join(PRECISIONS)}")
    if args.precision in ("bf16", "mixed") and args.runtime != "tensorflow":
        from .models import openvino_available
        from .runtime_openvino import check_precision
        try:
            if openvino_available():
                check_precision(args.precision)
        except ValueError as exc:  # else every model would quietly go to TensorFlow
            p.error(f"--precision {args.precision}: {exc}; use f32 or auto here")
    if args.openvino_threads < 0:
        p.error("--openvino-threads must be 0 (OpenVINO decides) or more")
    if args.feedback_ttl <= 0 or args.feedback_max_mb <= 0:
        p.error("--feedback-ttl and --feedback-max-mb must be above 0")
    try:
        VersionPolicy.parse(args.version_policy)
    except ValueError as exc:
        p.error(f"--version-policy: {exc}")
    return ServerConfig(**vars(args))
