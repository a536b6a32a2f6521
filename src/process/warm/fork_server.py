"""ScriptGateway's fork server for warm Python runs.

One server runs per interpreter and dependency set. It never runs a script itself: it
imports the standard-library and dependency modules that earlier runs of its set imported,
then waits on its socket (file descriptor 0, a SOCK_SEQPACKET socket to the gateway). For
each run the gateway sends one message (JSON, with the run's stdin, stdout and stderr and
its cgroup files attached as descriptors); the server forks a child that becomes exactly
what `python script.py args` started cold would be, and answers with the child's pid, then
with its wait status when it ends. When the gateway goes away, the server kills the process
groups of its children and exits.

Standard library only, and Python 3.9 or newer (socket.recv_fds).
"""

import json
import os
import resource
import selectors
import signal
import socket
import sys

MAX_MESSAGE = 1 << 20
MAX_FDS = 16


def main():
    options = json.loads(sys.argv[1])
    exclude = set(options.get("exclude", []))
    # Where modules worth preloading live: the dependency caches, the standard library and
    # site-packages (never the script's folder, the run's folder or the gateway's helpers).
    options["roots"] = [os.path.join(p, "") for p in sys.path[1:] if p and p not in exclude]
    channel = socket.socket(fileno=0)
    preloaded = preload(options.get("preload", []))
    # Everything loaded now (the interpreter's own start-up included) is never reported.
    options["known"] = {name.partition(".")[0] for name in sys.modules}
    threads = len(os.listdir("/proc/self/task"))
    if threads > 1:
        send(channel, {"refused": "a preloaded module started a thread", "threads": threads})
        return 3
    reports = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    reports.bind("\0" + options["reports"])
    wakeup_r, wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wakeup_w)
    server = Server(channel, reports, wakeup_r, preloaded, options)
    send(channel, {"ready": sorted(preloaded), "pid": os.getpid()})
    return server.serve()


def preload(names):
    loaded = set()
    for name in names:
        try:
            __import__(name)
            loaded.add(name)
        except BaseException:  # a module that fails to import is simply not preloaded
            pass
    return loaded


def send(channel, message):
    channel.send(json.dumps(message).encode())


class Server:
    def __init__(self, channel, reports, wakeup, preloaded, options):
        self.channel = channel
        self.reports = reports
        self.wakeup = wakeup
        self.preloaded = preloaded
        self.options = options
        self.children = {}
        self.selector = selectors.DefaultSelector()
        self.selector.register(channel, selectors.EVENT_READ, self.on_request)
        self.selector.register(reports, selectors.EVENT_READ, self.on_report)
        self.selector.register(wakeup, selectors.EVENT_READ, self.on_signal)

    def serve(self):
        try:
            while True:
                for key, _ in self.selector.select():
                    key.data()
        except GatewayGone:
            for pid in list(self.children):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            return 0

    def on_request(self):
        try:
            data, fds, _, _ = socket.recv_fds(self.channel, MAX_MESSAGE, MAX_FDS)
        except OSError:
            raise GatewayGone()
        if not data:
            raise GatewayGone()
        request = json.loads(data)
        try:
            pid = os.fork()
        except OSError as error:
            close_all(fds)
            send(self.channel, {"id": request["id"], "error": str(error)})
            return
        if pid == 0:
            become_run(request, fds, self)
        close_all(fds)
        try:
            os.setpgid(pid, pid)  # also done by the child: whichever runs first wins the race
        except OSError:
            pass
        self.children[pid] = request["id"]
        send(self.channel, {"id": request["id"], "pid": pid})

    def on_report(self):
        try:
            data = self.reports.recv(MAX_MESSAGE)
            names = json.loads(data)
        except (OSError, ValueError):
            return
        if isinstance(names, list):
            fresh = sorted({n for n in names if isinstance(n, str)} - self.options["known"])
            if fresh:
                send(self.channel, {"imports": fresh})

    def on_signal(self):
        try:
            while os.read(self.wakeup, 512):
                pass
        except BlockingIOError:
            pass
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run = self.children.pop(pid, None)
            if run is not None:
                send(self.channel, {"id": run, "status": status})


class GatewayGone(Exception):
    pass


