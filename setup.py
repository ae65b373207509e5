"""Maps the design's top-level folders into the gtsdk namespace.

``drivers/`` installs as ``gtsdk.drivers`` (likewise simulators/, conformance/),
so no bare ``drivers`` package ever lands in site-packages.  Everything else is
in pyproject.toml.
"""

from setuptools import find_packages, setup

NAMESPACED = {"drivers": "gtsdk.drivers", "simulators": "gtsdk.simulators", "conformance": "gtsdk.conformance"}

packages = find_packages(include=["gtsdk", "gtsdk.*"])
package_dir = {"gtsdk": "gtsdk"}
for folder, name in NAMESPACED.items():
    packages.append(name)
    package_dir[name] = folder
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=package_dir)
