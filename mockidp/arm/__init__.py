"""Azure Resource Manager's API for what Graph has no word for (issue 10): the federated identity credentials
of user-assigned managed identities. Framework-free; the web edge is mockidp/web/routes/arm.py."""
