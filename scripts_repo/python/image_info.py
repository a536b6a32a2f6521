"""Inspect an uploaded file: size, MD5, type sniffed from its magic bytes, and PNG dimensions.

Recognises PNG, JPEG, GIF and PDF; anything else is reported as "other".
"""
import argparse
import hashlib
import json
import os
import struct
import sys

ARGS_MAP = {
    "photo": {"flag": "--photo", "type": "file", "required": True,
              "help": "The image (or any file) to inspect"},
}

MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"%PDF-", "pdf"),
]


def sniff(head):
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    return "other"


def png_size(data):
    # The IHDR chunk comes first: 8-byte signature, 4-byte length, b"IHDR", width, height.
    if len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None


def main():
    parser = argparse.ArgumentParser(description="Inspect a file.")
    parser.add_argument("--photo", required=True)
    args = parser.parse_args()

    try:
        with open(args.photo, "rb") as f:
            data = f.read()
    except OSError as e:
        print(f"cannot read {args.photo}: {e.strerror}", file=sys.stderr)
        sys.exit(1)

    result = {
        "filename": os.path.basename(args.photo),
        "size": len(data),
        "md5": hashlib.md5(data).hexdigest(),
        "type": sniff(data[:8]),
    }
    if result["type"] == "png":
        size = png_size(data)
        if size:
            result["width"], result["height"] = size

    print(json.dumps(result))


if __name__ == "__main__":
    if "--_sys_get_schema" in sys.argv:
        print(json.dumps(ARGS_MAP))
        sys.exit(0)
    main()
