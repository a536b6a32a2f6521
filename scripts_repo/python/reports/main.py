"""Turn a byte count into a human-readable size report with estimated download times.

Part of the "reports" script group: its dependencies come from requirements.txt beside it,
and formatting.py is a plain helper module, not a script.
"""
import argparse
import json
import sys

from formatting import SPEEDS, site_label, summary_line, transfer_seconds  # local helper, stdlib only

ARGS_MAP = {
    "bytes": {"flag": "--bytes", "type": "int", "required": True,
              "help": "Size in bytes, e.g. 734003200"},
    "site": {"flag": "--site", "type": "url", "required": False,
             "help": "Where the file can be downloaded (shown in the report)"},
}


def build_report(size, site):
    # Third-party import inside the function: --_sys_get_schema works before deps are installed.
    try:
        import humanize
    except ImportError:
        print("humanize is not installed: install this script group's dependencies first",
              file=sys.stderr)
        sys.exit(1)

    times = []
    for label, bits_per_second in SPEEDS:
        seconds = transfer_seconds(size, bits_per_second)
        times.append({"connection": label, "seconds": round(seconds, 3),
                      "human": humanize.naturaldelta(seconds)})

    natural = humanize.naturalsize(size)
    return {
        "bytes": size,
        "bytes_grouped": humanize.intcomma(size),
        "size_si": natural,
        "size_binary": humanize.naturalsize(size, binary=True),
        "size_gnu": humanize.naturalsize(size, gnu=True),
        "site": site,
        "download_times": times,
        "summary": summary_line(site_label(site), natural, times[-1]["human"], times[0]["human"]),
    }


def main():
    parser = argparse.ArgumentParser(description="Human-readable size report.")
    parser.add_argument("--bytes", type=int, required=True)
    parser.add_argument("--site")
    args = parser.parse_args()

    if args.bytes < 0:
        print("--bytes must not be negative", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(build_report(args.bytes, args.site)))


if __name__ == "__main__":
    if "--_sys_get_schema" in sys.argv:
        print(json.dumps(ARGS_MAP))
        sys.exit(0)
    main()
