"""The build step of the wheel; everything else is declared in pyproject.toml.

The repository keeps templates/, static/, translations/, migrations/ and data/ at its top.
The wheel carries them inside the geo package as geo/_files/<same path>, where
geo.resources.resource() looks first, and compiles the message catalogues (the .mo files are
built from the .po files, never kept in git).
"""
import shutil
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ["templates", "static", "translations", "migrations", "data/boundaries/registry.json",
           "data/boundaries/upstream",
           "data/common_passwords.txt", "data/common_passwords.LICENSE"]


class BuildWithFiles(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads them from the source tree
            return
        files = Path(self.build_lib, "geo", "_files")
        for name in SHIPPED:
            target = files / name
            if Path(name).is_dir():
                shutil.copytree(name, target, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(name, target)
        for po in files.glob("translations/*/LC_MESSAGES/*.po"):
            with po.open("rb") as f:
                catalog = read_po(f)
            with po.with_suffix(".mo").open("wb") as f:
                write_mo(f, catalog)


setup(cmdclass={"build_py": BuildWithFiles})
