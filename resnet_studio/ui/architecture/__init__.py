"""The Architecture tab: the ResNet block diagram (import `ArchitectureView` from `.view`).

- view.py: the tab's widget (toolbar, legend, details, export) and its public API.
- diagram.py: the zoomable canvas and the state its items paint from; layout.py lays
  a description out on it; block.py and items.py are the things drawn.
- legend.py, details.py: the key over the diagram and the panel beside it.
- style.py, labels.py, tint.py: colours and painting helpers, words, block statistics.

Nothing is imported here, so that importing the package does not load Qt.
"""

__all__: list[str] = []
