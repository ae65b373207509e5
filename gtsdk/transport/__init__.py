"""Transports shared by drivers: serial (pyserial), and the others as drivers need them."""
