"""cnnviz-gui: the desktop app (PySide6) for browsing a CNN layer by layer.
It uses only cnnviz's public API; all computation runs off the GUI thread."""
