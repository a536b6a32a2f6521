"""``python -m scriptgateway stubs --url URL -o module.py``."""

import sys

from ._stubs import main as stubs_main


def main() -> int:
    args = sys.argv[1:]
    if not args or args[0] != "stubs":
        print("usage: python -m scriptgateway stubs [--url URL] [--api-key KEY] -o MODULE.py",
              file=sys.stderr)
        return 2
    return stubs_main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
