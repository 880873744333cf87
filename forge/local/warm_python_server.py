"""The pre-warmed Python behind forge.local.launcher: import the ML stack once, fork a process per job.

Run as a script (``python warm_python_server.py MODULE...``), never imported by the runner. It imports the
given modules, says ``{"ready": ...}`` on stdout, then reads one JSON request per line on stdin:

    {"id": 1, "argv": [python, script, args...], "env": {...}, "cwd": "...", "log": "..."}

and for each forks a child that becomes what ``python script args...`` would be: its own session (as
``start_new_session``), that cwd and environment, stdout+stderr appended to the log, ``sys.path`` rebuilt
as the interpreter builds it for a script (script dir, PYTHONPATH, then the installation's paths), and the
script run as ``__main__``. Replies: ``{"id": 1, "pid": N}``, later ``{"pid": N, "exit": code}`` (negative:
killed by that signal, as subprocess reports it). EOF on stdin ends the server. It stays single-threaded,
so a fork never copies a lock held by another thread.
"""

from __future__ import annotations

import gc
import importlib
import io
import json
import os
import select
import signal
import sys
import time
import traceback

OWN_DIR = os.path.dirname(os.path.abspath(__file__))
# The installation's paths (stdlib, site-packages) as this interpreter found them, minus this script's dir.
BASE_PATH = [p for p in sys.path if os.path.abspath(p or ".") != OWN_DIR]


# Replies go to a private copy of stdout; fd 1 itself is pointed at stderr (in main), so a module that
# prints while being imported cannot corrupt the protocol.
PROTOCOL_FD: int | None = None


def send(message: dict) -> None:
    os.write(PROTOCOL_FD, (json.dumps(message) + "\n").encode())


def text_stream(fd: int, errors: str, env: dict) -> io.TextIOWrapper:
    """sys.stdout/stderr as a fresh interpreter opens them on a file: unbuffered under PYTHONUNBUFFERED."""
    if env.get("PYTHONUNBUFFERED"):
        raw = open(fd, "wb", buffering=0, closefd=False)
        return io.TextIOWrapper(raw, encoding="utf-8", errors=errors, write_through=True)
    return open(fd, "w", encoding="utf-8", errors=errors, closefd=False)


def run_child(request: dict) -> None:
    """In the forked child: become ``python script args...`` and exit with its status. Never returns."""
    code = 1
    try:
        os.setsid()
        # A fresh interpreter's dispositions (SIGPIPE stays ignored, as Python sets it).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.close(PROTOCOL_FD)  # the job has no business with the runner's pipe
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(devnull)
        sys.stdout = text_stream(1, "strict", request["env"])
        sys.stderr = text_stream(2, "backslashreplace", request["env"])
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        script = os.path.abspath(request["argv"][1])
        extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[:] = [os.path.dirname(script), *extra, *BASE_PATH]
        sys.argv = [request["argv"][1], *request["argv"][2:]]
        import runpy

        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exit_request:
            if exit_request.code is None or isinstance(exit_request.code, int):
                code = exit_request.code or 0
            else:
                print(exit_request.code, file=sys.stderr)
                code = 1
        except KeyboardInterrupt:
            traceback.print_exc()
            code = 128 + signal.SIGINT
        except BaseException:  # noqa: BLE001 - printed as the interpreter would, then a non-zero exit
            traceback.print_exc()
            code = 1
        import atexit

        atexit._run_exitfuncs()  # what interpreter shutdown would run (the job's own and its libraries')
    except BaseException:  # noqa: BLE001 - a failure to set the child up must not return into the server
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001, S110 - nothing left to report to
                pass
        os._exit(code)


def reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        send({"pid": pid, "exit": os.waitstatus_to_exitcode(status)})


def main(modules: list[str]) -> None:
    global PROTOCOL_FD
    PROTOCOL_FD = os.dup(1)
    os.dup2(2, 1)
    started = time.perf_counter()
    failed = {}
    for name in modules:
        module, _, attribute = name.partition(":")
        try:
            loaded = importlib.import_module(module)
            for part in filter(None, attribute.split(",")):
                getattr(loaded, part)  # lazy packages (transformers, trl) import on attribute access
        except Exception as error:  # noqa: BLE001 - a job that needs it will fail the same way, with its own log
            failed[name] = f"{type(error).__name__}: {error}"
    gc.collect()
    gc.freeze()  # keep the imported objects out of later collections: children share those pages
    send({"ready": True, "seconds": round(time.perf_counter() - started, 2), "failed": failed})
    pending = b""
    while True:
        readable, _, _ = select.select([0], [], [], 0.2)
        reap()
        if not readable:
            continue
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                run_child(request)
            send({"id": request["id"], "pid": pid})


if __name__ == "__main__":
    main(sys.argv[1:])
