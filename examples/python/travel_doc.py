"""8.4 b) Read an exit-entry document over ICAO 9303 (电子出入境证件阅读器).

BAC needs the MRZ (document number, birth date, expiry date): from the user,
from OCR of the data page (imaging.ocr reads MRZs), or typed by staff.
"""

import os

from _common import ServiceError, connect, simulate

# ICAO Doc 9303 part 4 specimen (TD3); set GTSDK_MRZ for a real document
MRZ = os.environ.get("GTSDK_MRZ") or (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10")

with connect() as c:
    c.travel_doc.open()
    simulate("travel_doc", "insert", mrz=MRZ)
    for attempt in range(3):  # retry what the catalogue marks retryable (a card moved, a noisy line)
        try:
            doc = c.travel_doc.read(mrz=MRZ, timeout=30)
            break
        except ServiceError as e:
            if not e.retryable or attempt == 2:
                raise SystemExit(f"{e.code}: {e.message('en')}") from None
            print(f"{e.code}, trying again")
    print(doc.document_type, doc.document_number, doc.surname, doc.given_names, doc.expiry_date)
    print("passive authentication:", doc.passive_auth)
