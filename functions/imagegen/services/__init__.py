"""The use cases — submit, generate, dead_letter, sweep, on_upload — written against the
adapters in `Services`, so every entry point shares one code path per operation."""
