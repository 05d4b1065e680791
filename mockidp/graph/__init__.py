"""Microsoft Graph for the directory (issue 9): framework-free resources, queries and errors."""
