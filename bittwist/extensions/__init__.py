# -*- test-case-name: tests.test_extensions -*-
"""
Extensions spoken over the extension protocol (BEP 10), each sans-IO: bytes
in, messages out, and back.

  - L{bittwist.extensions.handshake}: the extended handshake and the
    registry of extension ids of a connection (BEP 10);
  - L{bittwist.extensions.ut_metadata}: fetching and serving the metadata
    (the C{info} dictionary) from peers (BEP 9);
  - L{bittwist.extensions.ut_pex}: peer exchange (BEP 11);
  - L{bittwist.extensions.table}: the engine's table of extension handlers.

The framing of the messages (L{bittwist.wire.Extended}) is the peer wire
codec's; the payloads are decoded here.  Every payload comes from a peer, so
every decoder here is bounded and raises L{bittwist.errors.ExtensionError}
for anything it cannot accept.
"""

__all__: list[str] = []
