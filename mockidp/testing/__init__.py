"""Helpers for testing against mockidp, the seed of its pytest plugin.

    entra   assert_entra_error: the one check of Entra's JSON error envelope
    jwts    claims_of / header_of (no verification), verify (against mockidp's JWKS)
    forms   token-endpoint forms (client credentials, password, code, refresh, device code, OBO),
            PKCE pairs and client assertions

Production code never imports this package (tests/test_layers.py); it needs the `testing` extra.
"""
