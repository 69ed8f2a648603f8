"""The pygame renderer: slide layouts, QR codes, the display adapter and screenshots."""
