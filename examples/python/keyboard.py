"""8.4 n) Show the soft keyboard for an ID number field, then hide it (软键盘)."""

from _common import connect

with connect() as c:
    print(c.keyboard.show(layout="idNumber", field="id-number", large=True))
    print(c.keyboard.hide())
