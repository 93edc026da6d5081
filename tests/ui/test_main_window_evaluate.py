"""The window's Evaluate tab, Export action and History's Compare, wired together."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import Qt

from resnet_studio.engine import runs
from resnet_studio.engine.train import Trainer
from resnet_studio.ui.history.compare import CompareDialog
from resnet_studio.ui.history.export_dialog import ExportDialog
from resnet_studio.ui.main_window import TAB_NAMES, MainWindow

WAIT_MS = 120_000


def test_evaluate_tab_follows_the_opened_run_export_and_compare(qtbot, tiny_config):
    finished = Trainer(tiny_config()).run()
    assert finished.status == "completed"
    run = Path(finished.run_dir)
    twin = run.with_name(run.name + "-copy")  # a second run to compare with
    shutil.copytree(run, twin)

    win = MainWindow(deferred=False)
    qtbot.addWidget(win)
    win.predict_tab.set_imagenet_fallback_enabled(False)
    win.resize(1200, 800)
    win.show()
    assert TAB_NAMES[4] == "Evaluate" and win.tabs.widget(4) is win.evaluate_tab
    assert win.evaluate_tab.run_dir() is None and win.evaluate_tab.evaluation is None

    # open a run from History: the Evaluate tab follows it, and evaluates once shown
    win.runs_panel.refresh()
    assert win.runs_panel.select_run(str(run))
    qtbot.mouseClick(win.runs_panel.open_button, Qt.MouseButton.LeftButton)
    assert win.evaluate_tab.run_dir() == str(run)
    win.tabs.setCurrentWidget(win.evaluate_tab)
    qtbot.waitUntil(lambda: win.evaluate_tab.evaluation is not None, timeout=WAIT_MS)
    assert win.evaluate_tab.evaluation.num_images == runs.read_json(run / runs.SUMMARY)["num_val"]
    qtbot.waitUntil(lambda: not win.evaluate_tab.is_busy() and not win.evaluate_tab.cam_view.is_busy(), timeout=WAIT_MS)

    # File > Export Model… exports the current run's model
    win.export_action.trigger()
    dialogs = [d for d in win._dialogs if isinstance(d, ExportDialog)]
    assert len(dialogs) == 1 and dialogs[0].model_path == str(run) and dialogs[0].isVisible()
    dialogs[0].close()

    # History: two runs selected -> Compare
    win.tabs.setCurrentWidget(win.runs_panel)
    win.runs_panel.select_runs([str(run), str(twin)])
    assert not win.runs_panel.open_button.isEnabled() and win.runs_panel.compare_button.isEnabled()
    qtbot.mouseClick(win.runs_panel.compare_button, Qt.MouseButton.LeftButton)
    compares = [d for d in win._dialogs if isinstance(d, CompareDialog)]
    assert len(compares) == 1 and compares[0].view.table.columnCount() == 2
    assert len(compares[0].view.acc_plot.getPlotItem().listDataItems()) == 2
    # one run selected: Export… from History
    win.runs_panel.select_runs([str(twin)])
    assert win.runs_panel.export_button.isEnabled() and not win.runs_panel.compare_button.isEnabled()
    qtbot.mouseClick(win.runs_panel.export_button, Qt.MouseButton.LeftButton)
    assert [d.model_path for d in win._dialogs if isinstance(d, ExportDialog) and d.isVisible()] == [str(twin)]
    win.close()
