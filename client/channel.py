"""Channel options shared by the sync and async clients: TLS, bearer token, retries, and the
balancing over several replicas."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import grpc

RETRYABLE = {grpc.StatusCode.UNAVAILABLE}


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
        target = resolve_target(target)
        return module.secure_channel(target, creds, options) if creds else module.insecure_channel(target, options)

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
        host = address.rsplit(":", 1)[0].strip("[]")
        try:
            families.add(ipaddress.ip_address(host).version)
        except ValueError:
            raise ValueError(f"{address!r}: a list of replicas takes IP addresses (\"10.0.0.7:50051\"); "
                             "for names, give one \"dns:///name:port\" target") from None
    if len(families) > 1:
        raise ValueError("a list of replicas takes addresses of one family (IPv4 or IPv6)")
    return f"ipv{families.pop()}:" + ",".join(replicas)
