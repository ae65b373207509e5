"""Software simulators, one per module (installed as ``gtsdk.simulators``).

``gtsdk.simulators.<module id>`` exposes ``start(workdir) -> Simulation`` (see
:mod:`gtsdk.sim`): it starts a device that speaks the same bytes as the real
hardware and returns the driver name and settings that reach it.
"""
