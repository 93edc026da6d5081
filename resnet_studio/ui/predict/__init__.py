"""The Predict tab (tab.PredictTab), by job.

- tab.py: the tab itself: layout, public API, adding photos, the prediction queue, status.
- model_picker.py: which model classifies, opening another, ImageNet's as the fallback.
- results.py: one entry per photo, the list model, the result cards, the empty state.
- heatmaps.py: Grad-CAM over the thumbnails and the selected photo large (cam_view.py).
- jobs.py: what runs on worker threads: load a model, predict photos, Grad-CAM thumbnails.
- bars.py: the top-k probability bars.
"""
