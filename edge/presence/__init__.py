"""Presence: adverts in, visits out (decode → track), plus the radio adapters."""
