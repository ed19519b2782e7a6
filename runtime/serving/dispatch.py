"""One decoded client message on an asyncio server (gRPC and WebSocket): auth pacing, then handling.

The ZeroMQ server runs its own loop (a timer queue instead of a sleep), so it paces auth itself; the two asyncio
servers share this. Messages that may encode a prompt (SLOW_TYPES) run off the event loop, in the default
executor, so that one session's prompt encoding never stalls another's reads.
"""

from __future__ import annotations

import asyncio

from runtime.serving.connection import Connection
from runtime.serving.guard import AuthGuard
from sdk.errors import StreamDiTError
from sdk.protocol import messages as m

SLOW_TYPES = (m.Handshake, m.Event, m.SetPrompt)  # may encode a prompt: run off the event loop


async def dispatch(conn: Connection, msg: object, guard: AuthGuard) -> bool:
    """Handle one decoded message of `conn`; returns True when its stream must end (the outbox finished, e.g. a
    refused handshake or a close). A peer with repeated auth failures first waits its turn (`guard`); a message
    refused by the auth check is answered with its error and the stream goes on. Raises nothing of its own."""
    try:
        delay = conn.auth_delay(msg)
    except StreamDiTError as e:
        conn.reject(e, msg)
        return False
    if delay > 0:  # a peer with repeated auth failures waits its turn; nobody else does
        await asyncio.sleep(delay)
        guard.done(conn.peer)
    if isinstance(msg, SLOW_TYPES):
        await asyncio.get_running_loop().run_in_executor(None, conn.handle, msg)
    else:
        conn.handle(msg)
    return conn.outbox.finished
