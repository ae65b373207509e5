"""8.4 l) Crop an image (图像处理)."""

import io

from _common import connect
from PIL import Image, ImageDraw

from gtsdk.modules.imaging import OutputFormat, Rect

img = Image.new("RGB", (640, 480), "white")
ImageDraw.Draw(img).rectangle((100, 80, 540, 400), outline="black", width=4)
buf = io.BytesIO()
img.save(buf, "PNG")

with connect() as c:
    out = c.imaging.crop(image=buf.getvalue(), rect=Rect(x=100, y=80, width=440, height=320), format=OutputFormat.PNG)
    print("cropped to", out.width, "x", out.height)
