"""The package list, found rather than written: every package under edgead/, train/ and export/.

``pyproject.toml`` holds everything else. The folders train/ and export/ install as ``edgead.train`` and
``edgead.export`` (``package-dir`` there), which ``[tool.setuptools.packages.find]`` cannot express, so
the list is made here: a new model folder under train/models/ is in the wheel with no edit anywhere.
"""

from setuptools import find_packages, setup

ROOTS = {"edgead": "edgead", "edgead.train": "train", "edgead.export": "export"}

setup(
    packages=[
        name
        for package, folder in ROOTS.items()
        for name in (package, *(f"{package}.{sub}" for sub in find_packages(folder)))
    ]
)
