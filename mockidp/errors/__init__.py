"""The AADSTS catalogue (data) and the one exception type that carries an entry.

Framework-free: nothing here imports FastAPI, SQLModel or joserfc.
"""

from mockidp.errors import catalogue
from mockidp.errors.exceptions import AadstsError, ErrorContext, render_envelope

__all__ = ["AadstsError", "ErrorContext", "catalogue", "render_envelope"]
