"""edgead: train visual anomaly detectors on good images, export one self-contained graph, run it at the edge."""

__version__ = "0.1.0"
