"""The Train room: the Train tab (tab.py) and its parts (series, plots, progress, log)."""
