"""API Management in front of mockidp: policy documents and the policies that run on them (docs/apim.md)."""
