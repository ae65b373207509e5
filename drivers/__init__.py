"""gtsdk's own vendor drivers (installed as ``gtsdk.drivers``).

Each driver lives in its own module or package, keeps its wire codec separate
from its device logic, and registers in the ``gtsdk.drivers`` entry-point group
as ``<module id>.<driver name>``.
"""
