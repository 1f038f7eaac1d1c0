"""catsplit scale-out: the same bundles on Ray (batch jobs, Serve) and on Triton Inference Server.

Thin adapters over the bundle format and `Runtime`; installed by the `scale` extra and never imported
by the runtime (a device that only sends tensors to a Triton server needs `catsplit[triton-client]`
for `catsplit-run --triton`). Modules: `ray_batch` (Ray Data job), `ray_serve` (Serve deployment),
`triton_repo` (model repository writer), `triton_client` (the device side), `triton_server` (a local
server for tests and benchmarks).
"""
