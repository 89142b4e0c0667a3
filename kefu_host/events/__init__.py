"""Business events: signed webhooks in, customer updates, live refresh of agents' screens, a broker source."""
