"""The provincial fleet platform (clauses 7.4.1, 7.4.3, 10.1, 10.2): terminals publish their durable records over
MQTT 5 to a broker (bridged city → province), stateless ingest workers on a shared subscription apply them exactly
once to PostgreSQL (or SQLite for a pilot), and the platform serves the management view, signed remote commands and
the export to the national 一体化政务服务平台.  See docs/fleet.md.

Modules: :mod:`~gtsdk.fleet.topics` (topic tree), :mod:`~gtsdk.fleet.pki` (fleet CA),
:mod:`~gtsdk.fleet.broker` (Mosquitto files), :mod:`~gtsdk.fleet.commands` (signed commands),
:mod:`~gtsdk.fleet.agent` (the terminal side), :mod:`~gtsdk.fleet.store` (tables, idempotent apply, queries),
:mod:`~gtsdk.fleet.ingest` (workers), :mod:`~gtsdk.fleet.platform` (the service), :mod:`~gtsdk.fleet.simulate`.
"""

from gtsdk.fleet import errors as errors  # registers the fleet's error codes
