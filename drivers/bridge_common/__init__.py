"""What the native and HTTP bridges share: the mapping file (YAML with positions), values and
field conversions, the step loop, the worker folder and the per-module driver classes (7.4.4)."""
