"""Describe in one sentence what this script does (shown as its description)."""

from scriptgateway_sdk import run, script


@script
def main(name: str, times: int = 1, shout: bool = False) -> dict:
    """Greets someone.

    Each parameter of main is a parameter of the script. Its type hint is its type: str,
    int, float, bool, Literal["a", "b"] or an Enum (a choice), dict or list (JSON), File
    (an upload, received as a path). A default makes it optional. What main returns is
    printed as the run's JSON "data"; an exception becomes an error result.

    Args:
        name: Who to greet
        times: How many times
        shout: Upper-case the greeting
    """
    greeting = f"Hello, {name}!"
    if shout:
        greeting = greeting.upper()
    return {"greetings": [greeting] * times}


if __name__ == "__main__":
    # Only when started by hand (python3 this_file.py --name Ada); the gateway skips it.
    run(main)
