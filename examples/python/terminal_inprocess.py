"""The same SDK without the service: drive the simulated terminal in-process."""

from gtsdk.simulated import simulated_terminal

with simulated_terminal(modules=["idcard", "lights"]) as t:
    t.lights.flash(light="idcard")
    t.simulations["idcard"].control("insert", {"card": "resident"})
    card = t.idcard.read(timeout=20)
    print(card.card_type, card.name, t.idcard.status().state)
    t.lights.off(light="idcard")
