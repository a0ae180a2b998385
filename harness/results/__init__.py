"""The results tier: the store (`store`), run listing and baselines (`query`), cell
identity (`identity`) and the loaded DataFrame with its declared columns (`frame`).

Nothing here imports pandas at import time except `frame`."""
