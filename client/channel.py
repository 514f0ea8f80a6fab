"""Channel options shared by the sync and async clients: TLS, bearer token, retries, and the
balancing over several replicas."""
from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

import grpc

from captcha.v1 import captcha_pb2_grpc as pb_grpc

RETRYABLE = {grpc.StatusCode.UNAVAILABLE}
#: what a call that only reads (a repeat is harmless) is also retried on: a replica that is shutting
#: down cancels the calls it received but had not started (a call that the client's own close()
#: cancelled is not retried)
RETRYABLE_READS = RETRYABLE | {grpc.StatusCode.CANCELLED}


def retryable(reads_only: bool):
    return RETRYABLE_READS if reads_only else RETRYABLE


@dataclass(frozen=True)
class ChannelSettings:
    timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.05
    tls: bool = False
    root_certificates: bytes | None = None
    private_key: bytes | None = None
    certificate_chain: bytes | None = None
    token: str | None = None
    server_name: str | None = None  # the name in the replicas' certificate (TLS to a list of IPs)

    def metadata(self):
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def credentials(self):
        if not (self.tls or self.root_certificates or self.certificate_chain):
            return None
        return grpc.ssl_channel_credentials(self.root_certificates, self.private_key, self.certificate_chain)

    def channel(self, target, options, module=grpc):
        """A channel of ``module`` (grpc or grpc.aio) to ``target`` (see ``resolve_target``),
        balancing round-robin over every address it resolves to: secure when TLS settings are given."""
        options = list(options)
        if not any(name == "grpc.lb_policy_name" for name, _ in options):
            options.append(("grpc.lb_policy_name", "round_robin"))
        creds = self.credentials()
        resolved = resolve_target(target)
        if creds and self.server_name:
            options += [("grpc.ssl_target_name_override", self.server_name),
                        ("grpc.default_authority", self.server_name)]
        elif creds and resolved.startswith(("ipv4:", "ipv6:")) and "," in resolved:
            raise ValueError("TLS to a list of replicas needs server_name= (the name their certificate holds)")
        return module.secure_channel(resolved, creds, options) if creds else module.insecure_channel(resolved, options)

    def delay(self, attempt: int) -> float:
        return self.backoff * (2 ** attempt)


def resolve_target(target) -> str:
    """gRPC's target for ``target``: a string as gRPC takes it ("host:port", "dns:///name:port",
    whose every address is used), or a list of "ip:port" replicas (one address family), which
    becomes gRPC's static "ipv4:" or "ipv6:" list."""
    if isinstance(target, str):
        return target
    replicas = list(target)
    if not replicas:
        raise ValueError("no address to call: give \"host:port\" or a list of \"ip:port\"")
    families = set()
    for address in replicas:
        found = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d{1,5})", str(address))
        try:
            families.add(ipaddress.ip_address(found.group(1).strip("[]")).version)
        except (AttributeError, ValueError):
            raise ValueError(f"{address!r}: a list of replicas takes \"ip:port\" (\"10.0.0.7:50051\", "
                             "\"[fd00::7]:50051\"); for names, give one \"dns:///name:port\" target") from None
    if len(families) > 1:
        raise ValueError("a list of replicas takes addresses of one family (IPv4 or IPv6)")
    return f"ipv{families.pop()}:" + ",".join(replicas)


def replica_addresses(target) -> list[str]:
    """The "ip:port" of every replica behind ``target``: the list itself, or what a
    "dns:///name:port" resolves to now; [] for a single "host:port" (one replica)."""
    if not isinstance(target, str):
        return list(target)
    if not target.startswith("dns:"):
        return []
    host, port = target.split("/")[-1].rsplit(":", 1)
    found = {info[4][0] for info in socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)}
    return sorted(f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}" for ip in found)


class Replicas:
    """A stub per replica behind a target (``replica_addresses``), made when first asked for:
    where a report goes when the balanced channel's pick does not know the answer (an answer
    waits for its verdict on the replica that gave it)."""

    def __init__(self, settings: ChannelSettings, target, options, module):
        self._settings, self._target, self._options, self._module = settings, target, options, module
        self.channels: dict[str, object] = {}
        self._stubs: dict[str, object] = {}

    def stubs(self):
        for address in replica_addresses(self._target):
            if address not in self._stubs:
                self.channels[address] = self._settings.channel(address, self._options, self._module)
                self._stubs[address] = pb_grpc.CaptchaServiceStub(self.channels[address])
            yield self._stubs[address]
