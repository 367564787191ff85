"""edgead's torch-free runtime: run an exported anomaly-detection graph on frames, files and streams."""

__version__ = "0.1.0"
