"""Microsoft Graph at the edge: the request (call.py) and one module of handlers per family of resources."""
