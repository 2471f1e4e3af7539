"""One thin click command per CLI verb; the logic lives in the library."""
