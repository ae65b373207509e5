"""8.4 b) Read an exit-entry document over ICAO 9303 (电子出入境证件阅读器)."""

import os

from _common import ServiceError, connect, simulate

with connect() as c:
    c.travel_doc.open()
    simulate("travel_doc", "insert")
    status = c.status("travel_doc")
    mrz = os.environ.get("GTSDK_MRZ") or (status.detail.get("sampleMrz") if status.detail else None)
    try:
        doc = c.travel_doc.read(mrz=mrz, timeout=30_000) if mrz else c.travel_doc.read(timeout=30_000)
    except ServiceError as e:
        raise SystemExit(f"{e.code}: {e.message('en')}") from None
    print(doc.document_type, doc.document_number, doc.surname, doc.given_names, doc.expiry_date)
    print("passive authentication:", doc.passive_auth)
