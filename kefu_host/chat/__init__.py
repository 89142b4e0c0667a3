"""Conversations between visitors and agents: sockets, storage, routing, assignment, delivery."""
