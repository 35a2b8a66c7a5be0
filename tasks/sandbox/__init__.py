"""Capped subprocesses (layer 1): the conversion child and its pool, and LibreOffice."""
