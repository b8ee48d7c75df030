"""Column types the seed uses that Django has no field for."""

from __future__ import annotations

from django.db import models


class FixedCharField(models.CharField):
    """``CHAR(n)`` (the seed's ``gender CHAR(1)``), not ``VARCHAR(n)``."""

    def db_type(self, connection) -> str:
        return f"char({self.max_length})"
