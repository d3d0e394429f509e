"""Yield of the simulated galaxy source: galaxies drawn per second by one process, and the
fraction of them each product keeps (the Chianese cuts drop small and low-S/N stamps).

These two numbers are the model behind the start-up check of split sizes
(``galprior.config.SIMULATED_YIELD``, :func:`galprior.config.check_simulated_yield`):
rerun this after changing the simulated source or a product's cuts, and copy its last
line into that constant.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_simulated_yield.py --batches 20
"""

from __future__ import annotations

import argparse
import json
import math
import time

from galprior.config import schema_defaults
from galprior.data.galaxies import PRODUCTS, SOURCES, merge_options


def measure(product: str, n_batches: int, seed: int) -> dict:
    """Draw ``n_batches`` batches of the default simulated source in one process and run
    them through ``product`` with its default options (the schema's)."""
    defaults = schema_defaults()["galaxies"]
    source = SOURCES["simulated"]
    options = merge_options("source", "simulated", source.defaults,
                            {**defaults["simulated"], "workers": 1})
    prod = PRODUCTS[product]
    prod_options = merge_options("product", product, prod.defaults, defaults[product])
    batches = source.batches(options, stamp_size=prod.stamp_size(prod_options),
                             psf_size=prod.native_psf_size(prod_options), seed=seed)
    drawn = kept = 0
    started = time.process_time()
    for _, batch in zip(range(n_batches), batches):
        out, _ = prod.process(batch, **prod_options)
        drawn += len(batch)
        kept += len(out)
    cpu = time.process_time() - started
    return {"drawn": drawn, "kept": kept, "cpu_s": round(cpu, 1),
            "draws_per_cpu_second": round(drawn / cpu, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=20, help="batches of the default size per product")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    result = {product: measure(product, args.batches, args.seed) for product in PRODUCTS}
    for product, numbers in result.items():
        p = numbers["kept"] / numbers["drawn"]
        error = math.sqrt(p * (1 - p) / numbers["drawn"])
        print(f"{product}: {numbers['drawn']} drawn, {numbers['kept']} kept "
              f"({p:.3f} +- {error:.3f}), {numbers['draws_per_cpu_second']} draws per CPU second")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
