"""Route modules of the service, one per concern: the module contracts, discovery, events, audit, simulators.

Each has ``add_routes(svc)``, which puts its routes into ``svc.routes`` (gtsdk.server.router.Routes).
"""