def close_all(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def become_run(request, fds, server):
    """In the forked child: enter the run's enclosure as a cold start would, then run the
    script as `__main__`. Never returns."""
    code = 1
    try:
        enter(request, fds)
        code = run_script(request)
    except BaseException as error:  # the enclosure could not be entered: say why, fail
        try:
            os.write(2, ("ScriptGateway warm start failed: %s\n" % error).encode())
        except OSError:
            pass
        os._exit(127)
    report_imports(server)
    os._exit(code)


def enter(request, fds):
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setpgid(0, 0)
    stdio, joins = fds[:3], fds[3:]
    for fd, target in zip(stdio, (0, 1, 2)):
        os.dup2(fd, target)
    os.chdir(request["cwd"])
    for fd in joins:
        os.write(fd, b"0")
    for which, soft, hard in request["rlimits"]:
        resource.setrlimit(which, (soft, hard))
    show_as_started(request)
    user = request.get("user")
    if user is not None:
        import ctypes

        pr_set_no_new_privs = 38
        if ctypes.CDLL(None, use_errno=True).prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        os.setgroups([])
        os.setgid(user["gid"])
        os.setuid(user["uid"])
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    os.closerange(3, max_fd())
    os.environ.clear()
    os.environ.update(request["env"])


def show_as_started(request):
    """Writes the run's command line over the server's own in memory, so /proc/PID/cmdline
    (what `ps` and the gateway's tools read) shows the run as a cold start would, without
    any privilege. The gateway starts the server with a padded last argument to make room;
    a longer command line is cut short there. (/proc/PID/environ keeps the server's.)"""
    import ctypes

    fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
    arg_start, arg_end = int(fields[45]), int(fields[46])  # fields 48 and 49 of stat
    room = arg_end - arg_start
    argv = [request["program"]] + request["argv"]
    data = b"".join(os.fsencode(item) + b"\0" for item in argv)[: room - 1]
    ctypes.memmove(arg_start, data.ljust(room, b"\0"), room)


def max_fd():
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def run_script(request):
    """What `python SCRIPT ARGS` does after start-up; returns the exit code."""
    import types

    script = request["argv"][0]
    sys.argv = list(request["argv"])
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    forget_cached_state()
    main = types.ModuleType("__main__")
    main.__file__ = script
    main.__cached__ = None
    main.__builtins__ = __builtins__
    from importlib.machinery import SourceFileLoader

    main.__loader__ = SourceFileLoader("__main__", script)
    sys.modules["__main__"] = main
    try:
        with open(script, "rb") as source:
            code = compile(source.read(), script, "exec", dont_inherit=True)
        exec(code, main.__dict__)
        status = 0
    except SystemExit as stop:
        status = exit_code(stop)
    except KeyboardInterrupt:
        print_exception()
        status = -signal.SIGINT
    except BaseException:
        print_exception()
        status = 1
    return finish(status)


def forget_cached_state():
    """Values a preloaded module computed from the server's environment, computed again."""
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None
    random = sys.modules.get("random")
    if random is not None:
        random.seed()


def exit_code(stop):
    code = stop.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(str(code) + "\n")
    except Exception:
        pass
    return 1


def print_exception():
    kind, value, trace = sys.exc_info()
    # The first frame is this server's `exec`; a cold run's traceback starts in the script.
    trace = trace.tb_next if trace is not None else None
    if value is not None:
        value = value.with_traceback(trace)
    sys.excepthook(kind, value, trace)


def finish(status):
    """The interpreter's own shutdown: non-daemon threads, atexit handlers, flushed stdio."""
    import atexit
    import threading

    try:
        threading._shutdown()
    except BaseException:
        pass
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            status = status or 120
    if status == -signal.SIGINT:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        status = 130
    return status


def report_imports(server):
    """Tells the server which top-level modules this run imported from outside the script's
    own folder, so the next server of this dependency set can preload them."""
    roots = tuple(server.options["roots"])
    names = set()
    for name, module in list(sys.modules.items()):
        if "." in name or name in server.options["known"] or name == "__main__":
            continue
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.startswith(roots):
            names.add(name)
    if not names:
        return
    try:
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sender.sendto(json.dumps(sorted(names)).encode(), "\0" + server.options["reports"])
        sender.close()
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
