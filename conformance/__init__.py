"""The conformance suite (installed as ``gtsdk.conformance``)."""
