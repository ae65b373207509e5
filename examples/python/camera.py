"""8.4 e) Camera: initialise, take a photo, check liveness, compare with a reference (双目摄像头).

Scores and thresholds come back; the application makes the decision (9.4.1 e).
"""

from _common import ServiceError, connect

with connect() as c:
    c.camera.init()
    photo = c.camera.capture(format="jpeg")
    print("photo:", photo.width, "x", photo.height, photo.quality)
    try:
        live = c.camera.liveness()
        print("liveness score:", round(live.score, 3), "suggested live:", live.suggested_live)
        cmp = c.camera.face_compare(reference=photo.image)
        print("distance:", round(cmp.distance, 3), "threshold:", cmp.threshold, "suggested:", cmp.suggested_match)
    except ServiceError as e:
        print("camera:", e.code, e.message("en"))
