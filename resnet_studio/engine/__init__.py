"""The engine: everything that is not drawing. It never imports Qt.

Import the submodules you need (`resnet_studio.engine.train`, `.predict`, ...);
this package itself imports nothing heavy.
"""
