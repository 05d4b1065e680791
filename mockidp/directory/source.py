"""Where the protocol code gets the directory from: the live one (directory/live.py) or a fixed one."""

from __future__ import annotations

from typing import Protocol

from mockidp.directory.snapshot import Directory


class DirectorySource(Protocol):
    def current(self) -> Directory: ...


class FixedDirectory:
    """A directory that never changes (command-line tools, embedding code)."""

    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    def current(self) -> Directory:
        return self._directory
