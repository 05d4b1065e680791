"""mockidp: an offline stand-in for the Microsoft identity platform (Entra ID)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
