"""Optional extras that need more than the SDK's own dependencies (e.g. `tidal[encryption]`)."""
