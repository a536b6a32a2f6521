"""Helpers for the size report: connection speeds, transfer times and URL labels.

Plain standard-library functions; main.py does the humanizing.
"""
from urllib.parse import urlparse

# (label, bits per second)
SPEEDS = [
    ("3G (2 Mbit/s)", 2_000_000),
    ("4G (20 Mbit/s)", 20_000_000),
    ("Broadband (100 Mbit/s)", 100_000_000),
    ("Fibre (1 Gbit/s)", 1_000_000_000),
]


def transfer_seconds(size_bytes, bits_per_second):
    """Seconds needed to move size_bytes at bits_per_second, ignoring overhead."""
    return size_bytes * 8 / bits_per_second


def site_label(url):
    """A short 'host/file' label for a URL, or None when there is no URL."""
    if not url:
        return None
    parts = urlparse(url)
    name = parts.path.rstrip("/").rsplit("/", 1)[-1]
    return f"{parts.netloc}/{name}" if name else parts.netloc


def summary_line(label, natural_size, fastest, slowest):
    subject = label or "This download"
    return f"{subject} is {natural_size}: {fastest} on fibre, {slowest} on 3G."
