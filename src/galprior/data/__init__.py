"""Data sets: COSMOS and simulated galaxy sets, BTK/DES blends, PROBES galaxies (stores: ``galprior.store``)."""
