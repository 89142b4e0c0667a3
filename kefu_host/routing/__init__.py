"""The routing rules inside the running host: catalogue from plugins, facts, the router, reload, HTTP API."""
