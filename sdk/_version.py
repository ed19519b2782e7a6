"""The one version of the project (PEP 440), read by pyproject.toml (setuptools' dynamic version).

`streamdit --version`, the Python SDK's handshake (client_version), the runtime's server_version, the Godot
addon's plugin.cfg and CLIENT_VERSION, and the Unity package's package.json and PackageVersion all carry it;
tests/test_packaging.py checks that they agree. Change it here, then in those engine files.
"""

__version__ = "0.1.0"
