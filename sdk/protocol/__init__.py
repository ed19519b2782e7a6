"""The wire protocol (docs/protocol.md): typed messages, the msgpack codec (ZeroMQ), the protobuf codec (gRPC).

Importing this package needs neither torch nor grpc; `proto_codec` imports the generated protobuf code.
"""

from sdk.protocol.messages import DEFAULT_CREDITS, PIXEL_FORMAT, PROTOCOL_VERSION

__all__ = ["DEFAULT_CREDITS", "PIXEL_FORMAT", "PROTOCOL_VERSION"]
