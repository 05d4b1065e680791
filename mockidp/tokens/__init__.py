"""What a token says (pure claims), the signing key and the one signer. The only package that
imports joserfc. Imports neither directory/ nor FastAPI.
"""
