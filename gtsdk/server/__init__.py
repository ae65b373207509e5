"""The local HTTPS service on 127.0.0.1:8801 (clauses 8.1–8.3, 9.2, 9.3.3 b).

``gtsdk serve`` runs it; :func:`gtsdk.server.run.build` and
:func:`gtsdk.server.run.start_background` embed it in a program or a test.
"""

from gtsdk.server.app import ServiceApp
from gtsdk.server.config import ServiceConfig, parse_service

__all__ = ["ServiceApp", "ServiceConfig", "parse_service"]
