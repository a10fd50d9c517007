"""Unmodified C programs as qfuzz targets (native/rt/README.md)."""
