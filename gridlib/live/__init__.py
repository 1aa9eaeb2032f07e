"""Live operations: protocol codecs for GPS terminals (JT/T 808, OsmAnd) and the fixes they carry."""
