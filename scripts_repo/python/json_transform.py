"""Multiply every number inside a JSON object by a ratio, recursively.

Booleans, strings and nulls are left as they are; integers stay integers when the result is whole.
"""
import argparse
import json
import math
import sys

ARGS_MAP = {
    "options": {"flag": "--options", "type": "json", "required": True,
                "help": 'A JSON object, e.g. {"price": 10, "sizes": [1, 2.5]}'},
    "ratio": {"flag": "--ratio", "type": "float", "required": False, "default": 1.0,
              "help": "Factor applied to every number"},
}


def scale(value, ratio):
    if isinstance(value, bool):  # bool is a subclass of int: leave it alone
        return value
    if isinstance(value, int):
        scaled = value * ratio
        return int(scaled) if scaled.is_integer() else scaled
    if isinstance(value, float):
        return value * ratio
    if isinstance(value, dict):
        return {key: scale(item, ratio) for key, item in value.items()}
    if isinstance(value, list):
        return [scale(item, ratio) for item in value]
    return value


def main():
    parser = argparse.ArgumentParser(description="Scale the numbers in a JSON object.")
    parser.add_argument("--options", required=True)
    parser.add_argument("--ratio", type=float, default=1.0)
    args = parser.parse_args()
    if not math.isfinite(args.ratio):
        print("--ratio must be a finite number", file=sys.stderr)
        sys.exit(2)

    try:
        options = json.loads(args.options)
    except json.JSONDecodeError as e:
        print(f"--options is not valid JSON: {e}", file=sys.stderr)
        sys.exit(2)
    if not isinstance(options, dict):
        print("--options must be a JSON object", file=sys.stderr)
        sys.exit(2)

    print(json.dumps(scale(options, args.ratio)))


if __name__ == "__main__":
    if "--_sys_get_schema" in sys.argv:
        print(json.dumps(ARGS_MAP))
        sys.exit(0)
    main()
