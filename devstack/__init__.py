"""Local development stack: emulators and stand-ins for Google Cloud services."""
