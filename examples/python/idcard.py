"""8.4 a) Read a second-generation ID card (身份证阅读器)."""

from _common import connect, simulate

with connect() as c:
    c.idcard.open()
    simulate("idcard", "insert", card="resident")  # on a real terminal: place the card on the reader
    card = c.idcard.read(timeout=20)
    print(card.card_type, card.name, card.sex, card.birth_date, f"{card.id_number[:6]}********{card.id_number[-4:]}")
    print("photo:", "decoded" if card.photo else card.photo_note or "WLT only")
