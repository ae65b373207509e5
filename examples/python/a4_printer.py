"""8.4 f) Print a document on the A4 printer and follow the job (A4 彩色打印机)."""

import time

from _common import connect

PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")

with connect() as c:
    job = c.a4_printer.print(document=PDF, format="pdf", sides="two-sided-long-edge", copies=1, timeout=60)
    print("job", job.job_id, job.state)
    for _ in range(60):
        job = c.a4_printer.job_status(job_id=job.job_id)
        if job.state in ("completed", "aborted", "canceled"):
            break
        time.sleep(0.5)
    print("final state:", job.state, job.reasons)
