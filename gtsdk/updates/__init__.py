"""Signed updates on the terminal (clauses 9.1.1.2 a/b/d, 10.2.2 c): bundles, trust, side-by-side install,
switch between transactions, automatic rollback, the allowed-software report and usbguard rules.

* :mod:`~gtsdk.updates.manifest` — what a bundle says about itself (versions, targets, tier, digests);
* :mod:`~gtsdk.updates.bundle` — build, sign and read a bundle (a tar with an SM2-signed manifest);
* :mod:`~gtsdk.updates.trust` — the release keys a terminal trusts, and every check a bundle must pass;
* :mod:`~gtsdk.updates.layout` — the versions on disk and the atomic ``current`` pointer;
* :mod:`~gtsdk.updates.installer` — install side by side, certify, switch, roll back;
* :mod:`~gtsdk.updates.supervisor` — run the service, watch for a crash loop or a health regression;
* :mod:`~gtsdk.updates.inventory` — installed distributions with hashes, flagged when not from a bundle;
* :mod:`~gtsdk.updates.usbguard` — usbguard rules from the terminal's configured devices.

See docs/updates.md.
"""
