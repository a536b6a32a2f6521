"""Turns titles into URL slugs (written with the script SDK)."""

import csv
import io
import re
import unicodedata
from typing import Literal

from scriptgateway_sdk import output_file, script


@script
def main(
    titles: list[str],
    separator: Literal["-", "_"] = "-",
    max_length: int = 60,
    as_csv: bool = False,
) -> dict:
    """Turns titles into URL slugs.

    Args:
        titles: The titles, as a JSON array of strings
        separator: What joins the words
        max_length: The longest slug, in characters
        as_csv: Also write the pairs to slugs.csv
    """
    slugs = [slug(title, separator, max_length) for title in titles]
    if as_csv:
        text = io.StringIO()
        csv.writer(text).writerows([("title", "slug"), *zip(titles, slugs)])
        output_file("slugs.csv", text.getvalue())
    return {"slugs": slugs}


def slug(title: str, separator: str, max_length: int) -> str:
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return separator.join(words)[:max_length].rstrip(separator)
