"""Start the studio: QApplication, style, icon, the main window, the event loop.

`run()` is the GUI entry point (`python main.py`, `resnet-studio` with no arguments,
the `resnet-studio-gui` script). It first checks, without Qt, that the window can open
(platform_check.py: the X11 libraries Qt needs, a display): if not, one line on stderr
and exit status 2, instead of Qt's abort. torch is not imported before the window is
shown: the main window loads it in the background.

RESNET_STUDIO_EXIT_AFTER_SHOW=1 prints how long the window took to appear (from the
start of the process) and quits: a start-up smoke test.
"""

from __future__ import annotations

import os
import signal
import sys
import time

__all__ = ["run", "create_application", "install_signal_handlers", "seconds_since_process_start"]

_IMPORTED_AT = time.monotonic()


def seconds_since_process_start() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere: since this module loaded)."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic() - _IMPORTED_AT


def create_application(argv: list[str] | None = None):
    """The QApplication, set up as the studio wants it (or the existing one)."""
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    from resnet_studio import __version__
    from resnet_studio.resources import APP_ICON, STYLE_SHEET, resource_path

    from .main_window import APPLICATION, ORGANIZATION

    app = QApplication.instance()
    if app is None:
        app = QApplication(list(sys.argv if argv is None else argv))
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    QGuiApplication.setDesktopFileName("resnet-studio")
    from .worker import UiThreadGarbageCollector

    UiThreadGarbageCollector.install()  # Qt objects must only ever be freed on this thread
    app.setStyle("Fusion")
    app.setWindowIcon(QIcon(resource_path(APP_ICON)))
    try:
        with open(resource_path(STYLE_SHEET), encoding="utf-8") as f:
            app.setStyleSheet(f.read())
    except OSError:
        pass
    return app


def run(argv: list[str] | None = None) -> int:
    """Open ResNet Studio and run until its window closes; returns the exit status (2, with
    one line on stderr, when the window cannot open on this machine)."""
    from . import platform_check

    reason = platform_check.problem(argv=sys.argv if argv is None else argv)
    if reason:
        print(f"resnet-studio: error: {reason}", file=sys.stderr, flush=True)
        return 2
    from PySide6.QtCore import QTimer

    app = create_application(argv)

    from .main_window import MainWindow

    window = MainWindow()
    window.show()
    # files and folders given on the command line (the desktop file's %F, or "Open with"):
    # a folder becomes the dataset, images go to the Predict tab, as when dropped
    args = app.arguments() if argv is None else list(argv)  # Qt's own options already taken out
    paths = [a for a in args[1:] if os.path.exists(a)]
    if paths:
        QTimer.singleShot(0, lambda: window.open_paths(paths))

    if os.environ.get("RESNET_STUDIO_EXIT_AFTER_SHOW"):

        def report() -> None:
            app.processEvents()
            print(f"window shown after {seconds_since_process_start():.2f} s", flush=True)
            window.close()

        QTimer.singleShot(0, report)

    heartbeat = install_signal_handlers(app, window)
    app.aboutToQuit.connect(window.shutdown)
    code = app.exec()
    heartbeat.stop()
    window.shutdown()
    return int(code)


def install_signal_handlers(app, window):
    """Ctrl+C in the terminal closes the window like Ctrl+Q (asking first mid-run).
    SIGTERM (a logout, a shutdown, `kill`) and SIGHUP (the terminal went away) do not ask:
    a run in progress stops at its next step and keeps its checkpoint, then the studio
    quits. A signal the studio was started with ignored (`nohup`, a background job) stays
    ignored. Returns the timer that lets Python run the handlers while Qt's loop waits."""
    from PySide6.QtCore import QTimer

    def terminate(*_) -> None:
        window.shutdown()  # stops and joins the run; closing no longer asks
        window.close()
        app.quit()

    handlers = {signal.SIGINT: lambda *_: window.close(), signal.SIGTERM: terminate}
    if hasattr(signal, "SIGHUP"):  # not on Windows
        handlers[signal.SIGHUP] = terminate
    for sig, handler in handlers.items():
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, handler)
    heartbeat = QTimer(window)
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(250)
    return heartbeat
