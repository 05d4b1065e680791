"""The pages a person sees (Jinja2, autoescaped, no external assets). Presentation only: no protocol
decisions are made here."""
