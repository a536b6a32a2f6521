"""Describe in one sentence what this script does (shown as its description)."""

import argparse
import json
import sys

# The parameters of this script. Types: str, int, float, bool, file, choice, json, url.
ARGS_MAP = {
    "name": {"flag": "--name", "type": "str", "required": True, "help": "Who to greet"},
    "times": {"flag": "--times", "type": "int", "default": 1, "help": "How many times"},
    "shout": {"flag": "--shout", "type": "bool", "default": False, "help": "Upper-case the greeting"},
}


def as_bool(text):
    return str(text).strip().lower() in ("1", "true", "yes", "on")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--times", type=int, default=1)
    parser.add_argument("--shout", type=as_bool, default=False)
    args = parser.parse_args()

    greeting = f"Hello, {args.name}!"
    if args.shout:
        greeting = greeting.upper()
    # Print exactly one JSON value: it becomes the run's "data".
    print(json.dumps({"greetings": [greeting] * args.times}))


if __name__ == "__main__":
    if "--_sys_get_schema" in sys.argv:
        print(json.dumps(ARGS_MAP))
        sys.exit(0)
    main()
