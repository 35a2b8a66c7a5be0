"""The Relay `Node` interface: uploads, documents and pages share one id space (UUIDs)."""

from __future__ import annotations

import strawberry


@strawberry.interface(description="An object with an id unique across every type (Relay)")
class Node:
    id: strawberry.ID
