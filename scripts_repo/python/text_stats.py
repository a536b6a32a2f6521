"""Count characters, words, lines and the most frequent words of a text.

With --format csv the word counts are also written to stats.csv (a downloadable file).
"""
import argparse
import csv
import json
import re
import sys
from collections import Counter

ARGS_MAP = {
    "text": {"flag": "--text", "type": "str", "required": True, "help": "The text to analyse"},
    "top": {"flag": "--top", "type": "int", "required": False, "default": 5,
            "help": "How many of the most frequent words to list"},
    "format": {"flag": "--format", "type": "choice", "choices": ["json", "csv"],
               "required": False, "default": "json",
               "help": "csv also writes every word count to stats.csv"},
}

WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


def main():
    parser = argparse.ArgumentParser(description="Text statistics.")
    parser.add_argument("--text", required=True)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--format", choices=["json", "csv"], default="json")
    args = parser.parse_args()

    text = args.text
    words = [w.lower() for w in WORD.findall(text)]
    counts = Counter(words)
    result = {
        "characters": len(text),
        "characters_no_spaces": sum(1 for c in text if not c.isspace()),
        "words": len(words),
        "unique_words": len(counts),
        "lines": len(text.splitlines()),
        "sentences": len(re.findall(r"[^.!?]*[.!?]+", text)) or (1 if words else 0),
        "average_word_length": round(sum(map(len, words)) / len(words), 2) if words else 0,
        "top_words": [{"word": w, "count": n} for w, n in counts.most_common(max(args.top, 0))],
    }

    if args.format == "csv":
        with open("stats.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["word", "count"])
            writer.writerows(counts.most_common())
        result["file"] = "stats.csv"

    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    if "--_sys_get_schema" in sys.argv:
        print(json.dumps(ARGS_MAP))
        sys.exit(0)
    main()
