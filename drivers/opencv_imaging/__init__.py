"""Image processing driver (8.4 l) on OpenCV, with OCR by the ONNX models of rapidocr-onnxruntime."""

from .driver import OpenCvImagingDriver, OpenCvSettings

__all__ = ["OpenCvImagingDriver", "OpenCvSettings"]
