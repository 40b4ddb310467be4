"""What the CLI shows on the terminal: quiet by default, full logs in a file, progress only on a terminal."""
