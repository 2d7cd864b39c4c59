"""The installed version of levier (a leaf, so that any layer may record it)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("levier")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
