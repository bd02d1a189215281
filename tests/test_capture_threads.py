"""Capturing an asset's output never crashes a process in which other threads print.

CPython's ``print()`` holds ``sys.stdout`` as a borrowed reference across its
writes (python/cpython#130163). When the last running task ended, the capture
put the real stream back and freed its proxy, so a thread in the middle of a
``print()`` wrote through freed memory: SIGSEGV in ``_Tee.write``. The crashes
are checked in fresh processes (a crash would take pytest down with it); each
of the scripts below crashed every time before the fix.

Beside it, the other crash of threads and polars: polars is not fork-safe (a
child forked after polars' threads ran can hang), so the processes executor
never forks the driver, whatever start method the program set.
"""

from __future__ import annotations

import gc
import os
import pathlib
import subprocess
import sys
import textwrap
import weakref

from assetry.engine.capture import capture

# A print() whose second argument ends the capture that was running when it started:
# the proxy print() holds must still be alive for the writes that follow.
ENDS_INSIDE_PRINT = """
    from assetry.engine.capture import capture

    for _ in range(200):
        block = capture()
        block.__enter__()

        class Ender:
            def __str__(self):
                block.__exit__(None, None, None)
                junk = [object() for _ in range(100)]  # reuses freed memory at once
                return "ender"

        print("before", Ender(), "after")
    print("survived")
"""

# One thread prints without a task; two others run tiny captures, back to back.
PRINTS_WHILE_CAPTURES_END = """
    import sys
    import threading

    from assetry.engine.capture import capture

    stop = threading.Event()

    def chatter():
        while not stop.is_set():
            print("outside", "a", "task")

    def tasks():
        for _ in range(5000):
            with capture():
                print("inside a task")

    chatty = threading.Thread(target=chatter)
    chatty.start()
    workers = [threading.Thread(target=tasks) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    chatty.join()
    print("survived", file=sys.stderr)
"""

# The reported case: a chain of polars assets (each reads its upstream with read_parquet)
# under the threads executor, while a thread of the program prints.
CHAIN_WITH_A_PRINTING_THREAD = """
    import sys
    import threading

    import polars as pl
    from assetry import asset, materialize

    @asset
    def c0() -> pl.DataFrame:
        print("c0")
        return pl.DataFrame({"x": list(range(1000))})
""" + "".join(f"""
    @asset
    def c{i}(c{i - 1}: pl.DataFrame) -> pl.DataFrame:
        print("c{i} got", c{i - 1}.height)
        return c{i - 1}.with_columns(pl.col("x") + 1)
""" for i in range(1, 20)) + """

    stop = threading.Event()

    def chatter():
        n = 0
        while not stop.is_set():
            n += 1
            print("outside", n, "x")

    if __name__ == "__main__":
        chatty = threading.Thread(target=chatter)
        chatty.start()
        try:
            for _ in range(2):
                result = materialize(sys.modules[__name__], root=sys.argv[1], executor="threads",
                                     max_workers=4, force=True)
                assert len(result.materialized) == 20, result.materialized
        finally:
            stop.set()
            chatty.join()
        print("survived", file=sys.stderr)
"""

# The program asks for fork, and polars' thread pool has run in the driver: the worker must
# still come from a fresh process (no module the driver imported), and the run must end.
PROCESSES_AFTER_POLARS_RAN = """
    import multiprocessing
    import sys
    import types

    import polars as pl
    from assetry import asset, materialize

    @asset
    def fresh() -> pl.DataFrame:
        import sys
        assert "driver_only_marker" not in sys.modules, "the worker was forked from the driver"
        return pl.DataFrame({"x": range(100_000)}).group_by(pl.col("x") % 7).agg(pl.len())

    if __name__ == "__main__":
        multiprocessing.set_start_method("fork", force=True)
        sys.modules["driver_only_marker"] = types.ModuleType("driver_only_marker")
        pl.DataFrame({"x": range(1_000_000)}).group_by(pl.col("x") % 7).agg(pl.len())
        result = materialize([fresh], root=sys.argv[1], executor="processes", max_workers=1)
        assert result.materialized == ["fresh"], result
        print("survived", file=sys.stderr)
"""


def _run(tmp_path: pathlib.Path, source: str, runs: int) -> None:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    for n in range(runs):
        proc = subprocess.run(
            [sys.executable, "-X", "faulthandler", str(script), str(tmp_path / f"data{n}")],
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=180,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        )
        said = f"run {n + 1} of {runs}: {proc.returncode} (-11: SIGSEGV)\n{proc.stderr[-4000:]}"
        assert proc.returncode == 0, said
        assert "survived" in proc.stderr


def test_the_proxy_print_holds_outlives_its_capture(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(ENDS_INSIDE_PRINT))
    proc = subprocess.run([sys.executable, "-X", "faulthandler", str(script)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"ended with {proc.returncode} (-11: SIGSEGV)\n{proc.stderr}"
    assert proc.stdout.count("before ender after\n") == 200
    assert proc.stdout.endswith("survived\n")


def test_printing_while_captures_end_in_other_threads(tmp_path: pathlib.Path) -> None:
    _run(tmp_path, PRINTS_WHILE_CAPTURES_END, runs=4)


def test_threads_run_beside_a_printing_thread(tmp_path: pathlib.Path) -> None:
    _run(tmp_path, CHAIN_WITH_A_PRINTING_THREAD, runs=2)


def test_processes_never_fork_a_driver_where_polars_ran(tmp_path: pathlib.Path) -> None:
    _run(tmp_path, PROCESSES_AFTER_POLARS_RAN, runs=1)


def test_the_stream_is_put_back_and_the_proxy_kept_for_the_next_capture() -> None:
    original = sys.stdout
    with capture() as buf:
        proxy = sys.stdout
        print("captured")
    assert proxy is not original
    assert sys.stdout is original
    alive = weakref.ref(proxy)
    del proxy
    gc.collect()
    assert alive() is not None  # a print() still inside it could write through it
    with capture():
        assert sys.stdout is alive()  # one proxy per stream: the store does not grow per task
    assert sys.stdout is original
    assert buf.text() == "captured\n"
