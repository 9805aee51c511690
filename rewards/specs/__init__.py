"""Built-in reward specs (YAML data files)."""
