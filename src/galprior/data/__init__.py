"""Galaxy data: COSMOS and simulated galaxy sets, and the Zarr stores of every intermediate."""
