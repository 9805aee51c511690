"""Task suites of the tool-use family: generated world tasks and the BFCL v4 loader."""
