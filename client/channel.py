"""Channel options shared by the sync and async clients: TLS, bearer token, retries."""
from __future__ import annotations

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

    def channel(self, target: str, options, module=grpc):
        """A channel of ``module`` (grpc or grpc.aio): secure when TLS settings are given."""
        creds = self.credentials()
        return module.secure_channel(target, creds, options) if creds else module.insecure_channel(target, options)

    def delay(self, attempt: int) -> float:
        return self.backoff * (2 ** attempt)
