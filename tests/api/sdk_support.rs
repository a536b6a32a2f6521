//! Fixture scripts for the SDK tests: the same parameters written with the SDK and by hand,
//! in Python and in JavaScript.

use serde_json::{json, Value};

/// Every type the Python SDK maps, echoed back with the Python type each value arrived as.
pub const PY_EVERY_TYPE: &str = r#"import enum
from pathlib import Path
from typing import Annotated, Literal, Optional

from scriptgateway_sdk import File, script


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@script
def main(
    name: str,
    count: int = 2,
    ratio: float = 0.5,
    loud: bool = False,
    fmt: Literal["json", "csv"] = "json",
    color: Color = Color.RED,
    options: dict = {"a": 1},
    tags: list[str] | None = None,
    photo: Optional[File] = None,
    note: Annotated[str, "A free note"] = "",
    level: Optional[int] = None,
) -> dict:
    """Echoes every parameter with its Python type.

    Longer text that is not the description.

    Args:
        name: Who is asking
        count (int): How many
            times, at most ten.
    """
    values = dict(locals())
    return {key: {"value": value, "type": type(value).__name__} for key, value in values.items()}
"#;

/// The ARGS_MAP the SDK infers for [`PY_EVERY_TYPE`].
pub fn every_type_schema() -> Value {
    json!({
        "name": {"flag": "--name", "type": "str", "required": true, "help": "Who is asking"},
        "count": {"flag": "--count", "type": "int", "default": 2, "help": "How many times, at most ten."},
        "ratio": {"flag": "--ratio", "type": "float", "default": 0.5},
        "loud": {"flag": "--loud", "type": "bool", "default": false},
        "fmt": {"flag": "--fmt", "type": "choice", "choices": ["json", "csv"], "default": "json"},
        "color": {"flag": "--color", "type": "choice", "choices": ["red", "blue"], "default": "red"},
        "options": {"flag": "--options", "type": "json", "default": {"a": 1}},
        "tags": {"flag": "--tags", "type": "json"},
        "photo": {"flag": "--photo", "type": "file"},
        "note": {"flag": "--note", "type": "str", "default": "", "help": "A free note"},
        "level": {"flag": "--level", "type": "int"}
    })
}

/// A greeting written with the SDK; [`greet_schema`] is the same parameters by hand.
pub const PY_GREET_SDK: &str = r#"from typing import Literal

from scriptgateway_sdk import script


@script
def main(name: str, times: int = 1, lang: Literal["en", "fr"] = "en", loud: bool = False):
    """Greets someone.

    Args:
        name: Who to greet
        times: How many greetings
    """
    word = "Bonjour" if lang == "fr" else "Hello"
    message = f"{word}, {name}!"
    return {"greetings": [message.upper() if loud else message] * times}
"#;

/// The hand-written ARGS_MAP of [`PY_GREET_SDK`] (and of [`JS_GREET_SDK`]).
pub fn greet_schema() -> Value {
    json!({
        "name": {"flag": "--name", "type": "str", "required": true, "help": "Who to greet"},
        "times": {"flag": "--times", "type": "int", "default": 1, "help": "How many greetings"},
        "lang": {"flag": "--lang", "type": "choice", "choices": ["en", "fr"], "default": "en"},
        "loud": {"flag": "--loud", "type": "bool", "default": false}
    })
}

/// Takes an upload and writes two output files.
pub const PY_UPLOAD: &str = r#"from pathlib import Path

from scriptgateway_sdk import File, log, output_file, script


@script
def main(photo: File, label: str = "copy") -> dict:
    """Copies an upload."""
    log("copying", label)
    out = output_file(f"{label}.bin", photo.read_bytes())
    output_file("note.txt", "héllo")
    return {"is_path": isinstance(photo, Path), "size": photo.stat().st_size,
            "out": out.name, "cwd_file": out.parent == Path.cwd()}
"#;

/// A plain `main` (no SDK import) that raises.
pub const PY_FAILS: &str = r#"def main(n: int = 1):
    raise ValueError(f"bad n {n}")
"#;

/// An async `main`.
pub const PY_ASYNC: &str = r#"import asyncio

from scriptgateway_sdk import script


@script
async def main(delay_ms: int = 1) -> dict:
    await asyncio.sleep(delay_ms / 1000)
    return {"slept": delay_ms, "module": __name__}
"#;

/// A script with a local-testing block and a sibling module.
pub const PY_LOCAL: &str = r#"import helper_mod
from scriptgateway_sdk import run, script


@script
def main(x: int = 1):
    return {"double": helper_mod.double(x), "module": __name__, "file": __file__}


if __name__ == "__main__":
    print("LOCAL TESTING BLOCK RAN")
    run(main)
"#;

/// The explicit escape hatches: a module `ARGS_MAP` and `@script(params=...)`.
pub const PY_EXPLICIT: &str = r#"from scriptgateway_sdk import script

ARGS_MAP = {"site": {"type": "url", "help": "A page"}}


@script(params={"mode": {"help": "How"}})
def main(site: str, mode: str = "fast"):
    return {"site": site, "mode": mode}
"#;

/// Every type the JS SDK passes, in CommonJS with a sync `main`.
pub const JS_EVERY_TYPE: &str = r#"const fs = require('node:fs');
const { script, outputFile, log } = require('scriptgateway-sdk');

script({
  description: 'Echoes every parameter with its JS type',
  params: {
    name: { type: 'str', required: true, help: 'Who is asking' },
    count: { type: 'int', default: 2 },
    ratio: { type: 'float', default: 0.5 },
    loud: { type: 'bool', default: false },
    fmt: { type: 'choice', choices: ['json', 'csv'], default: 'json' },
    options: { type: 'json', default: { a: 1 } },
    photo: { type: 'file' },
    site: { type: 'url' },
  },
  main(args) {
    const out = {};
    for (const [key, value] of Object.entries(args)) out[key] = { value, type: typeof value };
    if (args.photo) out.photo.size = fs.statSync(args.photo).size;
    outputFile('echo.txt', 'abc');
    log('echoed', args.name);
    return out;
  },
});
"#;

/// The same greeting as [`PY_GREET_SDK`], as an ES module with an async `main`.
pub const JS_GREET_SDK: &str = r#"import { script } from 'scriptgateway-sdk';

script({
  params: {
    name: { type: 'str', required: true, help: 'Who to greet' },
    times: { type: 'int', default: 1, help: 'How many greetings' },
    lang: { type: 'choice', choices: ['en', 'fr'], default: 'en' },
    loud: { type: 'bool', default: false },
  },
  async main({ name, times, lang, loud }) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    const message = `${lang === 'fr' ? 'Bonjour' : 'Hello'}, ${name}!`;
    return { greetings: Array(times).fill(loud ? message.toUpperCase() : message) };
  },
});
"#;

/// An ES module whose `main` throws.
pub const JS_FAILS: &str = r#"import { script } from 'scriptgateway-sdk';

script({
  params: { n: { type: 'int', default: 1 } },
  async main({ n }) {
    throw new RangeError(`bad n ${n}`);
  },
});
"#;
