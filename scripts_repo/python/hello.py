"""Greet someone by name, optionally several times and loudly.

Example: --name Bob --times 2 --loud 1
"""
import argparse
import json
import sys

ARGS_MAP = {
    "name": {"flag": "--name", "type": "str", "required": True, "help": "Who to greet"},
    "times": {"flag": "--times", "type": "int", "required": False, "default": 1,
              "help": "How many greetings (1-100)"},
    "loud": {"flag": "--loud", "type": "bool", "required": False, "default": False,
             "help": "Shout the greeting"},
}


def parse_bool(value):
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {value!r}")


def main():
    parser = argparse.ArgumentParser(description="Greet someone.")
    parser.add_argument("--name", required=True)
    parser.add_argument("--times", type=int, default=1)
    parser.add_argument("--loud", type=parse_bool, default=False)
    args = parser.parse_args()

    if not 1 <= args.times <= 100:
        print("--times must be between 1 and 100", file=sys.stderr)
        sys.exit(2)

    message = f"Hello, {args.name}!"
    if args.loud:
        message = message.upper()
    print(json.dumps({
        "message": message,
        "greetings": [message] * args.times,
        "times": args.times,
        "loud": args.loud,
    }))


if __name__ == "__main__":
    if "--_sys_get_schema" in sys.argv:
        print(json.dumps(ARGS_MAP))
        sys.exit(0)
    main()
