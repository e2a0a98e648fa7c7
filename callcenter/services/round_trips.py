"""What a service may tell the database layer to save a round trip (callcenter.db carries it out, on PostgreSQL).

Every round trip is a wait for a turn on a busy web process's event loop, and a webhook that appends one event
needs only one: its BEGIN and settings travel with its first statement (db._begin_with_the_first_statement), and
its COMMIT with its last, when the service says which that is.
"""

from __future__ import annotations

# Execution option for a transaction's last statement (`ending_the_transaction`).
ENDS_TRANSACTION = "callcenter_ends_transaction"


def ending_the_transaction(ends: bool = True) -> dict[str, bool]:
    """Execution options for a statement that is the last of its transaction, the session committed right after
    it: on PostgreSQL its COMMIT goes in the statement's own message, and the session's commit then finds nothing
    to send. Nothing may run between the two; a failed statement rolls back as any other. No effect on SQLite."""
    return {ENDS_TRANSACTION: True} if ends else {}
