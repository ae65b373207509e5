"""Typed Python client of the local service (httpx; sync and async; events with resume).

```python
from gtsdk.client import Client

with Client(token="gts_…") as c:            # https://127.0.0.1:8801, CA from the gtsdk home
    c.idcard.open()
    card = c.idcard.read(timeout=20)        # seconds -> gtsdk.modules.idcard.IdCardData
    for ev in c.events(["idcard"]):         # reconnects and resumes from the last seq
        print(ev.seq, ev.module, ev.type)
```

``c.<module>`` is a typed facade (:mod:`gtsdk.facade`): a misspelt module, operation,
argument or result field fails type checking.  Every ``timeout`` is in seconds; the wire
carries milliseconds (docs/service.md).  Failures raise :class:`ServiceError` carrying the
catalogue code, the localised message and the request id.

For an app with a recipient key the service seals personal-data results (9.3.2): call
``read_sealed()`` (any ``<op>_sealed``) for the :class:`~gtsdk.wire.SealedData` and
:func:`open_sealed` it with the key; ``read()`` then fails with ``sealingMismatch`` instead of
returning a different shape.

Business transactions (办件, docs/records.md): ``with c.transaction("social") as txn:`` — the
block's calls carry ``X-Transaction-Id`` and the block ends the transaction as completed, or as
failed with the error's code (:mod:`gtsdk.client.transactions`).

Needs only the base install plus httpx and websockets (``pip install gtsdk[client]``), not
the server's dependencies.
"""

from gtsdk.client._common import DEFAULT_URL, ServiceError, ssl_context
from gtsdk.client.aio import AsyncClient
from gtsdk.client.sealed import open_sealed
from gtsdk.client.sync import Client, GapHandler
from gtsdk.client.transactions import AsyncTransaction, Transaction
from gtsdk.runtime.events import Event
from gtsdk.wire import SealedData

__all__ = ["DEFAULT_URL", "AsyncClient", "AsyncTransaction", "Client", "Event", "GapHandler", "SealedData",
           "ServiceError", "Transaction", "open_sealed", "ssl_context"]
