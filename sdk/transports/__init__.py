"""Client transports behind one interface, and the factory that picks one from a URL.

    grpc://HOST:PORT   gRPC bidirectional stream (protobuf)
    zmq://HOST:PORT    ZeroMQ DEALER socket (msgpack maps), what the engine plugins speak
    ws://HOST:PORT/v1/session   WebSocket (the same msgpack maps), what browsers and web builds of games speak
    local://           a runtime embedded in this process (no sockets; scripts and tests)
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sdk.errors import ConfigError
from sdk.transports.base import Transport

SCHEMES = ("grpc", "zmq", "ws", "local")
DEFAULT_PORTS = {"grpc": 50051, "zmq": 5557, "ws": 8765}


def parse_url(url: str) -> tuple[str, str, int]:
    """'zmq://127.0.0.1:5557' -> ('zmq', '127.0.0.1', 5557); local:// gives ('local', '', 0). A ws:// URL's path
    is /v1/session (or left out)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ConfigError(f"unsupported runtime URL {url!r}: use grpc://HOST:PORT, zmq://HOST:PORT, "
                          f"ws://HOST:PORT/v1/session or local://")
    if parts.scheme == "local":
        return "local", "", 0
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise ConfigError(f"runtime URL {url!r} needs a host and a port, e.g. {parts.scheme}://127.0.0.1:"
                          f"{DEFAULT_PORTS[parts.scheme]}{'/v1/session' if parts.scheme == 'ws' else ''}")
    if parts.scheme == "ws" and parts.path not in ("", "/", "/v1/session"):
        raise ConfigError(f"runtime URL {url!r}: the WebSocket endpoint is /v1/session, e.g. "
                          f"ws://{parts.hostname}:{port}/v1/session")
    return parts.scheme, parts.hostname, port


def open_transport(url: str) -> Transport:
    """The transport for a URL (not yet opened). Raises ConfigError for an unknown scheme."""
    scheme, host, port = parse_url(url)
    if scheme == "grpc":
        from sdk.transports.grpc import GrpcTransport

        return GrpcTransport(host, port)
    if scheme == "zmq":
        from sdk.transports.zmq import ZmqTransport

        return ZmqTransport(host, port)
    if scheme == "ws":
        from sdk.transports.ws import WsTransport

        return WsTransport(host, port)
    from sdk.transports.local import LocalTransport

    return LocalTransport(url)


__all__ = ["Transport", "open_transport", "parse_url", "SCHEMES"]
