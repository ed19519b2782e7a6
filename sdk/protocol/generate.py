"""Regenerate the committed protobuf and gRPC code from proto/streamdit/v1/runtime.proto.

    python -m sdk.protocol.generate          # rewrite sdk/protocol/pb/runtime_pb2*.py
    python -m sdk.protocol.generate --check  # exit 1 when the committed code is stale

grpc_tools writes `from streamdit.v1 import runtime_pb2`; inside the sdk package that import becomes
`from sdk.protocol.pb import runtime_pb2` (the one edit made to the generated text).
"""

from __future__ import annotations

import ast
import re
import sys
import tempfile
from pathlib import Path

from sdk.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent / "pb"
PROTO_ROOT = Path(__file__).resolve().parents[2] / "proto"
PROTO_FILE = "streamdit/v1/runtime.proto"
OUTPUTS = ("runtime_pb2.py", "runtime_pb2_grpc.py")


def generate(proto_root: Path = PROTO_ROOT) -> dict[str, str]:
    """Run grpc_tools.protoc on the schema; returns {file name: generated text}. Raises ConfigError."""
    from grpc_tools import protoc

    if not (proto_root / PROTO_FILE).exists():
        raise ConfigError(f"{proto_root / PROTO_FILE} not found: run from a source checkout of the project")
    with tempfile.TemporaryDirectory() as out:
        rc = protoc.main(["protoc", f"-I{proto_root}", f"--python_out={out}", f"--grpc_python_out={out}",
                          str(proto_root / PROTO_FILE)])
        if rc != 0:
            raise ConfigError(f"grpc_tools.protoc failed with exit code {rc} on {proto_root / PROTO_FILE}")
        texts = {name: (Path(out) / "streamdit/v1" / name).read_text() for name in OUTPUTS}
    texts["runtime_pb2_grpc.py"] = texts["runtime_pb2_grpc.py"].replace(
        "from streamdit.v1 import runtime_pb2", "from sdk.protocol.pb import runtime_pb2")
    return texts


def _descriptor(text: str) -> bytes:
    """The serialized FileDescriptorProto a generated runtime_pb2.py registers."""
    for line in text.splitlines():
        if "AddSerializedFile(" in line:
            return ast.literal_eval(line[line.index("AddSerializedFile(") + len("AddSerializedFile("):line.rindex(")")])
    raise ConfigError("no AddSerializedFile(...) line in the generated runtime_pb2.py")


def _without_version_stamps(text: str) -> str:
    """Generated gRPC code minus the lines that only name the generator's version."""
    return "\n".join(ln for ln in text.splitlines() if not re.search(r"GENERATED_VERSION = |Python Version:", ln))


def stale_files(proto_root: Path = PROTO_ROOT) -> list[str]:
    """Names of the committed generated files that differ in substance from a fresh generation.

    runtime_pb2.py is compared by the schema it registers (so a newer grpc_tools that formats the file
    differently is not "stale"); runtime_pb2_grpc.py by its text without version stamps.
    """
    from google.protobuf import descriptor_pb2

    fresh = generate(proto_root)
    stale = []
    for name, text in fresh.items():
        path = PACKAGE_DIR / name
        if not path.exists():
            stale.append(name)
            continue
        old = path.read_text()
        if name == "runtime_pb2.py":
            a, b = descriptor_pb2.FileDescriptorProto(), descriptor_pb2.FileDescriptorProto()
            a.ParseFromString(_descriptor(old))
            b.ParseFromString(_descriptor(text))
            same = a == b
        else:
            same = _without_version_stamps(old) == _without_version_stamps(text)
        if not same:
            stale.append(name)
    return stale


def main(argv: list[str]) -> int:
    if "--check" in argv:
        stale = stale_files()
        for name in stale:
            print(f"stale: sdk/protocol/pb/{name} (run python -m sdk.protocol.generate)", file=sys.stderr)
        return 1 if stale else 0
    for name, text in generate().items():
        (PACKAGE_DIR / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
