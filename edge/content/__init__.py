"""Content: slides, the fallback playlist, and what plays when (pure)."""
