"""Model sources: where a model's artifact comes from and how it is verified."""
