"""The Jupyter kernel manager the stage notebooks are executed with.

ipykernel warns "Kernel is running over TCP without encryption" whenever it is started without
CurveZMQ keys, which is how papermill starts every kernel. jupyter_client (8.10+) can provision
those keys itself when the kernelspec declares ``supported_encryption: curve`` (ipykernel's
does): :class:`EncryptedKernelManager` turns that on. The kernel still listens on loopback TCP,
now encrypted, and the warning is gone because its cause is. Where pyzmq was built without
libsodium (no CurveZMQ) it falls back to jupyter_client's default and the warning stays, truthfully.
"""

from __future__ import annotations

import zmq
from jupyter_client.manager import AsyncKernelManager
from traitlets import default


class EncryptedKernelManager(AsyncKernelManager):
    """An :class:`AsyncKernelManager` that provisions CurveZMQ keys when kernel and pyzmq support them."""

    @default("transport_encryption")
    def _transport_encryption_default(self) -> str:
        return "auto" if zmq.has("curve") else "disabled"
