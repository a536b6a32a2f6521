# The worker behind a Python interpreter session. It speaks line-delimited JSON with the
# gateway on the stdin and stdout it was started with, which it moves away to descriptors of
# its own at once: during a call, descriptors 1 and 2 are files that capture that call's
# output (so even a shell started with os.system is captured), and between calls /dev/null.
# Standard library only.
import ast
import json
import linecache
import os
import signal
import sys
import tempfile
import threading
import time
import traceback

WORKER_FILE = os.path.abspath(__file__)
COMMANDS = os.fdopen(os.dup(0), "rb")
REPLIES = os.fdopen(os.dup(1), "wb")
# What the worker itself has to say when it fails (the gateway keeps the tail).
DIAGNOSTICS = os.dup(2)
NULL = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(NULL, fd)
# Made once, emptied before each call: a call cannot fail for want of a temporary file.
CAPTURES = (tempfile.TemporaryFile(), tempfile.TemporaryFile())
# Like the REPL: the session's folder comes first on the import path.
sys.path[0] = ""

namespace = {"__name__": "__main__", "__builtins__": __builtins__}
busy = False


def on_interrupt(signum, frame):
    # SIGINT interrupts the user's code only; between calls it is ignored, so a late
    # interrupt cannot break the worker.
    if busy:
        raise KeyboardInterrupt


def watch_parent(parent):
    # The gateway may be killed while code runs: the worker then ends its process group.
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os.killpg(os.getpgid(0), signal.SIGKILL)


def compile_cell(code, name):
    """The cell as statements, and its last statement as an expression when it is one."""
    tree = ast.parse(code, name, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, name, "exec")
    return body, (compile(last, name, "eval") if last is not None else None)


def run_cell(code, name):
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    body, last = compile_cell(code, name)
    exec(body, namespace)
    if last is None:
        return None
    value = eval(last, namespace)
    return None if value is None else repr(value)


def describe(error):
    """name, value and a traceback without the worker's own frames."""
    summary = traceback.extract_tb(error.__traceback__)
    frames = [frame for frame in summary if frame.filename != WORKER_FILE]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(error), error)
    return {"name": type(error).__name__, "value": str(error), "traceback": "".join(lines)}


def read_capped(fd, limit):
    os.lseek(fd, 0, os.SEEK_SET)
    chunks, size = [], 0
    while size <= limit:
        chunk = os.read(fd, limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    return data[:limit].decode("utf-8", "replace"), len(data) > limit


def execute(command):
    global busy
    limit = int(command.get("max_output", 1 << 20))
    name = "<cell-%d>" % command["id"]
    reply = {"id": command["id"], "status": "ok", "result": None, "error": None}
    exiting = False
    out, err = (capture.fileno() for capture in CAPTURES)
    for fd in (out, err):
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
    os.dup2(out, 1)
    os.dup2(err, 2)
    try:
        try:
            busy = True
            reply["result"] = run_cell(command["code"], name)
        finally:
            busy = False
    except KeyboardInterrupt as error:
        reply["status"] = "interrupted"
        reply["error"] = describe(error)
    except SystemExit as error:
        code = error.code
        reply["status"] = "exit"
        reply["exit_code"] = code if isinstance(code, int) else (0 if code is None else 1)
        exiting = True
    except BaseException as error:
        reply["status"] = "error"
        reply["error"] = describe(error)
    finally:
        busy = False
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os.dup2(NULL, 1)
        os.dup2(NULL, 2)
    reply["stdout"], out_cut = read_capped(out, limit)
    reply["stderr"], err_cut = read_capped(err, limit)
    reply["truncated"] = out_cut or err_cut
    return reply, exiting


def send(reply):
    REPLIES.write(json.dumps(reply).encode() + b"\n")
    REPLIES.flush()


def serve():
    signal.signal(signal.SIGINT, on_interrupt)
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    send({"id": 0, "status": "ready", "pid": os.getpid()})
    for line in COMMANDS:
        command = json.loads(line)
        reply, exiting = execute(command)
        send(reply)
        if exiting:
            break
    os._exit(0)


try:
    serve()
except BaseException:
    os.write(DIAGNOSTICS, traceback.format_exc().encode("utf-8", "replace"))
    os._exit(70)
