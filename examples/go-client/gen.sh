#!/usr/bin/env bash
# Generates the Go stubs from the proto (protoc from grpcio-tools, Go plugins by `go install`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
proto="${PROTO_DIR:-$root/proto}"
python="${PYTHON:-$root/.venv/bin/python}"
export PATH="$(go env GOPATH)/bin:$PATH"
command -v protoc-gen-go >/dev/null || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
command -v protoc-gen-go-grpc >/dev/null || go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
mkdir -p "$here/gen"
"$python" -m grpc_tools.protoc -I"$proto" \
  --plugin=protoc-gen-go="$(command -v protoc-gen-go)" --plugin=protoc-gen-go-grpc="$(command -v protoc-gen-go-grpc)" \
  --go_out="$here" --go_opt=module=github.com/invoice-captcha/captcha-reader \
  --go-grpc_out="$here" --go-grpc_opt=module=github.com/invoice-captcha/captcha-reader \
  captcha/v1/captcha.proto
