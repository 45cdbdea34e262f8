"""Command-line plumbing shared by the entry points (run directories, resume)."""
