# The worker behind a Python interpreter session. It speaks line-delimited JSON with the
# gateway on the stdin and stdout it was started with, which it moves away to descriptors of
# its own at once: during a call, descriptors 1 and 2 are the write ends of two pipes that
# capture that call's output (so even a shell started with os.system is captured), and
# between calls /dev/null. A thread reads the pipes as the code writes; a call made with
# "stream" also sends each piece on at once, as {"id", "stream", "text"} lines.
# Standard library only.
import ast
import codecs
import fcntl
import json
import linecache
import os
import select
import signal
import struct
import sys
import termios
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
# Made once (a call cannot fail for want of a pipe), read all the time: what processes the
# code left running write between calls is dropped, as are bytes past a call's limit. The
# read ends are non-blocking and, like every descriptor Python opens, never inherited.
PIPES = (os.pipe(), os.pipe())
for read_end, _ in PIPES:
    os.set_blocking(read_end, False)
NAMES = ("stdout", "stderr")
GATHER = 0.005
# Held to read the pipes, to change the running call's capture and to write to REPLIES: a
# piece of output is never cut by a reply, and the end of a call reads what its code wrote.
LOCK = threading.Lock()
capture = None
# The clean environment sets PYTHONUNBUFFERED, so what the code prints leaves at once;
# should a session's env unset it, a line still leaves when it ends, as on a terminal.
sys.stdout.reconfigure(line_buffering=True)
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


class Capture:
    """One call's output: the first `limit` bytes of each stream, decoded as they come (a
    character split between two reads stays whole) and, for a streaming call, sent on."""

    def __init__(self, call_id, limit, stream):
        self.call_id, self.limit, self.stream = call_id, limit, stream
        self.texts = ([], [])
        self.kept = [0, 0]
        self.cut = False
        self.decoders = [codecs.getincrementaldecoder("utf-8")("replace") for _ in NAMES]

    def take(self, index, data):
        room = self.limit - self.kept[index]
        if len(data) > room:
            self.cut = True
            data = data[:room]
        self.kept[index] += len(data)
        self.add(index, self.decoders[index].decode(data))

    def add(self, index, text):
        if text:
            self.texts[index].append(text)
            if self.stream:
                emit({"id": self.call_id, "stream": NAMES[index], "text": text})

    def finish(self):
        for index in range(len(NAMES)):
            self.add(index, self.decoders[index].decode(b"", True))
        return "".join(self.texts[0]), "".join(self.texts[1]), self.cut


def pour(index, most):
    """Reads at most `most` bytes the pipe holds into the running call's capture (under
    LOCK); the number read, 0 when it is empty."""
    try:
        data = os.read(PIPES[index][0], most)
    except BlockingIOError:
        return 0
    if capture is not None:
        capture.take(index, data)
    return len(data)


def drain(index):
    """Reads what the pipe holds now, not what processes write meanwhile (under LOCK)."""
    held = struct.unpack("i", fcntl.ioctl(PIPES[index][0], termios.FIONREAD, b"\0" * 4))[0]
    while held > 0:
        read = pour(index, held)
        if read == 0:
            break
        held -= read


def read_output():
    ends = [read_end for read_end, _ in PIPES]
    try:
        while True:
            ready, _, _ = select.select(ends, [], [])
            # Output waits up to GATHER to be read in one go: a wake-up, and a hand-over of the
            # interpreter lock, per write of the code would make printing several times slower.
            time.sleep(GATHER)
            with LOCK:
                for index, read_end in enumerate(ends):
                    if read_end in ready:
                        pour(index, 1 << 16)
    except BaseException:
        # Output nobody reads would block the code, or be lost: better a worker that ends.
        os.write(DIAGNOSTICS, traceback.format_exc().encode("utf-8", "replace"))
        os._exit(70)


def begin_capture(command):
    global capture
    with LOCK:
        for index in range(len(NAMES)):
            drain(index)
        limit = int(command.get("max_output", 1 << 20))
        capture = Capture(command["id"], limit, bool(command.get("stream")))


def end_capture():
    """stdout, stderr and whether either was cut; descriptors 1 and 2 are closed by now."""
    global capture
    with LOCK:
        for index in range(len(NAMES)):
            drain(index)
        ended, capture = capture, None
        return ended.finish()


def execute(command):
    global busy
    name = "<cell-%d>" % command["id"]
    reply = {"id": command["id"], "status": "ok", "result": None, "error": None}
    exiting = False
    begin_capture(command)
    os.dup2(PIPES[0][1], 1)
    os.dup2(PIPES[1][1], 2)
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
    reply["stdout"], reply["stderr"], reply["truncated"] = end_capture()
    return reply, exiting


def emit(message):
    """Writes one line to the gateway (under LOCK)."""
    REPLIES.write(json.dumps(message).encode() + b"\n")
    REPLIES.flush()


def send(reply):
    with LOCK:
        emit(reply)


def serve():
    signal.signal(signal.SIGINT, on_interrupt)
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    threading.Thread(target=read_output, daemon=True).start()
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
