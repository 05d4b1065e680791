"""HTTP <-> protocol translation. FastAPI and Starlette are imported here (and in app.py) only."""
