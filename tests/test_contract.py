"""The contract and the SDK's surface: generated code is fresh, the client needs no TensorFlow."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_matches_the_proto():
    out = subprocess.run([sys.executable, "scripts/gen_proto.py", "--check"], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr


def test_client_imports_without_tensorflow_or_numpy():
    code = ("import sys, client; import client.__main__; "
            "assert 'tensorflow' not in sys.modules and 'numpy' not in sys.modules, "
            "[m for m in ('tensorflow', 'numpy') if m in sys.modules]")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_public_names_of_the_sdk():
    import client
    assert sorted(client.__all__) == sorted([
        "CaptchaClient", "AsyncCaptchaClient", "Result", "Outcome", "CaptchaError", "InvalidArgument", "Unavailable",
        "Overloaded", "MessageTooLarge", "Unauthenticated", "DeadlineExceeded", "NotFound", "FailedPrecondition",
        "ServerError", "ClientClosed"])
    assert all(issubclass(getattr(client, n), client.CaptchaError)
               for n in client.__all__ if n.endswith(("Argument", "Unavailable", "Overloaded", "Closed", "Large",
                                                      "NotFound", "Precondition")))


def test_every_proto_field_has_a_comment():
    lines = (ROOT / "proto/captcha/v1/captcha.proto").read_text().splitlines()
    import re
    for i, line in enumerate(lines):
        if re.match(r"\s+(repeated\s+)?\w+\s+\w+\s*=\s*\d+;", line) or re.match(r"\s+[A-Z_]+\s*=\s*\d+;", line):
            assert lines[i - 1].strip().startswith("//"), f"line {i + 1} has no comment: {line.strip()}"


def test_package_floors_are_what_the_generated_code_checks_at_import():
    # an SDK installed beside an older grpcio or protobuf would install fine, then fail at import
    import re
    import tomllib
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    floors = dict(re.fullmatch(r"([\w-]+)>=([\d.]+)", d).groups() for d in deps)
    grpc_code = (ROOT / "captcha/v1/captcha_pb2_grpc.py").read_text()
    assert floors["grpcio"] == re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'", grpc_code).group(1)
    pb_code = (ROOT / "captcha/v1/captcha_pb2.py").read_text()
    major, minor, patch = re.search(r"PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+),", pb_code).groups()
    assert floors["protobuf"] == f"{major}.{minor}.{patch}"


def test_a_list_of_replicas_becomes_grpcs_static_address_list():
    import pytest

    from client.channel import resolve_target
    assert resolve_target("localhost:50051") == "localhost:50051"
    assert resolve_target("dns:///captcha-headless:50051") == "dns:///captcha-headless:50051"
    assert resolve_target(["10.0.0.7:50051", "10.0.0.8:50051"]) == "ipv4:10.0.0.7:50051,10.0.0.8:50051"
    assert resolve_target(["[::1]:50051", "[fe80::1]:6000"]) == "ipv6:[::1]:50051,[fe80::1]:6000"
    for bad in ([], ["captcha-0:50051"], ["10.0.0.7:1", "[::1]:2"], ["10.0.0.7"], ["::1:50051"]):
        with pytest.raises(ValueError):
            resolve_target(bad)


def test_tls_to_a_list_of_replicas_names_their_certificate_and_reports_know_every_replica():
    import pytest

    from client.channel import ChannelSettings, replica_addresses
    replicas = ["10.0.0.7:50051", "10.0.0.8:50051"]
    with pytest.raises(ValueError, match="server_name"):
        ChannelSettings(tls=True).channel(replicas, ())
    ChannelSettings(tls=True, server_name="captcha.example").channel(replicas, ()).close()
    assert replica_addresses(replicas) == replicas and replica_addresses("localhost:50051") == []
    assert "127.0.0.1:50051" in replica_addresses("dns:///localhost:50051")
