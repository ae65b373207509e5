"""Simulated vendors for the bridge drivers (docs/bridges.md): a native ID-card reader SDK (a C library
built with the system compiler) and a local HTTP/WebSocket middleware with its own JSON."""
