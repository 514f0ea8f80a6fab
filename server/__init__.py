"""The captcha reading service.

The core (``errors``, ``models``, ``repository``, ``batching``, ``routing``) imports no grpc;
``service`` and ``main`` put it on the wire.
"""
