"""gRPC server reflection that also answers method-name look-ups.

Stock Python reflection answers ``file_containing_symbol`` for services and messages but not
for a method such as ``captcha.v1.CaptchaService.Recognize``, which ghz asks for. Here such a
look-up falls back to the enclosing service's file.
"""
from __future__ import annotations

from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc


class MethodAwareReflection(reflection.ReflectionServicer):
    def _file_containing_symbol(self, request, fully_qualified_name):
        response = super()._file_containing_symbol(request, fully_qualified_name)
        if response.HasField("error_response") and "." in fully_qualified_name:
            parent, method = fully_qualified_name.rsplit(".", 1)
            try:
                service = self._pool.FindServiceByName(parent)
            except KeyError:
                return response
            if method in service.methods_by_name:
                return super()._file_containing_symbol(request, parent)
        return response


def enable(service_names, server) -> None:
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(MethodAwareReflection(service_names), server)
