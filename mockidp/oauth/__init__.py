"""The protocol and Entra's rules, framework-free: directory records in, an Authorization out.
Raises AadstsError; never builds HTTP responses. Imports neither FastAPI nor SQLModel.
"""
