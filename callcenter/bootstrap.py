"""The composition root: the one place that turns settings into wired components."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine

from callcenter.db.directory_repo import SqlDirectory
from callcenter.db.engine import make_engine, migrate
from callcenter.settings import Settings


@dataclass
class Container:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def directory(self) -> SqlDirectory:
        return SqlDirectory(self.engine, self.settings.directory.phone_policy())

    def init_db(self) -> None:
        migrate(self.settings.database_url)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def build(settings: Settings) -> Container:
    return Container(settings)
