"""Who exists: the YAML seed (schema, validation, loading), its SQLModel tables and the read-only
directory snapshot the protocol code reads. The only package that imports YAML and SQLModel.
"""
